// `deno task bench`: per-kernel throughput at the paper's layer shapes next to
// TensorFlow.js's WebGPU backend (--suite kernels, the default), end-to-end train-step
// and epoch times next to TF.js and PyTorch (--suite e2e), data-pipeline throughput
// (--suite data), tiny in headless Chromium next to Deno (--suite browser,
// bench/_browser.ts), or all four; our training's accuracy next to PyTorch's on the same
// data and recipe (--suite convergence, bench/_convergence.ts); --compare OLD.json
// prints what got faster or slower.
// See bench/_args.ts for flags. Exit codes: 0 everything validated and ran; 1 a case,
// case module, peer or figure failed; 2 bad command line.

import { dirname } from "node:path";
import { DataError, reportError } from "../errors.ts";
import { type BenchOptions, parseBenchArgs, USAGE } from "./_args.ts";
import type { BenchReport } from "./_report.ts";
import { formatTable } from "./_report.ts";
import { runBench } from "./_runner.ts";
import type { E2EReport } from "./_e2e_report.ts";
import { compareReports, formatComparison } from "./_compare.ts";
import { preferFastSoftwareCompiles } from "../model/software.ts";

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}

async function kernels(
  o: BenchOptions,
  args: string[],
): Promise<{ report: BenchReport; ok: boolean }> {
  const { report, failed } = await runBench(o, { log: (line) => console.error(line), argv: args });
  console.log(formatTable(report.cases));
  const env = report.environment;
  console.log(
    `\nadapter: ${env.adapter.description} (${env.profile})${env.driver ? `, ${env.driver}` : ""}` +
      `; Deno ${env.deno}; peer: ${
        report.peer
          ? `${report.peer.name} ${report.peer.version}`
          : `none (${report.peerError ?? "--no-peer"})`
      }`,
  );
  const floor = report.syncFloorMs;
  console.log(
    `times are per run: each timed iteration records "runs" runs into one submit and waits ` +
      `once, so its empty-submit-and-wait floor of ${floor.ours.toFixed(1)} ms (ours)` +
      (floor.peer === null ? "" : ` / ${floor.peer.toFixed(1)} ms (tfjs)`) +
      " is spread over the runs; wall-clock on a machine shared with other work",
  );
  await writeJson(o.json, report);
  console.log(`report: ${o.json}`);
  if (failed) {
    console.error(`\n${report.failures.length} failure(s):`);
    for (const f of report.failures) console.error(`  ${f.what}: ${f.error}`);
  }
  return { report, ok: !failed };
}

