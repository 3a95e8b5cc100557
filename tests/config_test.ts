import assert from "node:assert/strict";
import {
  type AlexNetConfig,
  configFor,
  configs,
  dropoutOf,
  joinParameter,
  type LayerStage,
  networkStages,
  parameterCount,
  parameterShapes,
  partsOf,
  sizeOf,
  splitParameter,
  validateConfig,
} from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { Rng } from "../model/rng.ts";

const layers = (c: AlexNetConfig, batch = 2) =>
  networkStages(c, batch).filter((s): s is LayerStage => s.type !== "exchange");

Deno.test("paper config has 60,965,224 parameters and the paper's spatial sizes", () => {
  assert.equal(parameterCount(configs.paper), 60_965_224);
  const sides = layers(configs.paper)
    .filter((l) => l.type === "conv" || l.type === "maxpool")
    .map((l) => l.outShape[0][2]);
  assert.deepEqual(sides, [55, 27, 27, 13, 13, 13, 13, 6]);
});

Deno.test("the paper's layer table, as JSON, is the paper's network", () => {
  // The table round-trips through JSON (the PyTorch and TF.js peers read it so).
  const table = JSON.parse(JSON.stringify(configs.paper)) as AlexNetConfig;
  assert.deepEqual(validateConfig(table), configs.paper);
  const row = (l: AlexNetConfig["layers"][number]) =>
    l.kind === "conv"
      ? `${l.name}:${l.out}/${l.kernel}s${l.stride}:${l.placement}`
      : l.kind === "fc"
      ? `${l.name}:${l.out}:${l.placement}`
      : "name" in l
      ? l.name
      : l.kind;
  assert.equal(
    table.layers.map(row).join(" "),
    "conv1:96/11s4:cross relu lrn1 pool1 conv2:256/5s1:split relu lrn2 pool2 " +
      "conv3:384/3s1:cross relu conv4:384/3s1:split relu conv5:256/3s1:split relu pool5 " +
      "flatten fc6:4096:cross relu dropout6 fc7:4096:cross relu dropout7 fc8:classes:cross",
  );
});

Deno.test("paper parameter shapes match PyTorch's names, order and grouped shapes", () => {
  const p = parameterShapes(configs.paper);
  assert.deepEqual(
    p.map((s) => `${s.name}[${s.shape}]`),
    [
      "conv1.weight[96,3,11,11]",
      "conv1.bias[96]",
      "conv2.weight[256,48,5,5]",
      "conv2.bias[256]",
      "conv3.weight[384,256,3,3]",
      "conv3.bias[384]",
      "conv4.weight[384,192,3,3]",
      "conv4.bias[384]",
      "conv5.weight[256,192,3,3]",
      "conv5.bias[256]",
      "fc6.weight[4096,9216]",
      "fc6.bias[4096]",
      "fc7.weight[4096,4096]",
      "fc7.bias[4096]",
      "fc8.weight[1000,4096]",
      "fc8.bias[1000]",
    ],
  );
  assert.deepEqual(p[4].columns, [[192, 256, 3, 3], [192, 256, 3, 3]]);
});

