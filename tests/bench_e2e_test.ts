// The end-to-end benchmark's pure parts (statistics, projections, --compare, the ratio
// chart) and one tiny run of the e2e runner without peers.

import assert from "node:assert/strict";
import {
  type E2EReport,
  epochSeconds,
  formatEpochTable,
  formatProfile,
  formatRatio,
  formatStepTable,
  projectEpoch,
  ratio,
  stat,
  type StepRow,
} from "../bench/_e2e_report.ts";
import { compareReports, figuresOf, formatComparison } from "../bench/_compare.ts";
import { CHART_SIZE, pngSize, ratioBars, ratioChartSvg, renderChartPng } from "../bench/_chart.ts";
import type { BenchReport } from "../bench/_report.ts";
import { timing } from "../bench/_report.ts";
import { e2ePlan, runE2E } from "../bench/_e2e.ts";
import { coldStart } from "../bench/cold_start.ts";

Deno.test("bench e2e arithmetic: stats, ratios, epoch projection", () => {
  assert.deepEqual(stat([30, 10, 20, 40]), { medianMs: 25, minMs: 10, maxMs: 40, samples: 4 });
  assert.deepEqual(stat([5, 1, 3]), { medianMs: 3, minMs: 1, maxMs: 5, samples: 3 });
  assert.throws(() => stat([]), /no samples/);
  assert.equal(ratio(stat([50]), stat([200])), 0.25);
  assert.equal(ratio(null, stat([1])), null);
  assert.equal(formatRatio(0.25), "0.25 (4.00x faster)");
  assert.equal(formatRatio(2), "2.00 (2.00x slower)");
  assert.equal(formatRatio(null), "—");
  assert.equal(projectEpoch(12, 24, 468), 234);
  assert.equal(projectEpoch(30, 39, 39), 30);
  assert.throws(() => projectEpoch(1, 0, 10), RangeError);
  // ImageNet at 8 images per 4 s step: 160,146 steps of 4 s.
  assert.equal(epochSeconds(1_281_168, 8, 4000), 640_584);
});

function stepRow(config: string, columns: number, ours: number, tfjs: number | null): StepRow {
  const o = stat([ours * 0.9, ours, ours * 1.2]);
  const t = tfjs === null ? null : stat([tfjs]);
  return {
    id: `step ${config} b8 c${columns}`,
    config,
    batch: 8,
    columns,
    ours: {
      ...o,
      imagesPerSecond: 8000 / ours,
      exchangeMs: 12,
      exchangeShare: 12 / ours,
      dataWaitMs: 0.5,
      dataWaitShare: 0.5 / ours,
      peakBytes: [64 * 2 ** 20],
      loss: 2.3,
      setupMs: 1000,
      firstStepMs: 9000,
      profile: [
        { name: "conv1", forwardMs: ours * 0.2, backwardMs: ours * 0.3 },
        { name: "loss", forwardMs: 1, backwardMs: 0 },
      ],
      gapMs: ours * 0.5 - 1,
    },
    tfjs: t,
    torch: stat([ours * 2]),
    ratioTfjs: ratio(o, t),
    ratioTorch: 0.5,
  };
}

function e2eReport(rows: StepRow[]): E2EReport {
  return {
    schema: "alexnet-webgpu/bench-e2e@1",
    date: "2025-01-01T00:00:00Z",
    flags: {},
    environment: {
      deno: "2",
      v8: "1",
      os: "linux",
      cpus: 2,
      adapter: { description: "x", vendor: "", architecture: "", device: "" },
      profile: "software",
      driver: null,
      loadAverage: null,
      sharedMachine: "",
    },
    configs: {},
    peers: { tfjs: null, torch: null, missing: {} },
    steps: rows,
    epochs: [],
    imagenet: [],
    failures: [],
  };
}

