// `deno task bench --suite browser`: tiny's predict latency and train step in headless
// Chromium (the page of `deno task web`; SwiftShader on a machine without a GPU) next
// to the same procedure in this Deno process (lavapipe), same machine, same run. Both
// sides run web/_timing.ts on the synthetic set; before any time is reported, their
// losses and top-1 probabilities must agree within 1e-4 (the same work was done).
// The page uses the "gpu" kernel profile (see web/app.ts); Deno is timed with its
// default profile for the adapter and with "gpu", so one row compares like kernels.

import { dirname } from "node:path";
import { fetchDataset } from "../data/memory.ts";
import { ensureSynthetic } from "../data/synthetic.ts";
import { openColumns, type Profile } from "../kernels/columns.ts";
import { serveWeb } from "../web/server.ts";
import { launchChromium } from "../web/_chromium.ts";
import type { TinyTimes } from "../web/_timing.ts";
import { timeTiny } from "../web/_timing.ts";

/** One side of the table. */
export interface BrowserBenchSide {
  /** "Deno" or "Chromium". */
  runtime: string;
  /** The adapter's description. */
  adapter: string;
  /** The kernel profile used. */
  profile: Profile;
  /** The raw times. */
  times: TinyTimes;
}

/** The median of `xs` (NaN when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The suite's table: one row per measure, one column per side (medians, ms). */
export function formatBrowserTable(sides: readonly BrowserBenchSide[]): string {
  const head = sides.map((s) => `${s.runtime} ${s.profile}`);
  const rows: [string, (t: TinyTimes) => number][] = [
    ["predict, 1 image (median ms)", (t) => median(t.predictMs)],
    ["train step (median ms)", (t) => median(t.stepMs)],
    ["first step, compiling (ms)", (t) => t.firstStepMs],
  ];
  const w = Math.max(...rows.map(([n]) => n.length));
  const cw = Math.max(14, ...head.map((h) => h.length));
  const lines = [
    `${"".padEnd(w)}  ${head.map((h) => h.padStart(cw)).join("  ")}`,
    ...rows.map(([name, f]) =>
      `${name.padEnd(w)}  ${sides.map((s) => f(s.times).toFixed(1).padStart(cw)).join("  ")}`
    ),
    `${"adapter".padEnd(w)}  ${sides.map((s) => s.adapter.slice(0, cw).padStart(cw)).join("  ")}`,
  ];
  return lines.join("\n");
}

/** Runs the suite; returns whether both sides ran and agreed. */
export async function browserSuite(o: {
  batch: number;
  steps: number;
  predictions: number;
  json: string;
  log: (line: string) => void;
}): Promise<boolean> {
  const data = await ensureSynthetic({ size: 36 });
  const dataset = await fetchDataset(new URL(`file://${Deno.realPathSync(data)}/`));
  const run = { batch: o.batch, steps: o.steps, predictions: o.predictions };
  const sides: BrowserBenchSide[] = [];
  for (const profile of [undefined, "gpu"] as const) {
    const opened = await openColumns({ count: 1, profile });
    try {
      o.log(`browser suite: Deno, ${opened.columns[0].profile} profile ...`);
      const times = await timeTiny({ ...run, dataset, columns: opened.columns });
      const c = opened.columns[0];
      sides.push({ runtime: "Deno", adapter: c.description, profile: c.profile, times });
    } finally {
      opened.destroy();
    }
  }
  const server = await serveWeb({ port: 0, data });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(600_000);
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.origin);
    await page.waitForFunction("window.alexnet !== undefined");
    o.log("browser suite: Chromium, gpu profile (the page's) ...");
    const adapter = (await page.evaluate("window.alexnet.adapters()") as string[])[0];
    const times = await page.evaluate(`window.alexnet.time(${JSON.stringify(run)})`) as TinyTimes;
    if (errors.length) throw new Error(`the page failed: ${errors.join("; ")}`);
    sides.push({ runtime: "Chromium", adapter, profile: "gpu", times });
  } finally {
    await browser.close();
    await server.close();
  }
  const ref = sides[0].times;
  let ok = true;
  for (const s of sides.slice(1)) {
    const dl = Math.max(...s.times.losses.map((l, i) => Math.abs(l - ref.losses[i])));
    const dp = Math.abs(s.times.top1 - ref.top1);
    if (!(dl <= 1e-4 && dp <= 1e-4)) {
      o.log(`browser suite: ${s.runtime} ${s.profile} disagrees with Deno: loss ${dl}, p ${dp}`);
      ok = false;
    }
  }
  console.log(`\nBrowser: tiny, batch ${o.batch}, synthetic 36 px, one column each`);
  console.log(formatBrowserTable(sides));
  await Deno.mkdir(dirname(o.json), { recursive: true });
  await Deno.writeTextFile(o.json, JSON.stringify({ schema: "browser-1", run, sides }, null, 2));
  console.log(`report: ${o.json}`);
  return ok;
}
