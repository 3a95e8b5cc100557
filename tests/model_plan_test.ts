import assert from "node:assert/strict";
import { configFor, configs, parameterShapes, sizeOf } from "../model/config.ts";
import { MemoryPlanError } from "../errors.ts";
import {
  accountedBytes,
  checkMemoryPlan,
  computeMemoryPlan,
  type ExchangeStage,
  networkStages,
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

Deno.test("which layers cross columns follows the config's groups (data, not code)", () => {
  const cfg = configFor("tiny", 7);
  cfg.conv[3].groups = 1; // conv4 now reads both columns
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
