import assert from "node:assert/strict";
import {
  configFor,
  configs,
  type ExchangeStage,
  networkStages,
  parameterShapes,
  sizeOf,
} from "../model/config.ts";
import { MemoryPlanError } from "../errors.ts";
import {
  accountedBytes,
  checkMemoryPlan,
  computeMemoryPlan,
  type PlannedLayer,
  planNetwork,
  type TensorSpec,
} from "../model/plan.ts";

const GiB = 2 ** 30;

Deno.test("paper config at batch 128 fits a 3 GiB GTX 580 per column (from the plan)", () => {
  const plan = computeMemoryPlan(configs.paper, 128, 2);
  assert.equal(plan.perColumn.length, 2);
  for (const [c, bytes] of plan.perColumn.entries()) {
    assert.ok(bytes < 3 * GiB, `column ${c}: ${(bytes / GiB).toFixed(3)} GiB >= 3 GiB`);
  }
  // Each column holds exactly half of the parameters (plus grads and momentum: x3).
  const params = parameterShapes(configs.paper).reduce((s, p) => s + sizeOf(p.shape), 0);
  const held = plan.byRole[0].parameter + plan.byRole[1].parameter;
  assert.ok(held >= params * 4 && held < params * 4 + 64 * 16, `parameter bytes ${held}`);
  assert.equal(plan.byRole[0].momentum, plan.byRole[0].parameter);
});

Deno.test("every paper tensor of one column binds within 128 MiB (fc6's half is 75 MB)", () => {
  const plan = computeMemoryPlan(configs.paper, 128, 2);
  const fc6 = plan.tensors.find((t) => t.key === "h1:fc6.weight")!;
  assert.deepEqual(fc6.shape, [2048, 9216]);
  assert.equal(accountedBytes(fc6), 2048 * 9216 * 4);
  for (const t of plan.tensors) {
    assert.ok(accountedBytes(t) <= 128 * 2 ** 20, `${t.key} [${t.shape}] is over 128 MiB`);
  }
});

Deno.test("the paper's exchange points are exactly conv3, fc6, fc7, fc8 and the logits", () => {
  const ex = networkStages(configs.paper, 128).filter((s) =>
    s.type === "exchange"
  ) as ExchangeStage[];
  assert.deepEqual(ex.map((e) => [e.from, e.to, e.backward]), [
    ["pool2", "conv3", "sum"],
    ["pool5", "fc6", "sum"],
    ["dropout6", "fc7", "sum"],
    ["dropout7", "fc8", "sum"],
    ["fc8", "loss", "slice"],
  ]);
  assert.deepEqual(ex.map((e) => e.shape), [
    [128, 256, 13, 13],
    [128, 9216],
    [128, 4096],
    [128, 4096],
    [128, 1000],
  ]);
  assert.deepEqual(ex[0].parts, [128 * 13 * 13, 128 * 13 * 13]);
});

Deno.test("which layers cross columns follows the layer table's placements (data, not code)", () => {
  const cfg = configFor("tiny", 7);
  const conv4 = cfg.layers.find((l) => l.kind === "conv" && l.name === "conv4")!;
  (conv4 as { placement: string }).placement = "cross"; // conv4 now reads both columns
  const names = networkStages(cfg, 2).filter((s) => s.type === "exchange").map((s) => s.name);
  assert.deepEqual(names, ["conv3.x", "conv4.x", "fc6.x", "fc7.x", "fc8.x", "logits"]);
  // 7 classes: column 0 computes 4 of them, column 1 three.
  const logits = networkStages(cfg, 2).at(-1) as ExchangeStage;
  assert.deepEqual(logits.parts, [4, 3]);
});

Deno.test("one column holds both halves: no exchange buffers, twice the per-half tensors", () => {
  const one = computeMemoryPlan(configs.tiny, 8, 1), two = computeMemoryPlan(configs.tiny, 8, 2);
  assert.equal(one.byRole[0].exchange < two.byRole[0].exchange * 2, true);
  assert.equal(one.byRole[0].parameter, two.byRole[0].parameter + two.byRole[1].parameter);
  assert.ok(!one.tensors.some((t) => t.key.endsWith(".remote")));
});