Deno.test("paper per-column activation shapes follow the layer table", () => {
  const byName = new Map(layers(configs.paper, 8).map((l) => [l.name, l]));
  const io = (n: string) => [byName.get(n)!.inShape, byName.get(n)!.outShape[0]];
  assert.deepEqual(io("conv1"), [[8, 3, 224, 224], [8, 48, 55, 55]]);
  assert.deepEqual(io("lrn1"), [[8, 48, 55, 55], [8, 48, 55, 55]]);
  assert.deepEqual(io("conv2"), [[8, 48, 27, 27], [8, 128, 27, 27]]);
  assert.deepEqual(io("conv3"), [[8, 256, 13, 13], [8, 192, 13, 13]]);
  assert.deepEqual(io("conv4"), [[8, 192, 13, 13], [8, 192, 13, 13]]);
  assert.deepEqual(io("pool5"), [[8, 128, 13, 13], [8, 128, 6, 6]]);
  assert.deepEqual(io("fc6"), [[8, 9216], [8, 2048]]);
  assert.deepEqual(io("fc7"), [[8, 4096], [8, 2048]]);
  assert.deepEqual(io("fc8"), [[8, 4096], [8, 500]]);
  const exchanges = layers(configs.paper, 8).filter((l) => l.input.from === "exchange");
  assert.deepEqual(exchanges.map((l) => l.name), ["conv3", "fc6", "fc7", "fc8"]);
  // ReLU is fused into every conv and fc but the logits layer.
  const relu = layers(configs.paper).filter((l) => l.relu).map((l) => l.name);
  assert.deepEqual(relu, ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]);
});

Deno.test("small and tiny keep the topology with their own pyramids", () => {
  const sides = (c: AlexNetConfig) =>
    layers(c, 1).filter((l) => l.type === "conv" || l.type === "maxpool").map((l) =>
      l.outShape[0][2]
    );
  assert.deepEqual(sides(configs.small), [32, 15, 15, 7, 7, 7, 7, 3]);
  assert.deepEqual(sides(configs.tiny), [32, 15, 15, 7, 7, 7, 7, 3]);
  for (const c of [configs.small, configs.tiny]) {
    const kinds = layers(c, 1).map((l) => l.name).join(" ");
    assert.equal(
      kinds,
      "conv1 lrn1 pool1 conv2 lrn2 pool2 conv3 conv4 conv5 pool5 fc6 dropout6 fc7 dropout7 fc8",
    );
    const convs = c.layers.filter((l) => l.kind === "conv");
    assert.deepEqual(convs.map((l) => l.placement), ["cross", "split", "cross", "split", "split"]);
    assert.equal(dropoutOf(c), 0.5);
    assert.equal(partsOf(c), 2);
  }
  // Hand-counted: conv 1216 + 6432 + 13872 + 10416 + 6944, fc 36992 + 16512 + 1290.
  assert.equal(parameterCount(configs.tiny), 93_674);
  // conv 3648 + 76928 + 221376 + 166080 + 110720, fc 1180672 + 1049600 + 10250.
  assert.equal(parameterCount(configs.small), 2_819_274);
});

Deno.test("torchvision: one column, torchvision's names, 61,100,840 parameters", () => {
  const c = configs.torchvision;
  assert.equal(partsOf(c), 1);
  // torchvision.models.alexnet(): sum of p.numel() over parameters().
  assert.equal(parameterCount(c), 61_100_840);
  assert.deepEqual(
    parameterShapes(c).filter((p) => p.kind === "weight").map((p) => `${p.name}[${p.shape}]`),
    [
      "features.0.weight[64,3,11,11]",
      "features.3.weight[192,64,5,5]",
      "features.6.weight[384,192,3,3]",
      "features.8.weight[256,384,3,3]",
      "features.10.weight[256,256,3,3]",
      "classifier.1.weight[4096,9216]",
      "classifier.4.weight[4096,4096]",
      "classifier.6.weight[1000,4096]",
    ],
  );
  const stages = networkStages(c, 2);
  assert.deepEqual(stages.filter((s) => s.type === "exchange").map((s) => s.name), ["logits"]);
  const avg = layers(c).find((l) => l.type === "avgpool")!;
  assert.deepEqual([avg.inShape, avg.outShape], [[2, 256, 6, 6], [[2, 256, 6, 6]]]);
  // Dropout comes before fc6 and fc7 (torchvision's classifier.0 and .3).
  const order = layers(c).slice(-5).map((l) => l.name).join(" ");
  assert.equal(order, "classifier.0 classifier.1 classifier.3 classifier.4 classifier.6");
});