Deno.test("bench compare: faster, slower, same, added and removed figures", () => {
  const old = e2eReport([stepRow("tiny", 1, 100, 300), stepRow("small", 1, 400, 800)]);
  const now = e2eReport([stepRow("tiny", 1, 50, 300), stepRow("small", 1, 410, 800)]);
  now.steps.push(stepRow("paper", 2, 5000, null));
  old.steps.push(stepRow("paper", 1, 6000, null));
  const changes = compareReports(old, now);
  const by = new Map(changes.map((c) => [c.label, c]));
  assert.equal(by.get("step tiny b8 c1 (ours)")?.verdict, "faster");
  assert.equal(by.get("step tiny b8 c1 (ours)")?.ratio, 0.5);
  assert.equal(by.get("step tiny b8 c1 (ours)")?.overlap, false);
  assert.equal(by.get("step small b8 c1 (ours)")?.verdict, "same"); // +2.5% < 5%
  assert.equal(by.get("step tiny b8 (tfjs)")?.verdict, "same");
  assert.equal(by.get("step paper b8 c2 (ours)")?.verdict, "added");
  assert.equal(by.get("step paper b8 c1 (ours)")?.verdict, "removed");
  const slower = compareReports(now, old).find((c) => c.label === "step tiny b8 c1 (ours)");
  assert.equal(slower?.verdict, "slower");
  assert.equal(slower?.ratio, 2);
  const text = formatComparison(changes);
  assert.match(
    text,
    /faster \(by more than 5%\): 3\n {2}step tiny b8 c1 \(ours\): 100 -> 50\.0 ms 2\.00x faster/,
  );
  assert.match(text, /step tiny b8 \(tfjs\): 300 -> 300 ms unchanged/);
  assert.match(text, /new figures: 1/);
  assert.match(text, /figures no longer measured: 1/);
  // A 1% threshold makes the small config's +2.5% a slowdown.
  assert.equal(
    compareReports(old, now, 0.01).find((c) => c.label === "step small b8 c1 (ours)")?.verdict,
    "slower",
  );
  // Kernel reports compare per case and side; mixing kinds is an error.
  const k = (ms: number): BenchReport => ({
    schema: "alexnet-webgpu/bench-kernels@1",
    cases: [{
      name: "conv2 forward",
      op: "conv2d.forward",
      shape: "N=4",
      module: "m",
      key: null,
      ours: timing({ p50: ms, min: ms, max: ms, mean: ms, samples: 3 }, {}, 2),
      peer: null,
      speedup: null,
    }],
  } as unknown as BenchReport);
  assert.deepEqual([...figuresOf(k(10)).keys()], ["kernel conv2 forward [N=4] (ours)"]);
  assert.equal(compareReports(k(10), k(30))[0].verdict, "slower");
  assert.equal(compareReports(k(10), k(30))[0].ratio, 3);
  assert.throws(() => compareReports(k(10), old), /different kinds/);
});

Deno.test("bench tables: every figure and ratio appears", () => {
  const rows = [stepRow("tiny", 1, 100, 300), stepRow("tiny", 2, 120, 300)];
  rows[1].tfjs = null;
  rows[1].ratioTfjs = null;
  const lines = formatStepTable(rows).split("\n");
  assert.equal(lines.length, 4);
  assert.match(
    lines[2],
    /^tiny\s+8\s+1\s+100\s+90\.0-120\s+1\.20\s+9000\s+80\.0\s+12\.0 ms 12%\s+0\.5%\s+64\s+300\s+0\.33 \(3\.00x faster\)\s+200\s+0\.50 \(2\.00x faster\)$/,
  );
  assert.match(lines[3], /^tiny\s+8\s+2\s+120 .* —\s+—\s+240/);
  // The profile's largest items and the gap, as shares of the median step.
  assert.equal(
    formatProfile(rows[0].ours!.profile, 100, rows[0].ours!.gapMs, 2),
    "conv1 bwd 30.0 ms 30%, conv1 fwd 20.0 ms 20%; gap 49.0 ms 49%",
  );
  const epoch = formatEpochTable([
    {
      id: "e",
      dataset: "fashion-mnist",
      config: "small",
      batch: 128,
      columns: 2,
      images: 60000,
      stepsPerEpoch: 468,
      stepsMeasured: 16,
      measuredSeconds: 8,
      epochSeconds: 234,
      projected: true,
      imagesPerSecond: 256,
      dataWaitShare: 0.01,
      peakBytes: [2 ** 27, 2 ** 27],
    },
  ], [{
    id: "i",
    images: 1_281_167,
    batch: 8,
    columns: 2,
    stepMs: 4000,
    seconds: 640_583.5,
    note: "from batch 8",
  }]);
  assert.match(
    epoch,
    /fashion-mnist\s+small\s+128\s+2\s+60000\s+16\/468\s+234 \(proj\.\)\s+256\s+1\.0%\s+128\+128/,
  );
  assert.match(
    epoch,
    /ImageNet epoch \(1281167 images\), paper config, 2 column\(s\): 177\.9 h at 4000 ms per step of 8 — from batch 8/,
  );
});

