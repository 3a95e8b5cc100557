// The benchmark runner's pure parts (flags, arithmetic, shape keys, table) and one tiny
// end-to-end run of the elementwise case without the peer.

import assert from "node:assert/strict";
import { defaultJsonPath, parseBenchArgs, UsageError } from "../bench/_args.ts";
import {
  amortise,
  type BenchReport,
  type CaseResult,
  formatSpeedup,
  formatTable,
  gbps,
  gflops,
  repeatFor,
  speedup,
  timing,
} from "../bench/_report.ts";
import { peerKey, peerShapeOf } from "../bench/peers/_shape.ts";
import { runBench } from "../bench/_runner.ts";

Deno.test("bench args: defaults", () => {
  const o = parseBenchArgs([], new Date("2025-03-04T10:00:00Z"));
  assert.equal(o.batch, 4);
  assert.equal(o.peer, true);
  assert.equal(o.timeMs, 500);
  assert.equal(o.minIterations, 5);
  assert.equal(o.filter, null);
  assert.equal(o.json, "out/bench/kernels-2025-03-04.json");
  assert.equal(
    defaultJsonPath(new Date("2024-12-31T23:00:00Z")),
    "out/bench/kernels-2024-12-31.json",
  );
});

Deno.test("bench args: every flag", () => {
  const o = parseBenchArgs([
    "--filter",
    "conv|pool",
    "--batch",
    "8",
    "--json",
    "x.json",
    "--no-peer",
    "--time",
    "20",
    "--iterations",
    "3",
    "--warmup",
    "0",
  ]);
  assert.ok(o.filter?.test("POOL1 forward"));
  assert.ok(!o.filter?.test("lrn1"));
  assert.deepEqual([o.batch, o.json, o.peer, o.timeMs, o.minIterations, o.warmup], [
    8,
    "x.json",
    false,
    20,
    3,
    0,
  ]);
  assert.equal(parseBenchArgs(["--help"]).help, true);
});

Deno.test("bench args: suites, e2e flags and --compare", () => {
  const d = parseBenchArgs([], new Date("2025-03-04T10:00:00Z"));
  assert.deepEqual(
    [d.suite, d.compare, d.compareWith, d.quick, d.tfjs, d.torch, d.paperBatch, d.epochs, d.cold],
    ["kernels", null, null, false, true, true, null, true, true],
  );
  assert.deepEqual(d.configs, ["tiny", "small", "paper"]);
  assert.equal(d.e2eJson, "out/bench/e2e-2025-03-04.json");
  assert.equal(d.chart, "out/bench/e2e-2025-03-04.png");
  assert.equal(parseBenchArgs(["--no-cold"]).cold, false);
  assert.equal(d.browserJson, "out/bench/browser-2025-03-04.json");
  assert.equal(parseBenchArgs(["--suite", "browser"]).suite, "browser");
  assert.deepEqual([d.targetMs, d.maxRepeat, d.peerMaxMs], [60, 256, 3000]);
  const o = parseBenchArgs([
    "--suite",
    "e2e",
    "--quick",
    "--no-torch",
    "--paper-batch",
    "8",
    "--configs",
    "tiny, paper",
    "--no-epochs",
    "--compare",
    "old.json",
    "--target",
    "30",
  ]);
  assert.deepEqual(
    [o.suite, o.quick, o.tfjs, o.torch, o.paperBatch, o.epochs, o.compare, o.targetMs],
    ["e2e", true, true, false, 8, false, "old.json", 30],
  );
  assert.deepEqual(o.configs, ["tiny", "paper"]);
  const np = parseBenchArgs(["--suite", "all", "--no-peer"]);
  assert.deepEqual([np.suite, np.peer, np.tfjs, np.torch], ["all", false, false, false]);
  assert.equal(parseBenchArgs(["--compare", "a.json", "--with", "b.json"]).compareWith, "b.json");
  assert.throws(() => parseBenchArgs(["--suite", "fast"]), /--suite expects kernels, e2e/);
  assert.throws(() => parseBenchArgs(["--with", "b.json"]), /--with needs --compare/);
  assert.throws(() => parseBenchArgs(["--configs", "tiny,huge"]), /unknown config "huge"/);
  assert.throws(() => parseBenchArgs(["--paper-batch", "0"]), UsageError);
  // Absurd but well-formed: bounded before anything runs.
  assert.throws(
    () => parseBenchArgs(["--suite", "e2e", "--paper-batch", "1000000"]),
    /--paper-batch must be an integer from 1 to 4096, got "1000000"/,
  );
  assert.throws(
    () => parseBenchArgs(["--batch", "1e9"]),
    /--batch must be an integer from 1 to 4096/,
  );
  const c = parseBenchArgs(
    ["--suite", "convergence", "--quick", "--ours", "out/train", "--torch-seed", "2"],
    new Date("2025-03-04T10:00:00Z"),
  );
  assert.deepEqual([c.suite, c.quick, c.ours, c.torchSeed], ["convergence", true, "out/train", 2]);
  assert.equal(c.convergenceJson, "out/bench/convergence-quick-2025-03-04.json");
  assert.throws(() => parseBenchArgs(["--ours", "x"]), /--ours is a flag of --suite convergence/);
});

