// prepare over folders of real encoded images built here with sharp (through
// data/decode.ts): formats, crops, bad inputs, statistics, resume.

import assert from "node:assert/strict";
import { type EncodeFormat, encodeImage, probeImage, type RawImage } from "../data/decode.ts";
import { openPrepared } from "../data/dataset.ts";
import { listSource, prepareFolder } from "../data/prepare.ts";
import { ShardReader } from "../data/_shard_reader.ts";
import { eigenResidual, meanImage, rgbCovariance } from "../reference/data.ts";

const S = 16;

function solid(w: number, h: number, rgb: number[]): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) data.set(rgb, 3 * p);
  return { data, width: w, height: h, channels: 3 };
}

/** w x h RGB image whose pixel (x, y) is f(x, y). */
function paint(w: number, h: number, f: (x: number, y: number) => number[]): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(f(x, y), 3 * (y * w + x));
  return { data, width: w, height: h, channels: 3 };
}

async function write(path: string, img: RawImage, fmt: EncodeFormat): Promise<Uint8Array> {
  const bytes = await encodeImage(img, fmt);
  await Deno.writeFile(path, bytes);
  return bytes;
}

/** Builds the test source: classes "a_formats", "b_shapes", "c_empty" (empty). */
async function buildSource(root: string): Promise<void> {
  const A = `${root}/a_formats`, B = `${root}/b_shapes`;
  await Deno.mkdir(A, { recursive: true });
  await Deno.mkdir(B, { recursive: true });
  await Deno.mkdir(`${root}/c_empty`);
  const orange = [230, 120, 40];
  await write(`${A}/01.jpg`, solid(40, 30, orange), { kind: "jpeg" });
  const prog = await write(`${A}/02.jpg`, solid(30, 40, orange), {
    kind: "jpeg",
    progressive: true,
  });
  assert.equal((await probeImage(prog)).isProgressive, true);
  const cmyk = await write(`${A}/03.jpg`, solid(32, 32, orange), { kind: "jpeg", cmyk: true });
  assert.equal((await probeImage(cmyk)).space, "cmyk");
  await write(`${A}/04.webp`, solid(50, 20, orange), { kind: "webp", lossless: true });
  await write(`${A}/05.png`, solid(20, 20, orange), { kind: "png" });
  // B: images whose crops are known exactly or nearly.
  // Horizontal bands: 64x32 -> short side 16 (scale 1/2) -> 32x16 -> centre crop = source
  // columns 16..47, which are green; the outer quarters (red, blue) must not show.
  await write(
    `${B}/10_bands.png`,
    paint(64, 32, (x) => x < 16 ? [255, 0, 0] : x < 48 ? [0, 200, 0] : [0, 0, 255]),
    { kind: "png" },
  );
  // Transparent left half over black, opaque white right half.
  const rgba = new Uint8Array(16 * 16 * 4);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      rgba.set(x < 8 ? [255, 255, 255, 0] : [255, 255, 255, 255], 4 * (y * 16 + x));
    }
  }
  await write(`${B}/11_alpha.png`, { data: rgba, width: 16, height: 16, channels: 4 }, {
    kind: "png",
  });
  // Greyscale (1 channel) vertical ramp at exactly S: no resampling, so exact values.
  const grey = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) grey.fill(y * 16, y * S, (y + 1) * S);
  await write(`${B}/12_grey.png`, { data: grey, width: S, height: S, channels: 1 }, {
    kind: "png",
  });
  // EXIF orientation 6 (display = rotate 90 deg clockwise): stored left half red, right
  // half blue; displayed, the left column becomes the top row -> red top, blue bottom.
  const rot = await write(
    `${B}/13_exif.jpg`,
    paint(32, 32, (x) => x < 16 ? [255, 0, 0] : [0, 0, 255]),
    { kind: "jpeg", orientation: 6 },
  );
  assert.equal((await probeImage(rot)).orientation, 6);
  // Bad inputs: all skipped and reported.
  await Deno.writeFile(`${B}/20_zero.jpg`, new Uint8Array(0));
  await Deno.writeFile(`${B}/21_truncated.jpg`, prog.subarray(0, Math.floor(prog.length / 2)));
  const corrupt = new Uint8Array(400).map((_, i) => (i * 37 + 11) & 255);
  corrupt.set([0xff, 0xd8, 0xff, 0xe0]); // looks like a JPEG, is not
  await Deno.writeFile(`${B}/22_corrupt.jpg`, corrupt);
  await Deno.writeTextFile(`${B}/23_notes.txt`, "not an image\n");
  await write(`${B}/24_huge.png`, solid(300, 300, [1, 2, 3]), { kind: "png" });
  await Deno.writeTextFile(`${B}/.DS_Store`, "ignored");
}

