import assert from "node:assert/strict";
import { openDataset } from "../data/dataset.ts";
import { ensureSynthetic, SYNTHETIC_CLASSES, syntheticSvg } from "../data/synthetic.ts";
import { ShardReader } from "../data/_shard_reader.ts";

Deno.test("synthetic SVGs are deterministic and vary", () => {
  const p = { size: 36, seed: 0, split: "train" as const, label: 2, index: 5 };
  assert.equal(syntheticSvg(p).svg, syntheticSvg(p).svg);
  assert.notEqual(syntheticSvg(p).svg, syntheticSvg({ ...p, index: 6 }).svg);
  assert.notEqual(syntheticSvg(p).svg, syntheticSvg({ ...p, seed: 1 }).svg);
  assert.notEqual(syntheticSvg(p).svg, syntheticSvg({ ...p, split: "val" }).svg);
  assert.ok(SYNTHETIC_CLASSES.length >= 10);
});

Deno.test("synthetic dataset: same seed gives the same bytes, balanced, cached", async () => {
  const a = await Deno.makeTempDir({ prefix: "syn-a-" });
  const b = await Deno.makeTempDir({ prefix: "syn-b-" });
  try {
    const spec = { size: 20, trainPerClass: 4, valPerClass: 2, progress: "quiet" as const };
    const da = await openDataset({ kind: "synthetic", ...spec, cacheDir: a });
    await ensureSynthetic({ ...spec, cacheDir: b });
    const db = await openDataset({ kind: "synthetic", ...spec, cacheDir: b });
    assert.equal(da.fingerprint, db.fingerprint);
    for (const sh of da.train.shards) {
      assert.deepEqual(
        await Deno.readFile(`${a}/${sh.file}`),
        await Deno.readFile(`${b}/${sh.file}`),
      );
    }
    assert.deepEqual(da.train.classCounts, new Array(10).fill(4));
    assert.deepEqual(da.val.classCounts, new Array(10).fill(2));
    assert.equal(da.imageSize, 20);
    // Images are not blank: every one has a wide range of values.
    const reader = new ShardReader(da.train);
    const all = reader.read(Int32Array.from({ length: 40 }, (_, i) => i));
    reader.close();
    for (let i = 0; i < 40; i++) {
      const img = all.subarray(i * 1200, (i + 1) * 1200);
      assert.ok(Math.max(...img) - Math.min(...img) > 60, `image ${i} has contrast`);
    }
    // Cached: a second open does not rebuild (index untouched) and is fast.
    const before = (await Deno.stat(`${a}/index.json`)).mtime?.getTime();
    const t0 = performance.now();
    await openDataset({ kind: "synthetic", ...spec, cacheDir: a });
    assert.ok(performance.now() - t0 < 500);
    assert.equal((await Deno.stat(`${a}/index.json`)).mtime?.getTime(), before);
    // Another seed is another dataset (and rebuilds the cache).
    const dc = await openDataset({ kind: "synthetic", ...spec, seed: 1, cacheDir: a });
    assert.notEqual(dc.fingerprint, da.fingerprint);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});