Deno.test("checkMemoryPlan refuses a batch that cannot fit, naming the tensor and the largest batch that does", () => {
  const limits = { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 };
  checkMemoryPlan(configs.paper, 128, 2, limits); // the paper's batch fits the software adapter
  // Batch 1000: the first tensor over a limit is the u8 image batch (1000 x 256 x 256 x 3
  // bytes = 187.5 MiB); conv1's output half is over from batch 223 (223 x 48 x 55 x 55 f32).
  let message = "";
  assert.throws(() => checkMemoryPlan(configs.paper, 1000, 2, limits), (e) => {
    assert.ok(e instanceof MemoryPlanError);
    message = e.message;
    return true;
  });
  const largest = Number(/the largest batch that fits is (\d+)/.exec(message)?.[1]);
  assert.equal(
    message,
    "config paper at batch 1000 on 2 column(s) does not fit: tensor c0:images needs 187.5 MiB, " +
      "over the device's maxStorageBufferBindingSize of 128.0 MiB; the largest batch that fits is 222",
  );
  // The largest batch is the boundary: it fits, one more does not (checked from the plan).
  const biggestBound = (b: number) =>
    Math.max(
      ...computeMemoryPlan(configs.paper, b, 2).tensors
        .filter((t) => !["parameter", "parameterGrad", "momentum"].includes(t.role))
        .map(accountedBytes),
    );
  assert.ok(biggestBound(largest) <= limits.maxStorageBufferBindingSize, message);
  assert.ok(biggestBound(largest + 1) > limits.maxStorageBufferBindingSize, message);
  // A total budget per column.
  const perColumn = computeMemoryPlan(configs.tiny, 32, 1).perColumn[0];
  checkMemoryPlan(configs.tiny, 32, 1, { ...limits, bytesPerColumn: perColumn });
  assert.throws(
    () => checkMemoryPlan(configs.tiny, 32, 1, { ...limits, bytesPerColumn: perColumn - 1 }),
    /needs .* per column, more than the .* available; the largest batch that fits is 31$/,
  );
  assert.throws(
    () => checkMemoryPlan(configs.tiny, 4, 1, { ...limits, bytesPerColumn: 1000 }),
    /no batch fits$/,
  );
});

Deno.test("the typed plan wires every stage to its input, its gradient and its parameters", () => {
  const plan = planNetwork(configs.tiny, 4, 2);
  const layer = (name: string) =>
    plan.stages.find((s) => s.stage.name === name) as PlannedLayer<TensorSpec>;
  const conv3 = layer("conv3"), pool2 = layer("pool2"), conv4 = layer("conv4");
  // conv3 reads the exchange on its own column and writes its partial input gradient.
  assert.equal(conv3.parts[1].x.key, "c1:conv3.x");
  assert.equal(conv3.parts[1].dX!.key, "h1:conv3.dx");
  assert.equal(conv3.parts[0].weight!.grad!.key, "h0:conv3.weight.grad");
  assert.equal(conv3.parts[0].bias!.momentum!.key, "h0:conv3.bias.v");
  // conv4 reads conv3's output of its own part and writes conv3's dY.
  assert.equal(conv4.parts[1].x, conv3.parts[1].y);
  assert.equal(conv4.parts[1].dX, conv3.parts[1].dY);
  assert.equal(pool2.parts[0].argmax!.dtype, "u32");
  // fc6 reads the exchange of pool5's outputs, flattened.
  assert.deepEqual(layer("fc6").parts[0].x.shape, [4, 288]);
  // The first conv reads the image and has no input gradient.
  assert.equal(layer("conv1").parts[0].x, plan.columns[0].input);
  assert.equal(layer("conv1").parts[0].dX, undefined);
  // An inference plan has no gradients or momentum anywhere.
  const infer = planNetwork(configs.tiny, 4, 1, { inference: true });
  assert.ok(
    infer.tensors.every((t) => !["gradient", "parameterGrad", "momentum"].includes(t.role)),
  );
  assert.equal((infer.stages[0] as PlannedLayer<TensorSpec>).parts[0].dY, undefined);
});

Deno.test("a one-column network plans one part, views fc inputs flat, and refuses two columns", () => {
  const plan = planNetwork(configs.torchvision, 2, 1);
  const fc6 = plan.stages.find((s) => s.stage.name === "classifier.1") as PlannedLayer<TensorSpec>;
  assert.equal(fc6.parts.length, 1);
  // classifier.0 (dropout) wrote [2, 256, 6, 6]; the fc sees the same tensor as [2, 9216].
  assert.equal(fc6.parts[0].x.key, "h0:classifier.0.y");
  assert.deepEqual(fc6.parts[0].x.shape, [2, 9216]);
  assert.ok(!plan.tensors.some((t) => t.key.startsWith("h1:")));
  assert.throws(
    () => planNetwork(configs.torchvision, 2, 2),
    /config torchvision is a one-column network \(every layer "whole"\): open 1 column, not 2/,
  );
});