const BAD = ["20_zero.jpg", "21_truncated.jpg", "22_corrupt.jpg", "23_notes.txt", "24_huge.png"];

Deno.test("prepare decodes every format, crops as computed, skips and reports bad input", async () => {
  const root = await Deno.makeTempDir({ prefix: "prep-src-" });
  const out = await Deno.makeTempDir({ prefix: "prep-out-" });
  try {
    await buildSource(root);
    const report = await prepareFolder({
      src: root,
      out,
      size: S,
      valFraction: 0,
      limitPixels: 200 * 200,
      shardImages: 3,
      progress: "quiet",
    });
    // Skipped: exactly the five bad inputs, each with a reason; also in report.json.
    assert.deepEqual(report.skipped.map((s) => s.input.split("/").pop()).sort(), BAD);
    assert.ok(report.skipped.every((s) => s.reason.length > 0));
    assert.match(
      report.skipped.find((s) => s.input.endsWith("24_huge.png"))!.reason,
      /pixel limit/,
    );
    const onDisk = JSON.parse(await Deno.readTextFile(`${out}/report.json`));
    assert.equal(onDisk.skipped.length, 5);
    assert.ok(report.warnings.some((w) => /c_empty.*empty/.test(w)), report.warnings.join("; "));

    const ds = await openPrepared(out);
    assert.deepEqual(ds.classes, ["a_formats", "b_shapes", "c_empty"]);
    assert.equal(ds.train.count, 9);
    assert.equal(ds.val.count, 0);
    assert.deepEqual(ds.train.classCounts, [5, 4, 0]);
    const reader = new ShardReader(ds.train);
    const all = reader.read(Int32Array.from({ length: 9 }, (_, i) => i));
    reader.close();
    const img = (i: number) => all.subarray(i * S * S * 3, (i + 1) * S * S * 3);
    const px = (
      i: number,
      x: number,
      y: number,
    ) => [...img(i).subarray(3 * (y * S + x), 3 * (y * S + x) + 3)];
    const near = (a: number[], b: number[], tol: number, what: string) =>
      assert.ok(a.every((v, k) => Math.abs(v - b[k]) <= tol), `${what}: got ${a}, expected ${b}`);

    // a_formats: solid orange in JPEG, progressive, CMYK (via an ICC round trip), WebP, PNG.
    for (let i = 0; i < 5; i++) {
      const tol = i === 2 ? 24 : i === 3 || i === 4 ? 0 : 6;
      for (const [x, y] of [[0, 0], [7, 9], [15, 15]]) {
        near(px(i, x, y), [230, 120, 40], tol, `a[${i}]`);
      }
    }
    // b_shapes, in file order: bands, alpha, grey, exif.
    for (let y = 0; y < S; y++) {
      for (let x = 2; x < S - 2; x++) near(px(5, x, y), [0, 200, 0], 8, `bands (${x},${y})`);
    }
    for (let y = 0; y < S; y++) {
      near(px(6, 2, y), [0, 0, 0], 0, "alpha over black");
      near(px(6, 13, y), [255, 255, 255], 0, "opaque white");
    }
    for (let y = 0; y < S; y++) near(px(7, 5, y), [y * 16, y * 16, y * 16], 0, `grey row ${y}`);
    near(px(8, 8, 1), [255, 0, 0], 40, "exif top");
    near(px(8, 8, 14), [0, 0, 255], 40, "exif bottom");

    // Mean image and PCA against the two-pass CPU reference on the stored pixels.
    const imgs = Array.from({ length: 9 }, (_, i) => img(i));
    const refMean = meanImage(imgs, S);
    ds.mean.forEach((v, i) => assert.ok(Math.abs(v - refMean[i]) < 1e-3, `mean[${i}]`));
    const cov = rgbCovariance(imgs);
    const scale = Math.max(...cov.map(Math.abs));
    assert.ok(eigenResidual(cov, ds.pca.eigvals, ds.pca.eigvecs) < 1e-4 * scale, "pca residual");
    const trace = cov[0] + cov[4] + cov[8];
    assert.ok(Math.abs(ds.pca.eigvals.reduce((a, b) => a + b) - trace) < 1e-4 * trace, "trace");
    assert.match(ds.fingerprint, /^[0-9a-f]{32}$/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("prepare resumes: finished shards are kept, the result is identical", async () => {
  const root = await Deno.makeTempDir({ prefix: "prep-src-" });
  const out = await Deno.makeTempDir({ prefix: "prep-out-" });
  try {
    for (const c of ["x", "y"]) {
      await Deno.mkdir(`${root}/${c}`);
      for (let i = 0; i < 4; i++) {
        await write(
          `${root}/${c}/${i}.png`,
          solid(20 + i, 18, [i * 60, c === "x" ? 10 : 200, 99]),
          { kind: "png" },
        );
      }
    }
    const opts = {
      src: root,
      out,
      size: 8,
      valFraction: 0.25,
      shardImages: 2,
      progress: "quiet" as const,
    };
    const first = await prepareFolder(opts);
    assert.equal(first.writtenShards, 4); // 6 train images (3 shards) + 2 val (1 shard)
    const fp = (await openPrepared(out)).fingerprint;
    // Simulate an interruption: the last train shard lost its completion marker, and the
    // index was never written. A kept shard must not be rewritten.
    const kept = await Deno.stat(`${out}/train-00000.u8`);
    await Deno.remove(`${out}/train-00002.json`);
    await Deno.remove(`${out}/index.json`);
    await assert.rejects(() => openPrepared(out), /no index\.json/);
    const second = await prepareFolder(opts);
    assert.equal(second.writtenShards, 1);
    assert.equal(second.resumedShards, first.writtenShards - 1);
    assert.equal(
      (await Deno.stat(`${out}/train-00000.u8`)).mtime?.getTime(),
      kept.mtime?.getTime(),
    );
    const ds = await openPrepared(out);
    assert.equal(ds.fingerprint, fp);
    assert.equal(ds.train.count + ds.val.count, 8);
    assert.deepEqual(ds.val.classCounts, [1, 1]);
    // Leftover temporary files would mean a non-atomic write.
    for await (const e of Deno.readDir(out)) assert.ok(!e.name.endsWith(".tmp"), e.name);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("prepare: flat folder with a labels file; no-classes and bad-source errors", async () => {
  const root = await Deno.makeTempDir({ prefix: "prep-src-" });
  const out = await Deno.makeTempDir({ prefix: "prep-out-" });
  try {
    await Deno.mkdir(`${root}/flat`);
    await Deno.mkdir(`${root}/none`);
    for (let i = 0; i < 4; i++) {
      await write(`${root}/flat/img_${i}.JPEG`, solid(12, 10, [i * 50, 0, 0]), { kind: "jpeg" });
    }
    await write(`${root}/flat/stray.JPEG`, solid(12, 10, [0, 0, 0]), { kind: "jpeg" });
    await Deno.writeTextFile(
      `${root}/labels.csv`,
      "ImageId,PredictionString\nimg_0,n02 1 2 3 4\nimg_1,n01\nimg_2.JPEG n02\nimg_3 n01\nimg_9 n01\n",
    );
    const listing = await listSource(`${root}/flat`, `${root}/labels.csv`);
    assert.deepEqual(listing.classes, ["n01", "n02"]);
    assert.deepEqual(listing.unlabelled, ["stray.JPEG"]);
    assert.ok(listing.warnings.some((w) => /1 labelled files were not found/.test(w)));
    const report = await prepareFolder({
      src: `${root}/flat`,
      labels: `${root}/labels.csv`,
      out,
      size: 8,
      valFraction: 0,
      progress: "quiet",
    });
    assert.deepEqual(report.skipped.map((s) => s.input), ["stray.JPEG"]);
    const ds = await openPrepared(out);
    assert.deepEqual([...ds.train.labels], [1, 0, 1, 0]);
    await assert.rejects(
      () => prepareFolder({ src: `${root}/none`, out, progress: "quiet" }),
      /no class folders/,
    );
    await assert.rejects(
      () => prepareFolder({ src: `${root}/flat`, out, progress: "quiet" }),
      /no class folders.*--labels/,
    );
    await assert.rejects(() => prepareFolder({ src: `${root}/missing`, out }), /source .*missing/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});