Deno.test("bench chart: the SVG has a bar and a label per figure, the PNG the chart's size", async () => {
  const rows = [stepRow("tiny", 1, 100, 300), stepRow("paper", 2, 4000, 2000)];
  const bars = ratioBars(rows);
  assert.deepEqual(bars.map((b) => [b.group, b.series, b.value]), [
    ["tiny b8 1col", "TF.js WebGPU", 100 / 300],
    ["tiny b8 1col", "PyTorch CPU", 0.5],
    ["paper b8 2col", "TF.js WebGPU", 2],
    ["paper b8 2col", "PyTorch CPU", 0.5],
  ]);
  const svg = ratioChartSvg(bars);
  const rects = [
    ...svg.matchAll(
      /<rect class="bar" data-group="([^"]+)" data-series="([^"]+)" data-value="([^"]+)" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/g,
    ),
  ];
  assert.equal(rects.length, 4);
  assert.deepEqual(
    rects.map((m) => [m[1], m[2], Number(m[3])]),
    bars.map((b) => [b.group, b.series, b.value]),
  );
  // Below 1 the bar hangs under the "same" line, above 1 it stands on it; log heights:
  // 2x and 0.5x are equally tall.
  const h = rects.map((m) => Number(m[5]));
  assert.ok(Math.abs(h[1] - h[2]) < 0.2, `0.5 and 2 bars: ${h[1]} vs ${h[2]}`);
  assert.ok(Number(rects[2][4]) < Number(rects[1][4]));
  for (
    const label of [
      "0.33",
      "0.50",
      "2.00",
      "tiny b8 1col",
      "paper b8 2col",
      "ours / TF.js WebGPU",
      "ours / PyTorch CPU",
      "same speed",
    ]
  ) {
    assert.ok(svg.includes(`>${label}<`), `label ${label}`);
  }
  const png = await renderChartPng(svg);
  assert.deepEqual(pngSize(png), CHART_SIZE);
  assert.throws(() => pngSize(new Uint8Array(30)), /not a PNG/);
});

