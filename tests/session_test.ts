// The in-memory pieces a browser trains with, against the Deno ones they must repeat:
// fetchDataset holds what openPrepared reads, MemoryBatches yields the Loader's batches
// (order, images and augmentation draws), and a TrainSession's losses are train()'s
// for the same seed and recipe on the same adapter.

import assert from "node:assert/strict";
import { openPrepared } from "../data/dataset.ts";
import { type Batch, Loader } from "../data/loader.ts";
import { fetchDataset, MemoryBatches } from "../data/memory.ts";
import { ensureSynthetic } from "../data/synthetic.ts";
import { DataError } from "../errors.ts";
import { configFor } from "../model/config.ts";
import { recipeFor } from "../model/recipe.ts";
import { TrainSession } from "../model/session.ts";
import { train } from "../model/train.ts";
import { decodeCheckpoint } from "../model/checkpoint_format.ts";
import { decodeWeights } from "../model/classifier.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";

const dir = await Deno.makeTempDir({ prefix: "alexnet-session-" });
await ensureSynthetic({
  size: 36,
  cacheDir: dir,
  trainPerClass: 3,
  valPerClass: 1,
  progress: "quiet",
});
const url = new URL(`file://${dir}/`);
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test("fetchDataset holds the prepared dataset openPrepared reads", async () => {
  const mem = await fetchDataset(url);
  const ds = await openPrepared(dir);
  assert.deepEqual(mem.classes, ds.classes);
  assert.equal(mem.fingerprint, ds.fingerprint);
  assert.deepEqual(mem.mean, ds.mean);
  assert.deepEqual(mem.pca.eigvals, ds.pca.eigvals);
  assert.deepEqual(mem.train.labels, ds.train.labels);
  assert.equal(mem.train.images.length, 30 * 36 * 36 * 3);
  const shard = await Deno.readFile(`${dir}/${ds.val.shards[0].file}`);
  assert.deepEqual(mem.val.images.subarray(0, shard.length), shard);
});

Deno.test("fetchDataset names the file that is missing or has the wrong size", async () => {
  await assert.rejects(
    () => fetchDataset(new URL(`file://${dir}/nothing-here/`)),
    (e) => e instanceof DataError && /nothing-here\/index\.json/.test(e.message),
  );
  const short = (u: RequestInfo | URL) =>
    /\.labels\.i32$/.test(String(u)) ? Promise.resolve(new Response(new Uint8Array(3))) : fetch(u);
  await assert.rejects(
    () => fetchDataset(url, short as typeof fetch),
    (e) =>
      e instanceof DataError && /train\.labels\.i32: expected 120 bytes, got 3/.test(e.message),
  );
});

Deno.test("MemoryBatches yields the Loader's batches, draws included", async () => {
  const mem = await fetchDataset(url);
  const opts = { batch: 7, seed: 5, augment: { cropSize: 32 } };
  const loader = new Loader(await openPrepared(dir), "train", { ...opts, workers: 0 });
  const batches = new MemoryBatches(mem, "train", opts);
  try {
    for (const epoch of [0, 3]) {
      loader.epoch = epoch;
      const want: Batch[] = [];
      for await (const b of loader) want.push(b);
      assert.equal(want.length, 4);
      assert.deepEqual([...batches.epoch(epoch)], want);
    }
  } finally {
    loader.close();
  }
  assert.throws(
    () => new MemoryBatches(mem, "train", { batch: 0, seed: 1 }),
    /MemoryBatches: batch must be a positive integer, got 0/,
  );
  assert.throws(() => batches.at(0, 4), /step must be an integer in 0\.\.3, got 4/);
});

Deno.test("a TrainSession's losses are train()'s for the same seed", GPU_TEST, async () => {
  const { columns } = await gpuColumns();
  const config = configFor("tiny", 10);
  const recipe = { ...recipeFor("tiny"), seed: 3, batch: 8 };
  const ds = await openPrepared(dir);
  const ran = await train({
    dataset: ds,
    config,
    columns,
    epochs: 2,
    maxSteps: 4,
    evalEvery: 0,
    workers: 0,
    schedule: "step",
    stepEpochs: 1,
    ...recipe,
  });
  const session = await TrainSession.create({
    dataset: await fetchDataset(url),
    config,
    columns,
    schedule: "step",
    stepEpochs: 1,
    ...recipe,
  });
  try {
    const losses: number[] = [], lrs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await session.next();
      losses.push(r.loss);
      lrs.push(r.lr);
    }
    // 3 steps per epoch: the 4th is epoch 1's first, at the step schedule's lr / 10.
    assert.deepEqual(lrs, [0.02, 0.02, 0.02, 0.002]);
    assert.equal(session.state.epoch, 1);
    for (let i = 0; i < 4; i++) {
      assert.ok(
        Math.abs(losses[i] - ran.losses[i]) <= 1e-6,
        `step ${i}: session ${losses[i]}, train() ${ran.losses[i]}`,
      );
    }
    const files = await session.checkpoint();
    const ck = decodeCheckpoint(files);
    assert.equal(ck.state.step, 4);
    assert.deepEqual(ck.state.classes, ds.classes);
    const w = decodeWeights(files);
    assert.deepEqual(w.weights.get("conv1.weight"), ck.weights.get("conv1.weight"));
  } finally {
    session.dispose();
  }
});

Deno.test("decodeWeights refuses a model file of another save, naming it", GPU_TEST, async () => {
  const { columns } = await gpuColumns();
  const mk = async () => {
    const s = await TrainSession.create({
      dataset: await fetchDataset(url),
      config: configFor("tiny", 10),
      columns,
      batch: 8,
      init: "kaiming",
    });
    try {
      return await s.checkpoint();
    } finally {
      s.dispose();
    }
  };
  const [a, b] = [await mk(), await mk()];
  assert.throws(
    () => decodeWeights({ model: a.model, state: b.state }, "ck"),
    /ck\/model\.safetensors: belongs to save .* but state\.json is save/,
  );
});