Deno.test("bench args: unknown flags, missing values and bad numbers are usage errors", () => {
  for (
    const args of [
      ["--bogus"],
      ["--time"],
      ["extra"],
      ["--time", "0"],
      ["--batch", "2.5"],
      ["--filter", "("],
      ["--peer=no"],
    ]
  ) {
    assert.throws(() => parseBenchArgs(args), UsageError, args.join(" "));
  }
  assert.throws(() => parseBenchArgs(["--bogus"]), /bogus/);
});

Deno.test("bench arithmetic: throughput and ratio", () => {
  assert.equal(gflops(2e9, 1000), 2); // 2 GFLOP in one second
  assert.equal(gflops(1e9, 10), 100);
  assert.equal(gbps(3e6, 1), 3); // 3 MB in a millisecond
  assert.equal(speedup(32, 10), 3.2);
  assert.equal(formatSpeedup(3.2), "3.20x faster");
  assert.equal(formatSpeedup(0.5), "2.00x slower");
  assert.equal(formatSpeedup(1.001), "same");
  assert.equal(formatSpeedup(179.4), "179x faster");
  assert.equal(formatSpeedup(null), "—");
  const lat = { p50: 4, min: 3, max: 6, mean: 4.5, samples: 9 };
  const t = timing(lat, { flops: 8e9, bytes: 1e9 });
  assert.deepEqual(t, {
    medianMs: 4,
    minMs: 3,
    maxMs: 6,
    meanMs: 4.5,
    samples: 9,
    repeat: 1,
    iterationMs: 4,
    gflops: 2000,
  });
  assert.equal(timing(lat, { bytes: 4e6 }).gbps, 1);
  assert.equal(timing(lat, {}).gbps, undefined);
});

Deno.test("bench amortisation: per-run figures and the runs-per-iteration choice", () => {
  const lat = { p50: 80, min: 72, max: 96, mean: 82, samples: 5 };
  assert.deepEqual(amortise(lat, 8), { p50: 10, min: 9, max: 12, mean: 10.25, samples: 5 });
  assert.deepEqual(amortise(lat, 1), lat);
  assert.throws(() => amortise(lat, 0), /repeat must be a positive integer, got 0/);
  assert.throws(() => amortise(lat, 1.5), RangeError);
  // 8 runs of 1e9 flops in 80 ms: 10 ms per run, 100 GFLOP/s, the iteration kept.
  const t = timing(lat, { flops: 1e9 }, 8);
  assert.equal(t.medianMs, 10);
  assert.equal(t.iterationMs, 80);
  assert.equal(t.repeat, 8);
  assert.equal(t.gflops, 100);
  // Smallest power of two reaching the target, capped.
  assert.equal(repeatFor(2.5, 60, 256), 32); // 16 x 2.5 = 40 < 60 <= 80
  assert.equal(repeatFor(3.75, 60, 256), 16); // exactly 60
  assert.equal(repeatFor(70, 60, 256), 1);
  assert.equal(repeatFor(0.01, 60, 256), 256);
  assert.equal(repeatFor(0, 60, 64), 64);
  assert.equal(repeatFor(1, 60, 48), 48);
});

