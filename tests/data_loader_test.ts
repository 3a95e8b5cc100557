import assert from "node:assert/strict";
import { buildShards } from "../data/build.ts";
import { openPrepared } from "../data/dataset.ts";
import { DataError } from "../errors.ts";
import { augmentParams, type Batch, Loader } from "../data/loader.ts";
import { augmentDraw, epochPermutation } from "../data/rng.ts";
import { PARAMS_PER_CROP } from "../kernels/augment.ts";

const S = 6, N = 23, CLASSES = 3;

/** Image i: every byte encodes i (and the channel), so content proves the index. */
function imageOf(i: number): Uint8Array {
  const img = new Uint8Array(S * S * 3);
  for (let p = 0; p < S * S; p++) img.set([i, (i * 7) & 255, (p + i) & 255], 3 * p);
  return img;
}

async function makeDataset(dir: string) {
  const item = (i: number) => ({
    key: `img${i}`,
    label: i % CLASSES,
    load: () => Promise.resolve(imageOf(i)),
  });
  await buildShards({
    dir,
    name: "toy",
    classes: ["a", "b", "c"],
    imageSize: S,
    source: { kind: "toy" },
    splits: {
      train: Array.from({ length: N }, (_, i) => item(i)),
      val: Array.from({ length: 5 }, (_, i) => item(100 + i)),
    },
    shardImages: 4, // 6 train shards, the last short
    progress: "quiet",
  });
  return await openPrepared(dir);
}

