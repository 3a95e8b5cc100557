// `deno task bench --suite convergence`: does our training reach what PyTorch reaches?
// Our `train()` runs the CLI's default recipe for the tiny config (the same options as
// `deno task train --dataset D`), then bench/peers/torch_train.py trains the same network
// on the same prepared data with the recipe our run recorded in its start event (so
// the two cannot drift apart), on the CPU. Both runs' validation top-1 error per epoch
// goes into one table, one chart and a JSON report; the final errors must agree within
// 1.5 points. The two runs draw from different random streams (seeds stated in the
// report), so agreement is statistical, not step-for-step.
//
// Sizes: --quick trains on the built-in synthetic set (about 4 minutes); the full suite
// on Fashion-MNIST (about 45 minutes on 2 cores). `--ours DIR` reuses a finished run of
// ours (DIR/metrics.jsonl, e.g. out/fashion from `deno task train --dataset fashion-mnist
// --out out/fashion`) instead of training again; the peer gets that run's recipe.

import { dirname } from "node:path";
import { openDataset } from "../data/dataset.ts";
import { configFor } from "../model/config.ts";
import { TRAIN_DEFAULTS } from "../model/cli_train.ts";
import { recipeFor, type RunRecipe, train } from "../model/train.ts";
import { niceTicks } from "../viz/curves.ts";
import { renderChartPng } from "./_chart.ts";

/** The agreement the suite asks for: final top-1 errors within this many points. */
export const AGREEMENT_POINTS = 1.5;

/** One evaluation of one run. */
export interface ConvergencePoint {
  /** Completed epochs. */
  epoch: number;
  /** Validation top-1 error (fraction). */
  top1Error: number;
  /** Validation top-5 error (fraction). */
  top5Error: number;
  /** Seconds of training since the start (evaluations included). */
  seconds: number;
}

/** What `--suite convergence` writes as JSON. */
export interface ConvergenceReport {
  /** Report format. */
  schema: "alexnet-webgpu/convergence@1";
  /** ISO time of the run. */
  date: string;
  /** The dataset trained on. */
  dataset: string;
  /** The recipe both sides ran (ours as recorded in its metrics log). */
  recipe: RunRecipe;
  /** Our run: where its log is, whether this suite trained it or reused it. */
  ours: { run: string; reused: boolean; seed: number; points: ConvergencePoint[] };
  /** The PyTorch run, or why there is none. */
  torch: { seed: number; threads: number; version: string; points: ConvergencePoint[] } | {
    error: string;
  };
  /** |ours - PyTorch| final top-1 error in percentage points (null without a peer). */
  gapPoints: number | null;
  /** Whether the gap is within {@link AGREEMENT_POINTS}. */
  agree: boolean | null;
}

/** Options of {@link runConvergence}. */
export interface ConvergenceOptions {
  /** Synthetic set instead of Fashion-MNIST. */
  quick: boolean;
  /** A finished run of ours to reuse (a folder with metrics.jsonl). */
  ours?: string;
  /** Seed of the PyTorch run (default 1; ours uses the CLI default, 1). */
  torchSeed?: number;
  /** Where our run (when trained here) and the chart go. */
  outDir: string;
  /** Progress lines. */
  log: (line: string) => void;
}

/** Evaluations and the recipe from a metrics log written by `train()`. */
export function readRun(text: string, file: string): {
  recipe: RunRecipe;
  points: ConvergencePoint[];
} {
  let recipe: RunRecipe | undefined;
  let t0 = 0;
  const points: ConvergencePoint[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
    if (e.type === "start") {
      if (recipe) throw new Error(`${file}: more than one run in the log (resumed?)`);
      if (!e.recipe) throw new Error(`${file}: the start event records no recipe`);
      recipe = e.recipe;
      t0 = e.time;
    } else if (e.type === "evaluation") {
      points.push({
        epoch: e.epoch + 1,
        top1Error: e.top1Error,
        top5Error: e.top5Error,
        seconds: (e.time - t0) / 1000,
      });
    }
  }
  if (!recipe) throw new Error(`${file}: no start event (not a metrics log of train())`);
  if (points.length === 0) throw new Error(`${file}: no evaluation`);
  return { recipe, points };
}

/** The PyTorch peer's JSON lines (bench/peers/torch_train.py). */
export function parseTorchLines(text: string): ConvergencePoint[] {
  return text.split("\n").filter((l) => l.trim().startsWith("{")).map((l) => {
    const e = JSON.parse(l);
    return {
      epoch: e.epoch,
      top1Error: e.top1Error,
      top5Error: e.top5Error,
      seconds: e.seconds,
    };
  });
}