Deno.test("bench peer shapes: structured dims win over the string, groups kept", () => {
  const dims = { n: 4, c: 96, h: 27, w: 27, k: 256, kh: 5, kw: 5, stride: 1, pad: 2, groups: 2 };
  // A misleading string: the dims are what counts.
  const s = peerShapeOf({ op: "conv2d.forward", shape: "garbage", dims });
  assert.deepEqual(s, {
    kind: "conv2d",
    dir: "forward",
    n: 4,
    c: 96,
    h: 27,
    w: 27,
    k: 256,
    oh: 27,
    ow: 27,
    kh: 5,
    kw: 5,
    stride: 1,
    pad: 2,
    groups: 2,
  });
  assert.equal(peerShapeOf({ op: "conv2d.forward", shape: "", dims: { ...dims, c: 95 } }), null);
  assert.equal(peerShapeOf({ op: "conv2d.forward", shape: "", dims: { ...dims, kh: 0 } }), null);
  assert.deepEqual(
    peerShapeOf({ op: "linear.backward", shape: "", dims: { m: 4, k: 9216, n: 2048, relu: 1 } }),
    { kind: "gemm", dir: "backward", m: 4, k: 9216, n: 2048, bias: true, relu: true },
  );
  assert.deepEqual(
    peerShapeOf({ op: "lrn.forward", shape: "", dims: { n: 4, c: 48, h: 55, w: 55, size: 5 } }),
    { kind: "lrn", dir: "forward", n: 4, c: 48, h: 55, w: 55 },
  );
  assert.equal(
    peerShapeOf({ op: "lrn.forward", shape: "", dims: { n: 4, c: 48, h: 55, w: 55, size: 3 } }),
    null,
  );
});

Deno.test("bench peer shapes: every conv and fc case of the suite has a peer shape", async () => {
  const { convCases } = await import("../bench/cases/conv2d.ts");
  const { fcCases } = await import("../bench/cases/gemm.ts");
  for (const c of [...convCases(4, { firstLayerData: true }), ...fcCases(4)]) {
    const s = peerShapeOf(c);
    assert.ok(s, `${c.name} (${c.op}) has no peer shape`);
    // The string path agrees with the dims path.
    assert.deepEqual(peerShapeOf({ op: c.op, shape: c.shape }), s, c.name);
  }
});