async function e2e(o: BenchOptions, args: string[]): Promise<{ report: E2EReport; ok: boolean }> {
  const { e2ePlan, runE2E } = await import("./_e2e.ts");
  const { formatEpochTable, formatStepTable } = await import("./_e2e_report.ts");
  const { ratioBars, ratioChartSvg, renderChartPng } = await import("./_chart.ts");
  const plan = e2ePlan(o.quick, o.paperBatch ?? undefined);
  plan.steps = plan.steps.filter((s) => o.configs.includes(s.config));
  plan.tfjs = o.tfjs;
  plan.torch = o.torch;
  if (!o.epochs) plan.epochs = [];
  if (!o.cold) plan.coldStart = null;
  const t0 = performance.now();
  const report = await runE2E(plan, { log: (line) => console.error(line), argv: args });
  console.log("\nTrain step (median of the timed steps; ratio = our step time / theirs)");
  console.log(formatStepTable(report.steps));
  if (report.epochs.length || report.imagenet.length) {
    console.log("\nEpoch time, data loading included");
    console.log(formatEpochTable(report.epochs, report.imagenet));
  }
  const cold = report.coldStart;
  if (cold) {
    console.log(
      `\nCold start (${cold.config} b${cold.batch}, ${cold.columns} column(s), Mesa shader cache ` +
        `off): open ${cold.openMs.toFixed(0)} ms, create ${cold.createMs.toFixed(0)} ms, first ` +
        `step ${(cold.firstStepMs / 1000).toFixed(1)} s (then ${
          cold.secondStepMs.toFixed(0)
        } ms); ` +
        `${cold.pipelines.join(" + ")} pipelines`,
    );
  }
  const env = report.environment;
  console.log(
    `\nadapter: ${env.adapter.description} (${env.profile})${env.driver ? `, ${env.driver}` : ""}` +
      `; Deno ${env.deno}; load average ${
        env.loadAverage?.map((v) => v.toFixed(2)).join(" ") ?? "?"
      }` +
      `; peers: tfjs ${report.peers.tfjs?.version ?? `— (${report.peers.missing.tfjs})`}, torch ${
        report.peers.torch
          ? `${report.peers.torch.version} (${report.peers.torch.threads} threads)`
          : `— (${report.peers.missing.torch})`
      }; suite took ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  await writeJson(o.e2eJson, report);
  console.log(`report: ${o.e2eJson}`);
  const bars = ratioBars(report.steps);
  if (bars.length > 0) {
    try {
      const svg = ratioChartSvg(bars);
      await Deno.mkdir(dirname(o.chart), { recursive: true });
      await Deno.writeTextFile(o.chart.replace(/\.png$/i, "") + ".svg", svg);
      await Deno.writeFile(o.chart, await renderChartPng(svg));
      console.log(`chart: ${o.chart}`);
    } catch (e) {
      report.failures.push({ what: "chart", error: e instanceof Error ? e.message : String(e) });
    }
  }
  if (report.failures.length) {
    console.error(`\n${report.failures.length} failure(s):`);
    for (const f of report.failures) console.error(`  ${f.what}: ${f.error}`);
  }
  return { report, ok: report.failures.length === 0 };
}

async function data(): Promise<boolean> {
  const { benchLoader, benchPrepare } = await import("./cases_data.ts");
  try {
    const p = await benchPrepare();
    console.log(`${p.name}: ${p.imagesPerSecond.toFixed(1)} images/s`);
    for (const r of [await benchLoader(), await benchLoader({ size: 36, images: 20000 })]) {
      console.log(
        `${r.name}: ${r.batchesPerSecond.toFixed(1)} batches/s ` +
          `(${r.imagesPerSecond.toFixed(0)} images/s, ${r.megabytesPerSecond.toFixed(0)} MB/s)`,
      );
    }
    return true;
  } catch (e) {
    console.error(`data suite failed: ${e instanceof Error ? e.message : String(e)}`);
    return false;
  }
}

async function readReport(path: string): Promise<BenchReport | E2EReport> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new DataError(`cannot read the report ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(`${path}: not a bench report (${(e as Error).message})`, { cause: e });
  }
}

function printComparison(old: BenchReport | E2EReport, now: BenchReport | E2EReport, what: string) {
  console.log(`\nCompared with ${what}:`);
  console.log(formatComparison(compareReports(old, now)));
}

/** Runs the command line; returns the exit code (errors become one line, errors.ts). */
export async function main(args: string[]): Promise<number> {
  try {
    return await run(parseBenchArgs(args), args);
  } catch (e) {
    return reportError("bench", e);
  }
}

async function run(o: BenchOptions, args: string[]): Promise<number> {
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (o.compare && o.compareWith) {
    printComparison(await readReport(o.compare), await readReport(o.compareWith), o.compare);
    return 0;
  }
  const old = o.compare ? await readReport(o.compare) : null;
  let ok = true;
  if (o.suite === "kernels" || o.suite === "all") {
    const r = await kernels(o, args);
    ok &&= r.ok;
    if (old?.schema === r.report.schema) printComparison(old, r.report, o.compare!);
  }
  if (o.suite === "e2e" || o.suite === "all") {
    const r = await e2e(o, args);
    ok &&= r.ok;
    if (old?.schema === r.report.schema) printComparison(old, r.report, o.compare!);
  }
  if (o.suite === "data" || o.suite === "all") ok &&= await data();
  if (o.suite === "browser" || o.suite === "all") {
    const { browserSuite } = await import("./_browser.ts");
    try {
      ok &&= await browserSuite({
        batch: 32,
        steps: 10,
        predictions: 20,
        json: o.browserJson,
        log: (line) => console.error(line),
      });
    } catch (e) {
      console.error(`browser suite failed: ${e instanceof Error ? e.message : String(e)}`);
      ok = false;
    }
  }
  if (o.suite === "convergence") {
    const { convergenceSuite } = await import("./_convergence.ts");
    ok &&= await convergenceSuite({
      quick: o.quick,
      ours: o.ours ?? undefined,
      torchSeed: o.torchSeed,
      outDir: "out/bench",
      json: o.convergenceJson,
      chart: o.convergenceChart,
      log: (line) => console.error(line),
    });
  }
  return ok ? 0 : 1;
}

if (import.meta.main) {
  preferFastSoftwareCompiles(); // before the first adapter request (model/software.ts)
  Deno.exit(await main(Deno.args));
}