async function collect(loader: Loader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

function checkContent(batches: Batch[], offset = 0) {
  for (const b of batches) {
    assert.equal(b.images.length, b.size * S * S * 3);
    b.indices.forEach((index, k) => {
      const got = b.images.subarray(k * S * S * 3, (k + 1) * S * S * 3);
      assert.deepEqual(got, imageOf(index + offset), `image of index ${index}`);
      assert.equal(b.labels[k], (index + offset) % CLASSES);
    });
  }
}

Deno.test("epochPermutation is a seeded permutation", () => {
  const a = epochPermutation(1000, 5, 0);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(a, epochPermutation(1000, 5, 0));
  assert.notDeepEqual(a, epochPermutation(1000, 5, 1));
  assert.notDeepEqual(a, epochPermutation(1000, 6, 0));
});

Deno.test("loader: deterministic order per seed, every index once, right bytes (workers)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "loader-" });
  try {
    const ds = await makeDataset(dir);
    assert.equal(ds.train.shards.length, 6);
    using l1 = new Loader(ds, "train", {
      batch: 5,
      seed: 9,
      dropLast: false,
      workers: 2,
      prefetch: 3,
    });
    using l2 = new Loader(ds, "train", { batch: 5, seed: 9, dropLast: false, workers: 0 });
    const e0 = await collect(l1), e0b = await collect(l2);
    assert.equal(e0.length, 5);
    assert.deepEqual(e0.map((b) => b.size), [5, 5, 5, 5, 3]);
    const order = e0.flatMap((b) => [...b.indices]);
    assert.deepEqual([...order].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i));
    assert.deepEqual(order, e0b.flatMap((b) => [...b.indices]), "same seed, same order");
    assert.notDeepEqual(order, Array.from({ length: N }, (_, i) => i), "shuffled");
    checkContent(e0);
    checkContent(e0b);
    l1.epoch = 1;
    const e1 = await collect(l1);
    const order1 = e1.flatMap((b) => [...b.indices]);
    assert.notDeepEqual(order1, order, "epochs differ");
    assert.deepEqual([...order1].sort((x, y) => x - y), [...order].sort((x, y) => x - y));
    checkContent(e1);
    assert.ok(e1.every((b) => b.epoch === 1));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: dropLast, val defaults, early break, errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "loader-" });
  try {
    const ds = await makeDataset(dir);
    using train = new Loader(ds, "train", { batch: 5, seed: 1, workers: 1 });
    assert.equal(train.batchCount, 4); // dropLast by default for train
    const seen = (await collect(train)).flatMap((b) => [...b.indices]);
    assert.equal(new Set(seen).size, 20);
    using val = new Loader(ds, "val", { batch: 2, seed: 1, workers: 1 });
    const vb = await collect(val);
    assert.deepEqual(vb.flatMap((b) => [...b.indices]), [0, 1, 2, 3, 4], "val: in order, all");
    checkContent(vb, 100);
    // Stopping early leaves prefetched batches behind; close() must still end cleanly.
    const early = new Loader(ds, "train", { batch: 2, seed: 1, workers: 2, prefetch: 4 });
    for await (const b of early) {
      assert.equal(b.step, 0);
      break;
    }
    early.close();
    await assert.rejects(() => collect(early), /after close/);
    assert.throws(() => new Loader(ds, "train", { batch: 0, seed: 1 }), /Loader: batch/);
    assert.throws(
      () => new Loader(ds, "train", { batch: 2, seed: 1, workers: 0, augment: { cropSize: 7 } }),
      /cropSize/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: augmentation draws depend only on (seed, epoch, index)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "loader-" });
  try {
    const ds = await makeDataset(dir);
    const opts = { seed: 3, workers: 0, augment: { cropSize: 4 } };
    using a = new Loader(ds, "train", { ...opts, batch: 4 });
    using b = new Loader(ds, "train", { ...opts, batch: 7 });
    const draws = new Map<number, string>();
    for (const batch of await collect(a)) {
      batch.indices.forEach((index, k) => {
        const au = batch.augment!;
        assert.ok(au.oy[k] >= 0 && au.oy[k] <= 2 && au.ox[k] >= 0 && au.ox[k] <= 2);
        assert.ok(au.flip[k] === 0 || au.flip[k] === 1);
        const d = augmentDraw(3, 0, index, { srcSize: S, cropSize: 4 });
        assert.deepEqual([au.oy[k], au.ox[k], au.flip[k]], [d.oy, d.ox, d.flip]);
        draws.set(
          index,
          [au.oy[k], au.ox[k], au.flip[k], ...au.alpha.subarray(3 * k, 3 * k + 3)].join(),
        );
      });
    }
    for (const batch of await collect(b)) {
      batch.indices.forEach((index, k) => {
        const au = batch.augment!;
        const key = [au.oy[k], au.ox[k], au.flip[k], ...au.alpha.subarray(3 * k, 3 * k + 3)].join();
        if (draws.has(index)) assert.equal(key, draws.get(index), `index ${index}`);
      });
    }
    // Statistics of the draws over many indices: flips ~ 1/2, alphas ~ N(0, 0.01).
    let flips = 0, s2 = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const d = augmentDraw(1, 2, i, { srcSize: 256, cropSize: 224 });
      flips += d.flip;
      s2 += d.alpha[0] ** 2;
    }
    assert.ok(Math.abs(flips / n - 0.5) < 0.04, `flip rate ${flips / n}`);
    assert.ok(Math.abs(Math.sqrt(s2 / n) - 0.1) < 0.01, `alpha std ${Math.sqrt(s2 / n)}`);
    // Params rows for the GPU augmentation kernel.
    const first = (await collect(a))[0];
    const params = augmentParams(first, ds.pca);
    assert.equal(params.length, first.size * PARAMS_PER_CROP);
    assert.deepEqual([...params.subarray(0, 4)], [
      0,
      first.augment!.oy[0],
      first.augment!.ox[0],
      first.augment!.flip[0],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: a shard truncated after opening fails as a DataError naming it, with or without workers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "loader-" });
  try {
    const ds = await makeDataset(dir);
    const shard = ds.train.shards[2].file;
    const path = shard.startsWith("/") ? shard : `${dir}/${shard}`;
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 7)); // a disk gone bad
    for (const workers of [0, 1]) {
      const loader = new Loader(ds, "train", { batch: 4, seed: 1, shuffle: false, workers });
      try {
        await assert.rejects(() => collect(loader), (e) => {
          assert.ok(e instanceof DataError, `workers ${workers}: ${e}`);
          assert.match((e as Error).message, /truncated shard reading image \d+/);
          assert.ok((e as Error).message.includes(shard), (e as Error).message);
          return true;
        });
      } finally {
        loader.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
