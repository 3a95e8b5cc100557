// The two-column plan: one device holding both halves and two devices exchanging through
// the host compute the same thing; the plan's bytes are what the columns account; a
// training step allocates nothing after the first.

import assert from "node:assert/strict";
import { AlexNet } from "../model/alexnet.ts";
import { configFor } from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { computeMemoryPlan } from "../model/plan.ts";
import { TrainStep } from "../model/step.ts";
import { assertClose } from "../reference/assert.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";

const cfg = configFor("tiny", 10);
const BATCH = 4;
const S = cfg.storedSize;

function batchOf(seed: number) {
  const images = new Uint8Array(BATCH * S * S * 3).map((_, i) => (i * 31 + seed * 17) % 251);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => (i * 3 + seed) % 10);
  const augment = {
    oy: Int32Array.from({ length: BATCH }, (_, i) => i % 5),
    ox: Int32Array.from({ length: BATCH }, (_, i) => (i * 2) % 5),
    flip: Uint8Array.from({ length: BATCH }, (_, i) => i % 2),
    alpha: new Float32Array(3 * BATCH).map((_, i) => 0.1 * Math.sin(i)),
  };
  return { images, labels, size: BATCH, augment };
}

const mean = new Float32Array(3 * S * S).fill(120);
const pca = {
  eigvecs: Float32Array.from([0.58, -0.7, 0.41, 0.58, 0, -0.82, 0.58, 0.7, 0.41]),
  eigvals: Float32Array.from([900, 40, 5]),
};

async function runTwoSteps(count: 1 | 2) {
  const all = (await gpuColumns()).columns;
  const columns = all.slice(0, count);
  const before = columns.map((c) => c.memory.inUse);
  const net = await AlexNet.create({ config: cfg, batch: BATCH, columns, seed: 7 });
  const allocated = columns.map((c, i) => c.memory.inUse - before[i]);
  net.writeParameters(initParameters(cfg, 3, { scheme: "kaiming" }));
  net.clearMomentum();
  const step = await TrainStep.create(net, { mean, pca, inputScale: 1 / 64 });
  const hyper = { lr: 0.01 };
  const first = await step.run(batchOf(1), { step: 0, hyper });
  const created = columns.map((c) => c.memory.created);
  const second = await step.run(batchOf(2), { step: 1, hyper });
  const createdAfter = columns.map((c) => c.memory.created);
  const grads = await net.readParameters("grad");
  const weights = await net.readParameters("weight");
  step.dispose();
  net.dispose();
  return { allocated, first, second, created, createdAfter, grads, weights };
}

Deno.test(
  "1 and 2 columns give the same losses, gradients and updated weights",
  GPU_TEST,
  async () => {
    const one = await runTwoSteps(1);
    const two = await runTwoSteps(2);
    assert.ok(Number.isFinite(one.first.loss) && one.first.loss > 0);
    assert.ok(
      Math.abs(one.first.loss - two.first.loss) <= 1e-5 * one.first.loss,
      `${one.first.loss} vs ${two.first.loss}`,
    );
    assert.ok(Math.abs(one.second.loss - two.second.loss) <= 1e-5 * one.second.loss);
    assert.equal(one.second.top1, two.second.top1);
    for (const [name, g] of one.grads) {
      assertClose(two.grads.get(name)!, g, { rel: 1e-4, what: `grad ${name}` });
      assertClose(two.weights.get(name)!, one.weights.get(name)!, {
        rel: 1e-5,
        what: `weight ${name}`,
      });
    }
  },
);

Deno.test(
  "allocated bytes equal the plan and a step allocates nothing after the first",
  GPU_TEST,
  async () => {
    for (const count of [1, 2] as const) {
      const r = await runTwoSteps(count);
      // Pooled buffers of an earlier model may be reused, so compare what is in use.
      assert.deepEqual(
        r.allocated,
        computeMemoryPlan(cfg, BATCH, count).perColumn,
        `${count} column(s)`,
      );
      assert.deepEqual(r.createdAfter, r.created, `${count} column(s): buffers created by step 2`);
    }
  },
);