Deno.test("configFor copies a built-in config with the dataset's classes", () => {
  const c = configFor("tiny", 7);
  assert.equal(c.classes, 7);
  assert.equal(configs.tiny.classes, 10, "the built-in config is not mutated");
  (c.layers[0] as { out: number }).out = 2;
  assert.equal((configs.tiny.layers[0] as { out: number }).out, 16);
  // Odd class counts split ceil/floor over the columns.
  assert.deepEqual(layers(c, 3).at(-1)!.outShape, [[3, 4], [3, 3]]);
  assert.throws(
    () => configFor("huge"),
    /unknown name "huge" \(expected one of paper, small, tiny, torchvision\)/,
  );
  assert.throws(() => configFor("tiny", 1), /config tiny: classes must be an integer >= 2, got 1/);
});

Deno.test("validateConfig names the bad layer and what it expected", () => {
  const bad = (edit: (c: AlexNetConfig, l: Record<string, unknown>[]) => void, msg: RegExp) => {
    const c = structuredClone(configs.tiny) as AlexNetConfig;
    edit(c, c.layers as unknown as Record<string, unknown>[]);
    assert.throws(() => validateConfig(c), msg);
  };
  // tiny's table: 0 conv1, 1 relu, 2 lrn1, 3 pool1, 4 conv2, ..., 8 conv3, 14 pool5, 15 flatten, 16 fc6, 18 dropout6.
  bad(
    (_, l) => l[8].out = 47,
    /layers\[8\] \(conv "conv3"\)\.out must be an even positive integer \(2 columns\), got 47/,
  );
  bad(
    (_, l) => l[0].placement = "split",
    /layers\[0\] \(conv "conv1"\)\.placement must be "cross" \(its input is not split/,
  );
  bad(
    (_, l) => l[4].placement = "whole",
    /layers\[4\] \(conv "conv2"\)\.placement must be "cross" or "split"/,
  );
  bad(
    (_, l) => l[4].padding = 5,
    /layers\[4\] \(conv "conv2"\)\.padding must be an integer in \[0, kernel\)/,
  );
  bad((_, l) => l[18].p = 1, /layers\[18\] \(dropout "dropout6"\)\.p must be a number in \[0, 1\)/);
  bad((_, l) => l[2].size = 4, /layers\[2\] \(lrn "lrn1"\)\.size must be an odd positive integer/);
  bad((_, l) => l[2].alpha = NaN, /lrn1"\)\.alpha must be a finite non-negative number/);
  bad((_, l) => l[2].kind = "batchnorm", /layers\[2\]\.kind must be one of conv, fc, lrn, maxpool/);
  bad((_, l) => l[3].name = "conv1", /layers\[3\]\.name must be a unique non-empty string/);
  bad(
    (c) => c.layers.splice(1, 0, { kind: "relu" }),
    /layers\[2\] \(relu\) must be right after a conv or fc layer/,
  );
  bad((c) => c.layers.splice(15, 1), /layers\[15\] \(fc "fc6"\) must be after a flatten/);
  bad((c) => c.layers.splice(22), /the network's output must be 10 features \(classes\), got 128/);
  bad((c) => c.storedSize = 16, /storedSize must be an integer >= inputSize \(32\), got 16/);
  bad((c) => (c as { inChannels: number }).inChannels = 1, /inChannels must be 3/);
  // A pyramid that collapses is reported at the layer where it does.
  bad(
    (c) => c.inputSize = c.storedSize = 8,
    /layers\[14\] \(maxpool "pool5"\) must be applied to a side >= 3/,
  );
  bad((c) => c.layers = [], /layers must be a non-empty array of layers/);
  assert.throws(() => validateConfig(null), /config \(unnamed\): the config must be an object/);
  for (const c of Object.values(configs)) validateConfig(structuredClone(c));
});

Deno.test("a config in the fixed five-conv form older checkpoints hold becomes its table", () => {
  const conv = (
    out: number,
    k: number,
    s: number,
    p: number,
    groups: number,
    lrn: boolean,
    pool: boolean,
  ) => ({ out, kernel: k, stride: s, padding: p, groups, lrn, pool, relu: true });
  const legacy = {
    name: "tiny",
    inputSize: 32,
    storedSize: 36,
    inChannels: 3,
    classes: 10,
    conv: [
      conv(16, 5, 1, 2, 1, true, true),
      conv(32, 5, 1, 2, 2, true, true),
      conv(48, 3, 1, 1, 1, false, false),
      conv(48, 3, 1, 1, 2, false, false),
      conv(32, 3, 1, 1, 2, false, true),
    ],
    fc: [128, 128],
    dropout: 0.5,
    lrn: { size: 5, alpha: 1e-4, beta: 0.75, k: 2 },
    pool: { size: 3, stride: 2 },
  };
  assert.deepEqual(validateConfig(legacy), configs.tiny);
});

Deno.test("splitParameter/joinParameter: halves are the first-dimension slices", () => {
  const cfg = configFor("tiny", 5); // odd classes: fc8 splits 3 / 2
  for (const p of parameterShapes(cfg)) {
    const whole = new Float32Array(sizeOf(p.shape)).map((_, i) => i);
    const [h0, h1] = splitParameter(p.name, whole, cfg);
    assert.equal(h0.length, sizeOf(p.columns[0]), p.name);
    assert.equal(h1.length, sizeOf(p.columns[1]), p.name);
    // Column 1's first element is output unit ceil(out/2), input 0 of the whole tensor.
    const row = sizeOf(p.shape.slice(1));
    assert.equal(h1[0], Math.ceil(p.shape[0] / 2) * row, p.name);
    assert.deepEqual(joinParameter(p.name, [h0, h1], cfg), whole, p.name);
  }
  assert.deepEqual(parameterShapes(cfg).at(-2)!.columns, [[3, 128], [2, 128]]);
  // conv2 is grouped: column 1's half holds output channels 16..31, each over its own
  // 8 input channels (PyTorch group 1 = column 1).
  const conv2 = new Float32Array(32 * 8 * 25).map((_, i) => i);
  const [, c1] = splitParameter("conv2.weight", conv2, cfg);
  assert.equal(c1[0], 16 * 8 * 25);
  // Momentum buffers split like their parameter.
  assert.equal(splitParameter("fc6.bias.momentum", new Float32Array(128), cfg)[0].length, 64);
  assert.throws(
    () => splitParameter("fc6.weight", new Float32Array(3), cfg),
    /splitParameter fc6\.weight: expected 36864 elements \[128,288\], got 3/,
  );
  assert.throws(
    () => splitParameter("fc9.bias", new Float32Array(3), cfg),
    /no parameter named "fc9\.bias"/,
  );
  assert.throws(
    () => joinParameter("fc8.bias", [new Float32Array(2), new Float32Array(3)], cfg),
    /joinParameter fc8\.bias: column 0 expected 3 elements \[3\], got 2/,
  );
});

Deno.test("paper init: N(0, 0.01) weights, biases 1 in conv2/4/5 and fc6/7, 0 elsewhere", () => {
  const cfg = configs.tiny;
  const w = initParameters(cfg, 7);
  assert.deepEqual([...w.keys()], parameterShapes(cfg).map((p) => p.name));
  for (const p of parameterShapes(cfg)) {
    const d = w.get(p.name)!;
    assert.equal(d.length, sizeOf(p.shape));
    if (p.name.endsWith(".bias")) {
      // The paper's section 5, by hand: 1 in conv2, conv4, conv5, fc6, fc7.
      const one = ["conv2", "conv4", "conv5", "fc6", "fc7"].includes(p.name.split(".")[0]);
      assert.ok(d.every((v) => v === (one ? 1 : 0)), p.name);
    }
  }
  const fc6 = w.get("fc6.weight")!;
  const mean = fc6.reduce((a, b) => a + b, 0) / fc6.length;
  const std = Math.sqrt(fc6.reduce((a, b) => a + (b - mean) ** 2, 0) / fc6.length);
  assert.ok(Math.abs(mean) < 3e-4, `mean ${mean}`); // 36864 draws: 5 sigma = 2.6e-4
  assert.ok(Math.abs(std - 0.01) < 2e-4, `std ${std}`);
  // Seeded: same seed, same weights; another seed, other weights.
  assert.deepEqual(initParameters(cfg, 7).get("conv1.weight"), w.get("conv1.weight"));
  assert.notDeepEqual(initParameters(cfg, 8).get("conv1.weight"), w.get("conv1.weight"));
});

Deno.test("kaiming init: std sqrt(2 / fan_in) and zero biases; std override", () => {
  const w = initParameters(configs.tiny, 3, { scheme: "kaiming" });
  const fc6 = w.get("fc6.weight")!; // fan_in 288
  const std = Math.sqrt(fc6.reduce((a, b) => a + b * b, 0) / fc6.length);
  assert.ok(Math.abs(std / Math.sqrt(2 / 288) - 1) < 0.03, `std ${std}`);
  assert.ok(w.get("conv2.bias")!.every((v) => v === 0));
  const big = initParameters(configs.tiny, 3, 0.1).get("fc7.weight")!;
  const s = Math.sqrt(big.reduce((a, b) => a + b * b, 0) / big.length);
  assert.ok(Math.abs(s - 0.1) < 0.003, `std ${s}`);
  assert.throws(() => initParameters(configs.tiny, 3, { std: -1 }), /std must be a positive/);
});

Deno.test("Rng: xoshiro128** reference sequence", () => {
  // Reference outputs of xoshiro128** from state {1, 2, 3, 4} (the authors' C code).
  const r = Rng.fromState({ algorithm: "xoshiro128**", state: [1, 2, 3, 4] });
  const got = Array.from({ length: 6 }, () => r.nextU32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

Deno.test("Rng: state round-trips through JSON and resumes the same sequence", () => {
  const a = new Rng(123, "shuffle");
  for (let i = 0; i < 10; i++) a.nextU32();
  const saved = JSON.parse(JSON.stringify(a.getState()));
  const expect = Array.from({ length: 5 }, () => a.normal());
  const b = Rng.fromState(saved);
  assert.deepEqual(Array.from({ length: 5 }, () => b.normal()), expect);
  assert.notEqual(new Rng(123, "augment").nextU32(), new Rng(123, "shuffle").nextU32());
  assert.notEqual(new Rng(1).nextU32(), new Rng(2).nextU32());
  assert.throws(() => b.setState({ algorithm: "xoshiro128**", state: [0, 0, 0, 0] }), /all zero/);
  assert.throws(
    () => Rng.fromState({ algorithm: "xoshiro128**", state: [1, 2, 3] } as never),
    /rng state\.state: expected four u32 integers/,
  );
  assert.throws(() => new Rng(-1), /seed must be a non-negative safe integer/);
});

Deno.test("Rng: int is in range and roughly uniform; shuffle is a permutation", () => {
  const r = new Rng(5);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `counts ${counts}`);
  const xs = r.shuffle(Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual([...xs].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(xs, Array.from({ length: 100 }, (_, i) => i));
  const u = Array.from({ length: 20_000 }, () => r.uniform());
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const n = r.fillNormal(new Float32Array(20_001), 2, 3);
  const mean = n.reduce((a, b) => a + b, 0) / n.length;
  const sd = Math.sqrt(n.reduce((a, b) => a + (b - mean) ** 2, 0) / n.length);
  assert.ok(Math.abs(mean - 2) < 0.1 && Math.abs(sd - 3) < 0.1, `${mean} ${sd}`);
});
