// IDX parsing and Fashion-MNIST conversion on small IDX files built here (the tests do
// not need the real dataset).

import assert from "node:assert/strict";
import { ensureFashionMnist, FASHION_MNIST_CLASSES } from "../data/fashion_mnist.ts";
import { openDataset } from "../data/dataset.ts";
import { encodeIdx, maybeGunzip, parseIdx, resizeGreyToRgb } from "../data/idx.ts";
import { ShardReader } from "../data/_shard_reader.ts";

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("parseIdx reads valid files and rejects bad magic, type, dims and lengths", () => {
  const ok = encodeIdx([2, 3], new Uint8Array([1, 2, 3, 4, 5, 6]));
  assert.deepEqual(parseIdx(ok, "x").dims, [2, 3]);
  assert.deepEqual([...parseIdx(ok, "x", 2).data], [1, 2, 3, 4, 5, 6]);
  const badMagic = ok.slice();
  badMagic[0] = 0x1f;
  assert.throws(() => parseIdx(badMagic, "f"), /f: bad IDX magic 0x1f000802/);
  const badType = ok.slice();
  badType[2] = 0x0d; // float
  assert.throws(() => parseIdx(badType, "f"), /element type 0xd, expected 0x08/);
  assert.throws(() => parseIdx(ok, "f", 3), /expected 3 IDX dimensions, got 2/);
  assert.throws(
    () => parseIdx(ok.subarray(0, ok.length - 1), "f"),
    /needs 6 bytes .* has 5 \(truncated\)/,
  );
  assert.throws(() => parseIdx(ok.subarray(0, 6), "f"), /truncated IDX header/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 5, 6]), "f"), /trailing/);
  assert.throws(() => parseIdx(new Uint8Array(2), "f"), /too short/);
});

Deno.test("gzip IDX round trip; corrupt gzip is a clear error", async () => {
  const raw = encodeIdx([4], new Uint8Array([9, 8, 7, 6]));
  assert.deepEqual(await maybeGunzip(await gzip(raw)), raw);
  assert.equal(await maybeGunzip(raw), raw, "plain data passes through");
  const broken = (await gzip(raw)).slice(0, 12);
  await assert.rejects(() => maybeGunzip(broken, "t.gz"), /t\.gz: corrupt gzip/);
});

Deno.test("resizeGreyToRgb: identity at the same size, hand-computed bilinear upsample", () => {
  const src = new Uint8Array([10, 20, 30, 40]);
  assert.deepEqual([...resizeGreyToRgb(src, 2, 2, 2)], [
    10,
    10,
    10,
    20,
    20,
    20,
    30,
    30,
    30,
    40,
    40,
    40,
  ]);
  // Columns [0, 255] -> 4 wide, half-pixel centres: x = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
  const up = resizeGreyToRgb(new Uint8Array([0, 255, 0, 255]), 2, 2, 4);
  const row = Array.from({ length: 4 }, (_, x) => up[3 * x]);
  assert.deepEqual(row, [0, 64, 191, 255]);
});

/** Writes a tiny Fashion-MNIST-shaped set: 12 train, 4 test, 28x28 (some files gzipped). */
async function writeFakeFashion(
  dir: string,
  opts: { labelCount?: number; badLabel?: boolean } = {},
) {
  const img = (n: number, off: number) => {
    const d = new Uint8Array(n * 28 * 28);
    for (let i = 0; i < n; i++) d.fill((i + off) * 10, i * 784, (i + 1) * 784);
    return encodeIdx([n, 28, 28], d);
  };
  const lab = (n: number) => encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % 10));
  await Deno.writeFile(`${dir}/train-images-idx3-ubyte.gz`, await gzip(img(12, 0)));
  const trainLabels = lab(opts.labelCount ?? 12);
  if (opts.badLabel) trainLabels[trainLabels.length - 1] = 10;
  await Deno.writeFile(`${dir}/train-labels-idx1-ubyte`, trainLabels);
  await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, img(4, 20));
  await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte.gz`, await gzip(lab(4)));
}

Deno.test("fashion-mnist: converts, caches, maps train/t10k to train/val", async () => {
  const src = await Deno.makeTempDir({ prefix: "fmnist-src-" });
  const cache = await Deno.makeTempDir({ prefix: "fmnist-out-" });
  try {
    await writeFakeFashion(src);
    const ds = await openDataset({ kind: "fashion-mnist", dir: src, size: 32, cacheDir: cache });
    assert.deepEqual(ds.classes, [...FASHION_MNIST_CLASSES]);
    assert.equal(ds.classes.length, 10);
    assert.equal(ds.train.count, 12);
    assert.equal(ds.val.count, 4);
    assert.deepEqual([...ds.train.labels], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    const reader = new ShardReader(ds.val);
    const v = reader.read(new Int32Array([3]));
    reader.close();
    assert.ok(v.every((b) => b === 230), "solid test image 3 (value 230) stays solid at 32x32");
    // Mean of train images (values 0, 10, ..., 110) is 55 everywhere; greyscale PCA is rank one.
    assert.ok(ds.mean.every((m) => Math.abs(m - 55) < 1e-4));
    assert.ok(Math.abs(ds.pca.eigvals[1]) < 1e-3 && ds.pca.eigvals[0] > 0);
    assert.ok(ds.pca.eigvals.every((e) => e >= 0), `clamped: ${[...ds.pca.eigvals]}`);
    assert.equal(ds.pca.colour, false, "greyscale: no colour, so no lighting noise");
    const report = JSON.parse(await Deno.readTextFile(`${cache}/report.json`));
    assert.ok(
      report.warnings.some((w: string) => /no colour .* lighting noise is off/.test(w)),
      JSON.stringify(report.warnings),
    );
    const s = 1 / Math.sqrt(3);
    assert.ok([0, 3, 6].every((k) => Math.abs(ds.pca.eigvecs[k] - s) < 1e-6), "p1 = grey axis");
    // Second open is served from the cache (index unchanged).
    const before = (await Deno.stat(`${cache}/index.json`)).mtime?.getTime();
    const again = await ensureFashionMnist({ dir: src, size: 32, cacheDir: cache });
    assert.equal(again, cache);
    assert.equal((await Deno.stat(`${cache}/index.json`)).mtime?.getTime(), before);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("fashion-mnist: count mismatch, bad labels and missing files are clear errors", async () => {
  const src = await Deno.makeTempDir({ prefix: "fmnist-src-" });
  const cache = await Deno.makeTempDir({ prefix: "fmnist-out-" });
  try {
    await writeFakeFashion(src, { labelCount: 11 });
    await assert.rejects(
      () => ensureFashionMnist({ dir: src, size: 28, cacheDir: cache }),
      /train: 12 images but 11 labels/,
    );
    await writeFakeFashion(src, { badLabel: true });
    await assert.rejects(
      () => ensureFashionMnist({ dir: src, size: 28, cacheDir: cache }),
      /label 10 at 11 is not 0\.\.9/,
    );
    await Deno.remove(`${src}/t10k-images-idx3-ubyte`);
    await writeFakeFashion(src);
    await Deno.remove(`${src}/t10k-images-idx3-ubyte`);
    await assert.rejects(
      () => ensureFashionMnist({ dir: src, size: 28, cacheDir: cache }),
      /t10k-images-idx3-ubyte\(\.gz\) not found/,
    );
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});