Deno.test({
  name: "bench e2e runner: tiny config, two steps, no peers, well-formed report",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const plan = e2ePlan(true);
    plan.steps = [{ config: "tiny", batch: 4, steps: 2, warmup: 1, peerSteps: 1 }];
    plan.epochs = [{ dataset: "synthetic", config: "tiny", batch: 4, columns: 1, maxSteps: 2 }];
    plan.tfjs = false;
    plan.torch = false;
    plan.syntheticPerClass = 2;
    plan.coldStart = null; // measured below in this process (the suite's own is a minute)
    const logs: string[] = [];
    const report: E2EReport = JSON.parse(
      JSON.stringify(await runE2E(plan, { log: (l) => logs.push(l), argv: ["--quick"] })),
    );
    assert.deepEqual(report.failures, [], logs.join("\n"));
    assert.equal(report.schema, "alexnet-webgpu/bench-e2e@1");
    assert.equal(report.environment.deno, Deno.version.deno);
    assert.ok(report.environment.adapter.description.length > 0);
    assert.ok("tiny" in report.configs);
    assert.equal(report.steps.length, 2);
    for (const [i, r] of report.steps.entries()) {
      assert.equal(r.columns, i + 1);
      assert.equal(r.id, `step tiny b4 c${i + 1}`);
      const o = r.ours!;
      assert.equal(o.samples, 2);
      assert.ok(o.minMs <= o.medianMs && o.medianMs <= o.maxMs);
      assert.ok(Math.abs(o.imagesPerSecond - 4000 / o.medianMs) < 1e-9);
      assert.ok(Number.isFinite(o.loss));
      assert.equal(o.peakBytes.length, i + 1);
      assert.ok(o.peakBytes.every((b) => b > 0));
      assert.ok(o.exchangeShare >= 0 && o.dataWaitShare >= 0 && o.dataWaitShare < 1);
      // The profile covers every stage of the network and the loss, each non-negative,
      // and the gap is what the median step has beyond their sum.
      const stages = ["conv1", "pool5", "fc8", "logits", "loss", ...(i === 1 ? ["conv3.x"] : [])];
      for (const name of stages) assert.ok(o.profile.some((p) => p.name === name), name);
      assert.ok(o.profile.every((p) => p.forwardMs >= 0 && p.backwardMs >= 0));
      const sum = o.profile.reduce((a, p) => a + p.forwardMs + p.backwardMs, 0);
      assert.ok(Math.abs(o.medianMs - sum - o.gapMs) < 1e-9);
      assert.ok(Number.isFinite(o.firstStepMs) && o.firstStepMs > 0);
      assert.equal(r.tfjs, null);
      assert.match(r.tfjsMissing ?? "", /disabled/);
      assert.equal(r.ratioTfjs, null);
    }
    // Exchange time is measured, not asserted against another timing (the machines are
    // shared, and since exchanges read a mapping at once 2 columns need not cost more).
    for (const r of report.steps) {
      assert.ok(Number.isFinite(r.ours!.exchangeMs) && r.ours!.exchangeMs >= 0);
    }
    const [e] = report.epochs;
    assert.equal(e.images, 20);
    assert.equal(e.stepsPerEpoch, 5);
    assert.equal(e.stepsMeasured, 2);
    assert.equal(e.projected, true);
    assert.ok(Math.abs(e.epochSeconds - e.measuredSeconds * 2.5) < 1e-9);
    assert.deepEqual(report.imagenet, []);
    assert.match(formatStepTable(report.steps), /tiny\s+4\s+2/);
  },
});

Deno.test("bench main: --compare OLD --with NEW prints the changes and runs nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench_compare_" });
  try {
    const a = `${dir}/old.json`, b = `${dir}/new.json`;
    await Deno.writeTextFile(a, JSON.stringify(e2eReport([stepRow("small", 2, 400, 800)])));
    await Deno.writeTextFile(b, JSON.stringify(e2eReport([stepRow("small", 2, 200, 800)])));
    const main = new URL("../bench/main.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", main, "--compare", a, "--with", b],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(text, /Compared with .*old\.json/);
    assert.match(text, /step small b8 c2 \(ours\): 400 -> 200 ms 2\.00x faster/);
    assert.match(text, /step small b8 \(tfjs\): 800 -> 800 ms unchanged/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "bench cold start: opens, creates and steps a network, timing each part",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // In this process the shader cache is whatever the machine has (the suite runs it in
    // a process of its own with Mesa's cache off); here: the parts and the counts.
    const r = await coldStart("tiny", 4, 1); // the runner test's shapes: cached shaders
    assert.equal(r.config, "tiny");
    for (const k of ["openMs", "createMs", "firstStepMs", "secondStepMs"] as const) {
      assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${k} ${r[k]}`);
    }
    assert.equal(r.pipelines.length, 1);
    assert.ok(r.pipelines[0] > 20, `${r.pipelines[0]} pipelines`);
  },
});

Deno.test({
  name:
    "bench e2e runner: a training split smaller than one batch fails the row instead of hanging",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const plan = e2ePlan(true);
    // 10 training images (1 per class) cannot fill one batch of 16.
    plan.steps = [{ config: "tiny", batch: 16, steps: 1, warmup: 1, peerSteps: 1 }];
    plan.columns = [1];
    plan.epochs = [];
    plan.tfjs = false;
    plan.torch = false;
    plan.coldStart = null;
    plan.syntheticPerClass = 1;
    const report = await runE2E(plan, { log: () => {}, argv: [] });
    assert.equal(report.steps[0].ours, null);
    assert.match(
      report.failures.map((f) => f.error).join("\n"),
      /the training split holds 10 images, fewer than one batch/,
    );
  },
});
