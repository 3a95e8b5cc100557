// The inference network (predict's): no gradients, momentum or backward buffers, and
// exactly the training network's probabilities for the same weights and images.

import assert from "node:assert/strict";
import { AlexNet, Recorder } from "../model/alexnet.ts";
import { classify } from "../model/classify.ts";
import { configFor } from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { computeMemoryPlan } from "../model/plan.ts";
import { TrainStep } from "../model/step.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";
import { rng } from "../reference/rand.ts";

const cfg = configFor("tiny", 10);

Deno.test("the inference plan drops gradients, momentum and backward exchanges only", () => {
  for (const columns of [1, 2] as const) {
    const train = computeMemoryPlan(cfg, 8, columns);
    const infer = computeMemoryPlan(cfg, 8, columns, { inference: true });
    const roles = new Set(infer.tensors.map((t) => t.role));
    for (const r of ["gradient", "parameterGrad", "momentum"] as const) assert.ok(!roles.has(r), r);
    // Everything else is the same tensor with the same shape.
    const kept = new Map(infer.tensors.map((t) => [t.key, t.shape.join()]));
    for (const t of train.tensors) {
      const dropped = ["gradient", "parameterGrad", "momentum"].includes(t.role) ||
        /\.(send|recv)$/.test(t.key);
      assert.equal(kept.get(t.key), dropped ? undefined : t.shape.join(), t.key);
    }
    for (const [c, bytes] of infer.perColumn.entries()) {
      assert.ok(bytes < 0.7 * train.perColumn[c], `${bytes} vs ${train.perColumn[c]}`);
    }
  }
});

Deno.test(
  "an inference network classifies exactly as the training network does",
  GPU_TEST,
  async () => {
    const columns = (await gpuColumns()).columns;
    const S = cfg.storedSize, batch = 4;
    const weights = initParameters(cfg, 7, { scheme: "kaiming" });
    const r = rng(11);
    const images = new Uint8Array(batch * S * S * 3).map(() => Math.floor(256 * r()));
    const mean = new Float32Array(3 * S * S).fill(120);
    const probs: Float32Array[] = [];
    for (const inference of [false, true]) {
      const net = await AlexNet.create({ config: cfg, batch, columns, inference });
      try {
        net.writeParameters(weights);
        const step = await TrainStep.create(net, { mean, inputScale: 1 / 64 });
        probs.push(await classify(step, images, batch, { tenCrop: true }));
        if (inference) {
          await assert.rejects(
            () => net.backward(new Recorder(net.columns, "x"), 0),
            /created for inference only/,
          );
          assert.throws(() => net.clearMomentum(), /created for inference only/);
        }
        step.dispose();
      } finally {
        net.dispose();
      }
    }
    assert.deepEqual(probs[1], probs[0]);
  },
);
