// The convergence suite's pure parts: reading our metrics log and the PyTorch peer's
// lines, the verdict and the chart. (The suite itself trains for minutes: it runs from
// `deno task bench --suite convergence`, not from the tests.)

import assert from "node:assert/strict";
import {
  AGREEMENT_POINTS,
  type ConvergenceReport,
  convergenceSvg,
  formatConvergence,
  parseTorchLines,
  readRun,
} from "../bench/_convergence.ts";
import { recipeFor, type RunRecipe } from "../model/train.ts";
import { configFor } from "../model/config.ts";

const recipe: RunRecipe = {
  config: configFor("tiny", 10),
  dataset: { name: "fashion-mnist", fingerprint: "f" },
  epochs: 2,
  batch: 32,
  momentum: 0.9,
  weightDecay: 0.0005,
  schedule: "step",
  stepEpochs: 1,
  seed: 1,
  augment: true,
  lighting: false,
  ...recipeFor("tiny"),
  dropout: 0,
};

const log = [
  { time: 1000, type: "start", recipe },
  { time: 2000, type: "step", step: 1, loss: 2.3 },
  { time: 5000, type: "evaluation", epoch: 0, step: 10, top1Error: 0.2, top5Error: 0.01 },
  { time: 9000, type: "evaluation", epoch: 1, step: 20, top1Error: 0.1, top5Error: 0.005 },
].map((e) => JSON.stringify(e)).join("\n") + "\n";

Deno.test("convergence: our metrics log gives the recipe and one point per evaluation", () => {
  const run = readRun(log, "m.jsonl");
  assert.deepEqual(run.recipe, recipe);
  assert.deepEqual(run.points, [
    { epoch: 1, top1Error: 0.2, top5Error: 0.01, seconds: 4 },
    { epoch: 2, top1Error: 0.1, top5Error: 0.005, seconds: 8 },
  ]);
  assert.throws(() => readRun("{}\n", "m.jsonl"), /m.jsonl: no start event/);
  assert.throws(() => readRun(log + log, "m.jsonl"), /more than one run/);
  assert.throws(() => readRun("nope\n", "m.jsonl"), /m.jsonl:1: not JSON/);
  const noRecipe = JSON.stringify({ time: 1, type: "start" }) + "\n";
  assert.throws(() => readRun(noRecipe, "m.jsonl"), /records no recipe/);
});

Deno.test("convergence: the verdict compares final errors against 1.5 points", () => {
  const torch = parseTorchLines(
    "warning: something\n" +
      '{"epoch": 1, "step": 10, "top1Error": 0.25, "top5Error": 0.02, "seconds": 3}\n' +
      '{"epoch": 2, "step": 20, "top1Error": 0.112, "top5Error": 0.01, "seconds": 6}\n',
  );
  assert.equal(torch.length, 2);
  const report: ConvergenceReport = {
    schema: "alexnet-webgpu/convergence@1",
    date: "2026-01-01T00:00:00Z",
    dataset: "fashion-mnist",
    recipe,
    ours: { run: "out/x", reused: true, seed: 1, points: readRun(log, "m").points },
    torch: { seed: 2, threads: 2, version: "1.13", points: torch },
    gapPoints: 1.2,
    agree: true,
  };
  assert.equal(AGREEMENT_POINTS, 1.5);
  const text = formatConvergence(report);
  assert.match(text, /^\s*2\s+10\.00%\s+11\.20%\s+8\s+6$/m);
  assert.match(
    text,
    /ours 10\.00% \(seed 1\), PyTorch 11\.20% \(seed 2, 2 threads\): 1\.20 points apart, within 1\.5/,
  );
  const svg = convergenceSvg(report);
  assert.equal(svg.match(/<polyline data-series="(ours|torch)"/g)?.length, 2);
  const missing = formatConvergence({ ...report, torch: { error: "PyTorch not found" } });
  assert.match(missing, /no PyTorch run: PyTorch not found/);
});