Deno.test("bench peer shapes: parsed, checked, keyed", () => {
  const conv = peerShapeOf({ op: "conv2d.forward", shape: "N=4 48x27x27 -> 128x27x27 k5 p2" });
  assert.deepEqual(conv, {
    kind: "conv2d",
    dir: "forward",
    n: 4,
    c: 48,
    h: 27,
    w: 27,
    k: 128,
    oh: 27,
    ow: 27,
    kh: 5,
    kw: 5,
    stride: 1,
    pad: 2,
    groups: 1,
  });
  const c1 = peerShapeOf({
    op: "conv2d.backwardData",
    shape: "N=4 3x224x224 -> 48x55x55 k11 s4 p2",
  });
  assert.equal(c1?.kind === "conv2d" && c1.dir, "backwardData");
  const dw = peerShapeOf({
    op: "conv2d.backwardWeights",
    shape: "N=4 3x224x224 -> 48x55x55 k11 s4 p2",
  });
  assert.equal(dw?.kind === "conv2d" && dw.dir, "backwardFilter");
  // An output size that does not follow from k/s/p means the string was misread: no peer.
  assert.equal(peerShapeOf({ op: "conv2d.forward", shape: "N=4 48x27x27 -> 128x27x27 k5" }), null);
  const pool = peerShapeOf({ op: "maxpool.backward", shape: "N=4 48x55x55 -> 48x27x27 k3 s2" });
  assert.equal(pool?.kind === "maxpool" && pool.oh, 27);
  assert.equal(
    peerShapeOf({ op: "maxpool.forward", shape: "N=4 48x55x55 -> 48x26x26 k3 s2" }),
    null,
  );
  const lrn = peerShapeOf({ op: "lrn.backward", shape: "N=4 128x27x27 n=5" });
  assert.deepEqual(lrn, { kind: "lrn", dir: "backward", n: 4, c: 128, h: 27, w: 27 });
  // `N=` is the batch, wherever it stands: never read as LRN's window.
  assert.deepEqual(peerShapeOf({ op: "lrn.forward", shape: "n=5 N=4 128x27x27" }), {
    kind: "lrn",
    dir: "forward",
    n: 4,
    c: 128,
    h: 27,
    w: 27,
  });
  assert.equal(peerShapeOf({ op: "lrn.forward", shape: "N=4 128x27x27 n=3" }), null);
  assert.deepEqual(peerShapeOf({ op: "gemm.forward", shape: "M=4 K=9216 N=2048" }), {
    kind: "gemm",
    dir: "forward",
    m: 4,
    k: 9216,
    n: 2048,
    bias: false,
    relu: false,
  });
  assert.deepEqual(peerShapeOf({ op: "linear.backwardData", shape: "N=4 9216 -> 2048" }), {
    kind: "gemm",
    dir: "backwardData",
    m: 4,
    k: 9216,
    n: 2048,
    bias: true,
    relu: false,
  });
  assert.deepEqual(peerShapeOf({ op: "linear.backward", shape: "B=16 4096 -> 2048 relu" }), {
    kind: "gemm",
    dir: "backward",
    m: 16,
    k: 4096,
    n: 2048,
    bias: true,
    relu: true,
  });
  assert.deepEqual(peerShapeOf({ op: "sgd.step", shape: "fc6.weight [2048x9216]" }), {
    kind: "sgd",
    size: 2048 * 9216,
  });
  assert.equal(peerShapeOf({ op: "sgd.step", shape: "16 tensors, 30.5M params" }), null);
  assert.deepEqual(peerShapeOf({ op: "softmaxXent.run", shape: "N=128 1000 classes" }), {
    kind: "softmaxXent",
    dir: "fused",
    n: 128,
    classes: 1000,
  });
  assert.equal(peerShapeOf({ op: "augment.run", shape: "16 images 256->224 RGB" }), null);
  assert.equal(peerKey(lrn!), "lrn dir=backward n=4 c=128 h=27 w=27");
});

Deno.test("bench table: one line per case, missing figures as —", () => {
  const ours = timing({ p50: 40, min: 36, max: 48, mean: 40, samples: 5 }, { flops: 1e9 }, 4);
  const rows: CaseResult[] = [
    {
      name: "conv2 forward",
      op: "conv2d.forward",
      shape: "N=4",
      module: "m",
      flops: 1e9,
      key: "k",
      ours,
      peer: {
        ...timing({ p50: 64, min: 60, max: 80, mean: 66, samples: 5 }, { flops: 1e9 }, 2),
        note: "",
      },
      speedup: 3.2,
    },
    {
      name: "broken",
      op: "x.forward",
      shape: "?",
      module: "m",
      key: null,
      ours: null,
      peer: null,
      speedup: null,
      error: "boom",
    },
  ];
  const lines = formatTable(rows).split("\n");
  assert.equal(lines.length, 4);
  assert.match(
    lines[2],
    /conv2 forward .* 4\/2 .* 10\.0 .* 9\.00-12\.0 .* 100 GFLOP\/s .* 32\.0 .* 31\.3 GFLOP\/s .* 3\.20x faster/,
  );
  assert.match(lines[3], /broken .* FAILED/);
});