async function runTorch(
  recipe: RunRecipe,
  dataDir: string,
  seed: number,
  log: (line: string) => void,
): Promise<{ points: ConvergencePoint[]; version: string; threads: number }> {
  const threads = navigator.hardwareConcurrency || 1;
  const python = "/usr/bin/python3";
  const version = await new Deno.Command(python, {
    args: ["-c", "import torch; print(torch.__version__)"],
    stdout: "piped",
    stderr: "piped",
  }).output().then(
    (o) => o.success ? new TextDecoder().decode(o.stdout).trim() : null,
    () => null,
  );
  if (!version) throw new Error(`PyTorch not found for ${python} (apt install python3-torch)`);
  const child = new Deno.Command(python, {
    args: [
      `${import.meta.dirname}/peers/torch_train.py`,
      "--data",
      dataDir,
      "--seed",
      `${seed}`,
      "--threads",
      `${threads}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const { config, ...rest } = recipe;
  await writer.write(new TextEncoder().encode(JSON.stringify({ config, recipe: rest })));
  await writer.close();
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    const part = decoder.decode(chunk, { stream: true });
    text += part;
    for (const p of parseTorchLines(part)) {
      log(`  pytorch epoch ${p.epoch}: top-1 error ${(100 * p.top1Error).toFixed(2)}%`);
    }
  }
  const stderr = new TextDecoder().decode(
    new Uint8Array(await new Response(child.stderr).arrayBuffer()),
  );
  const status = await child.status;
  if (!status.success) {
    throw new Error(`torch_train.py exited with ${status.code}: ${stderr.trim().slice(-400)}`);
  }
  return { points: parseTorchLines(text), version, threads };
}

/**
 * Runs the suite: our run (trained, or read from `ours`), then PyTorch with its recipe.
 *
 * @example
 * ```ts ignore
 * const r = await runConvergence({ quick: true, outDir: "out/bench", log: console.error });
 * console.log(r.gapPoints, r.agree);
 * ```
 */
export async function runConvergence(o: ConvergenceOptions): Promise<ConvergenceReport> {
  const kind = o.quick ? "synthetic" : "fashion-mnist";
  const base = configFor(TRAIN_DEFAULTS.config);
  const dataset = await openDataset({ kind, size: base.storedSize });
  let run = o.ours;
  if (!run) {
    run = `${o.outDir}/convergence-${kind}`;
    await Deno.remove(`${run}/metrics.jsonl`).catch(() => {});
    const recipe = recipeFor(TRAIN_DEFAULTS.config);
    o.log(`training ours: ${TRAIN_DEFAULTS.config} on ${kind}, the CLI's default recipe`);
    await train({
      dataset,
      config: configFor(TRAIN_DEFAULTS.config, dataset.classes.length),
      columns: TRAIN_DEFAULTS.columns,
      epochs: TRAIN_DEFAULTS.epochs,
      batch: TRAIN_DEFAULTS.batch,
      schedule: TRAIN_DEFAULTS.schedule,
      stepEpochs: TRAIN_DEFAULTS.stepEpochs,
      seed: TRAIN_DEFAULTS.seed,
      evalEvery: 1,
      out: run,
      ...recipe,
      onEvent: (e) => {
        if (e.type === "evaluation") {
          o.log(`  ours epoch ${e.epoch + 1}: top-1 error ${(100 * e.top1Error).toFixed(2)}%`);
        }
      },
    });
  }
  const ours = readRun(await Deno.readTextFile(`${run}/metrics.jsonl`), `${run}/metrics.jsonl`);
  if (ours.recipe.dataset.fingerprint !== dataset.fingerprint) {
    throw new Error(
      `${run}: trained on ${ours.recipe.dataset.name} (${ours.recipe.dataset.fingerprint}), ` +
        `expected ${dataset.name} (${dataset.fingerprint})`,
    );
  }
  const torchSeed = o.torchSeed ?? 1;
  let torch: ConvergenceReport["torch"];
  try {
    o.log(`training PyTorch (seed ${torchSeed}) with the same recipe on ${dataset.train.dir}`);
    const t = await runTorch(ours.recipe, dataset.train.dir, torchSeed, o.log);
    torch = { seed: torchSeed, threads: t.threads, version: t.version, points: t.points };
  } catch (e) {
    torch = { error: e instanceof Error ? e.message : String(e) };
  }
  const last = ours.points.at(-1)!, theirs = "points" in torch ? torch.points.at(-1) : undefined;
  const gapPoints = theirs ? Math.abs(last.top1Error - theirs.top1Error) * 100 : null;
  return {
    schema: "alexnet-webgpu/convergence@1",
    date: new Date().toISOString(),
    dataset: dataset.name,
    recipe: ours.recipe,
    ours: { run, reused: o.ours !== undefined, seed: ours.recipe.seed, points: ours.points },
    torch,
    gapPoints,
    agree: gapPoints === null ? null : gapPoints <= AGREEMENT_POINTS,
  };
}

const pct = (v: number | undefined) => v === undefined ? "—" : `${(100 * v).toFixed(2)}%`;

/** The per-epoch table and the verdict line. */
export function formatConvergence(r: ConvergenceReport): string {
  const theirs = "points" in r.torch ? r.torch.points : [];
  const epochs = [...new Set([...r.ours.points, ...theirs].map((p) => p.epoch))]
    .sort((a, b) => a - b);
  const rows = [["epoch", "ours top-1", "PyTorch top-1", "ours s", "PyTorch s"]];
  for (const e of epochs) {
    const a = r.ours.points.find((p) => p.epoch === e), b = theirs.find((p) => p.epoch === e);
    rows.push([
      `${e}`,
      pct(a?.top1Error),
      pct(b?.top1Error),
      a ? a.seconds.toFixed(0) : "—",
      b ? b.seconds.toFixed(0) : "—",
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const table = rows.map((row) => row.map((v, c) => v.padStart(widths[c])).join("  "))
    .join("\n");
  const verdict = "error" in r.torch
    ? `no PyTorch run: ${r.torch.error}`
    : `final top-1 error: ours ${pct(r.ours.points.at(-1)?.top1Error)} (seed ${r.ours.seed}), ` +
      `PyTorch ${pct(theirs.at(-1)?.top1Error)} (seed ${r.torch.seed}, ${r.torch.threads} ` +
      `threads): ${r.gapPoints!.toFixed(2)} points apart, ` +
      (r.agree ? `within ${AGREEMENT_POINTS}` : `MORE than ${AGREEMENT_POINTS}`);
  return `${table}\n${verdict}`;
}

/** Both runs' validation top-1 error against epochs, as an SVG line chart. */
export function convergenceSvg(r: ConvergenceReport, width = 720, height = 400): string {
  const series = [
    { label: "ours (WebGPU)", color: "#1f6fb4", points: r.ours.points },
    ...("points" in r.torch
      ? [{ label: `PyTorch ${r.torch.version} (CPU)`, color: "#e0671b", points: r.torch.points }]
      : []),
  ];
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(...all.map((p) => p.epoch));
  const yMax = Math.max(...all.map((p) => p.top1Error * 100));
  const yTicks = niceTicks(0, yMax, 5), yTop = yTicks.at(-1)!;
  const xTicks = niceTicks(0, xMax, Math.min(10, xMax));
  const L = 60, R = 20, T = 40, B = 50, w = width - L - R, h = height - T - B;
  const px = (x: number) => L + (x / xMax) * w, py = (y: number) => T + h - (y / yTop) * h;
  const text = (x: number, y: number, s: string, extra = "") =>
    `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${s}</text>`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    text(
      L,
      22,
      `Validation top-1 error, tiny config on ${r.dataset}: ours vs PyTorch`,
      'font-size="14"',
    ),
  ];
  for (const t of yTicks) {
    parts.push(`<line x1="${L}" x2="${L + w}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`);
    parts.push(text(L - 6, py(t) + 4, `${t}%`, 'text-anchor="end"'));
  }
  for (const t of xTicks) parts.push(text(px(t), T + h + 18, `${t}`, 'text-anchor="middle"'));
  parts.push(text(L + w / 2, height - 10, "epoch", 'text-anchor="middle"'));
  parts.push(`<rect x="${L}" y="${T}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  series.forEach((s, i) => {
    const pts = s.points.map((p) =>
      `${px(p.epoch).toFixed(1)},${py(p.top1Error * 100).toFixed(1)}`
    );
    parts.push(
      `<polyline data-series="${i === 0 ? "ours" : "torch"}" points="${pts.join(" ")}" ` +
        `fill="none" stroke="${s.color}" stroke-width="2"/>`,
    );
    for (const p of pts) {
      const [x, y] = p.split(",");
      parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${s.color}"/>`);
    }
    const final = s.points.at(-1)!;
    parts.push(
      `<rect x="${L + w - 330}" y="${T + 10 + 20 * i}" width="14" height="3" ` +
        `fill="${s.color}"/>`,
    );
    parts.push(text(
      L + w - 310,
      T + 15 + 20 * i,
      `${s.label}: ${(100 * final.top1Error).toFixed(2)}% at epoch ${final.epoch}`,
    ));
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** Runs the suite from `deno task bench`: table, JSON and chart; false on failure. */
export async function convergenceSuite(
  o: ConvergenceOptions & { json: string; chart: string },
): Promise<boolean> {
  const r = await runConvergence(o);
  console.log(`\nConvergence (${r.dataset}; validation top-1 error, centre crop)`);
  console.log(formatConvergence(r));
  await Deno.mkdir(dirname(o.json), { recursive: true });
  await Deno.writeTextFile(o.json, JSON.stringify(r, null, 2) + "\n");
  console.log(`report: ${o.json}`);
  const svg = convergenceSvg(r);
  await Deno.mkdir(dirname(o.chart), { recursive: true });
  await Deno.writeTextFile(o.chart.replace(/\.png$/i, "") + ".svg", svg);
  await Deno.writeFile(o.chart, await renderChartPng(svg));
  console.log(`chart: ${o.chart}`);
  return r.agree === true;
}