Deno.test({
  name: "bench end to end: elementwise case, no peer, JSON report",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bench_test_" });
    try {
      const json = `${dir}/out/report.json`;
      const main = new URL("../bench/main.ts", import.meta.url).pathname;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          main,
          "--filter",
          "^elementwise\\.",
          "--time",
          "20",
          "--iterations",
          "3",
          "--target",
          "5",
          "--no-peer",
          "--json",
          json,
        ],
        env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
      assert.match(
        stdout,
        /conv1 relu backward\s+N=4 48x55x55\s+\d+\s+[\d.]+\s+[\d.]+-[\d.]+\s+[\d.]+ GB\/s/,
      );
      const report: BenchReport = JSON.parse(await Deno.readTextFile(json));
      assert.equal(report.schema, "alexnet-webgpu/bench-kernels@1");
      assert.equal(report.peer, null);
      assert.equal(report.flags.peer, false);
      assert.equal(report.flags.timeMs, 20);
      assert.ok(report.environment.adapter.description.length > 0);
      assert.ok(["gpu", "software"].includes(report.environment.profile));
      assert.equal(report.environment.deno, Deno.version.deno);
      assert.ok(report.syncFloorMs.ours > 0);
      assert.deepEqual(report.failures, []);
      assert.equal(report.cases.length, 1);
      const [c] = report.cases;
      assert.equal(c.op, "elementwise.reluBackward");
      assert.equal(c.bytes, 3 * 4 * 4 * 48 * 55 * 55);
      assert.ok(c.ours && c.ours.samples >= 3 && c.ours.minMs <= c.ours.medianMs);
      // Calibrated: at least 5 ms of work per iteration, per-run = iteration / R.
      assert.ok(c.ours.repeat >= 1 && Number.isInteger(Math.log2(c.ours.repeat)));
      assert.ok(Math.abs(c.ours.medianMs * c.ours.repeat - c.ours.iterationMs) < 1e-9);
      assert.equal(report.flags.targetMs, 5);
      assert.ok(c.ours.medianMs <= c.ours.maxMs);
      assert.equal(c.ours.gbps, gbps(c.bytes!, c.ours.medianMs));
      assert.equal(c.peer, null);
      assert.equal(c.key, "reluBackward size=580800");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("bench main: an unknown flag exits 2 in one line pointing at --help", async () => {
  const main = new URL("../bench/main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main, "--frobnicate"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.equal(
    new TextDecoder().decode(out.stderr).trim(),
    "bench: Unknown option '--frobnicate' (bench --help lists the options)",
  );
});

Deno.test({
  name: "bench runner: failed validation, a throwing prepare and a broken module fail the run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bench_cases_" });
    try {
      await Deno.writeTextFile(
        `${dir}/bad.ts`,
        `export const cases = [
          { name: "wrong output", op: "x.forward", shape: "?", prepare: async () => ({
              run() {}, async validate() { throw new Error("y[3] = 1, want 2"); }, dispose() {} }) },
          { name: "no pipeline", op: "x.forward", shape: "?",
            prepare: async () => { throw new Error("kernel x: shader failed"); } },
        ];`,
      );
      await Deno.writeTextFile(`${dir}/broken.ts`, `throw new Error("syntax trouble");`);
      const logs: string[] = [];
      const { report, failed } = await runBench(parseBenchArgs(["--no-peer", "--time", "5"]), {
        log: (l) => logs.push(l),
        casesDir: new URL(`file://${dir}/`),
      });
      assert.equal(failed, true);
      assert.equal(report.cases.length, 2);
      assert.match(report.cases[0].error ?? "", /validation failed: y\[3\] = 1, want 2/);
      assert.match(report.cases[1].error ?? "", /shader failed/);
      const what = report.failures.map((f) => `${f.what}: ${f.error}`).join("\n");
      assert.match(what, /bench\/cases\/broken\.ts: failed to load: .*syntax trouble/);
      assert.match(what, /wrong output \(x\.forward/);
      assert.match(what, /no pipeline/);
      assert.ok(logs.some((l) => l.startsWith("FAIL wrong output")));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
