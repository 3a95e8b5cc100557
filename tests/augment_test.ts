import assert from "node:assert/strict";
import {
  Augment,
  centreCropParams,
  centreOffset,
  pcaLighting,
  tenCropParams,
  trainCropParams,
} from "../kernels/augment.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { rng, uniform } from "../reference/rand.ts";
import { augmentRef, sliceCrop } from "../reference/augment.ts";

function randomImages(n: number, S: number, C: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n * S * S * C }, () => Math.floor(r() * 256));
}

Deno.test("reference crop+flip matches a 2x2 crop by hand", () => {
  // One 3x3 RGB image: pixel (y, x) channel c = 100*c + 10*y + x. Mean 1 everywhere.
  const S = 3, img = new Uint8Array(27);
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 3; x++) {
      for (let c = 0; c < 3; c++) img[(y * 3 + x) * 3 + c] = 100 * c + 10 * y + x;
    }
  }
  const mean = new Float32Array(27).fill(1);
  // Crop at (1, 1), flipped, lighting [0.5, 0, -2], scale 2.
  const params = new Float32Array([0, 1, 1, 1, 0.5, 0, -2, 0]);
  const out = augmentRef(img, mean, params, {
    numImages: 1,
    srcSize: S,
    cropSize: 2,
    channels: 3,
    scale: 2,
  });
  // channel 0 rows: source rows 1,2 cols 2,1 -> [12, 11], [22, 21]; (v - 1 + 0.5) * 2
  assert.deepEqual([...out.subarray(0, 4)], [23, 21, 43, 41]);
  // channel 2: [212, 211], [222, 221]; (v - 1 - 2) * 2
  assert.deepEqual([...out.subarray(8, 12)], [418, 416, 438, 436]);
});

Deno.test("pcaLighting matches the formula by hand", () => {
  // Column i of eigvecs is p_i. P = [[1, 2, 0], [0, 1, 0], [3, 0, 1]] (row-major).
  const P = new Float32Array([1, 2, 0, 0, 1, 0, 3, 0, 1]);
  const l = new Float32Array([2, 3, 5]);
  // a*l = [0.2, -0.3, 0.5] -> P @ [0.2, -0.3, 0.5] = [0.2 - 0.6, -0.3, 0.6 + 0.5]
  const rgb = pcaLighting(P, l, [0.1, -0.1, 0.1]);
  assertClose(rgb, [-0.4, -0.3, 1.1], { rel: 1e-6 });
  assert.throws(() => pcaLighting(new Float32Array(3), l, [0, 0, 0]), /augment.pcaLighting/);
  // The square root of a rounding-negative eigenvalue (greyscale data) is NaN: refused.
  assert.throws(
    () => pcaLighting(P, new Float32Array([149.5, 0, NaN]), [0.1, 0.1, 0.1]),
    /lighting offset is not finite \(eigvals \[149.5, 0, NaN\]/,
  );
});

Deno.test("crop param helpers: offsets in range, ten-crop order, centre rounding", () => {
  const r = rng(1);
  const p = trainCropParams(r, 500, Array.from({ length: 500 }, (_, i) => i % 7), 9, 4);
  let flips = 0;
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    assert.equal(p[i * 8], i % 7);
    for (const o of [p[i * 8 + 1], p[i * 8 + 2]]) {
      assert.ok(o >= 0 && o <= 5 && Number.isInteger(o));
    }
    seen.add(p[i * 8 + 1]);
    flips += p[i * 8 + 3];
    assert.deepEqual([...p.subarray(i * 8 + 4, i * 8 + 8)], [0, 0, 0, 0], "no lighting asked");
  }
  assert.equal(seen.size, 6, "every offset 0..5 occurs, including both edges");
  assert.ok(flips > 200 && flips < 300, `flips ${flips}`);
  assert.deepEqual(
    [...tenCropParams([3], 6, 4)],
    [
      [3, 0, 0, 0],
      [3, 0, 2, 0],
      [3, 2, 0, 0],
      [3, 2, 2, 0],
      [3, 1, 1, 0],
      [3, 0, 0, 1],
      [3, 0, 2, 1],
      [3, 2, 0, 1],
      [3, 2, 2, 1],
      [3, 1, 1, 1],
    ].flatMap((q) => [...q, 0, 0, 0, 0]),
  );
  assert.equal(centreOffset(256, 224), 16);
  assert.equal(centreOffset(7, 4), 2); // round(1.5) = 2
  assert.equal(centreOffset(6, 1), 2); // round(2.5) = 2, half to even like torchvision
  assert.deepEqual([...centreCropParams([4], 256, 224)], [4, 16, 16, 0, 0, 0, 0, 0]);
  assert.throws(
    () => tenCropParams([0], 4, 5),
    /augment.tenCropParams: cropSize 5 must be <= srcSize 4/,
  );
  assert.throws(
    () => trainCropParams(r, 2, [0], 8, 4),
    /srcIndices has 1 entries, expected count 2/,
  );
  assert.throws(() => centreCropParams([-1], 8, 4), /srcIndices\[0\] must be an integer/);
});

async function runAugment(
  images: Uint8Array,
  mean: Float32Array,
  params: Float32Array,
  shape: {
    numImages: number;
    srcSize: number;
    cropSize: number;
    channels: number;
    scale: number | number[];
  },
): Promise<Float32Array> {
  const col = await gpu();
  const { numImages, srcSize: S, cropSize: K, channels: C, scale } = shape;
  const count = params.length / 8;
  const aug = await Augment.create(col, { count, srcSize: S, cropSize: K, channels: C, scale });
  using img = Tensor.from(col, images, [numImages, S, S, C], "images");
  using m = Tensor.from(col, mean, [C, S, S], "mean");
  using p = Tensor.from(col, params, [count, 8], "params");
  using out = Tensor.from(col, uniform(count * C * K * K, 1), [count, C, K, K], "out", "f32");
  const enc = new Encoder(col);
  aug.run(enc, { images: img, mean: m, params: p, out });
  enc.submit();
  return await out.read();
}

Deno.test(
  "augment matches the reference with random crops, flips and lighting",
  GPU_TEST,
  async () => {
    // Odd sizes: pixels straddle u32 words; 13 crops of 7x7 from 11x11.
    const shape = { numImages: 5, srcSize: 11, cropSize: 7, channels: 3, scale: 1 / 64 };
    const images = randomImages(5, 11, 3, 2);
    const mean = uniform(3 * 11 * 11, 3, 0, 255);
    const lighting = {
      eigvecs: uniform(9, 4),
      eigvals: uniform(3, 5, 0, 100),
      std: 0.1,
    };
    const params = trainCropParams(rng(6), 13, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 2, 2, 2], 11, 7, {
      lighting,
    });
    params.set([1, 0, 0, 1], 0); // edge offsets: 0 and srcSize - cropSize
    params.set([3, 4, 4, 0], 8);
    params.set([4, 0, 4, 1], 16);
    const got = await runAugment(images, mean, params, shape);
    assertClose(got, augmentRef(images, mean, params, shape), {
      shape: [13, 3, 7, 7],
      what: "augment",
    });
  },
);

Deno.test("augment with a scale per channel (torchvision's normalisation)", GPU_TEST, async () => {
  // (p - 255 m_c) / (255 s_c) with ImageNet's mean and std: the mean image holds 255 m_c.
  const m = [0.485, 0.456, 0.406], sd = [0.229, 0.224, 0.225];
  const shape = {
    numImages: 2,
    srcSize: 9,
    cropSize: 8,
    channels: 3,
    scale: sd.map((v) => 1 / (255 * v)),
  };
  const images = randomImages(2, 9, 3, 12);
  const mean = Float32Array.from({ length: 3 * 81 }, (_, i) => 255 * m[Math.floor(i / 81)]);
  const params = trainCropParams(rng(13), 3, [0, 1, 1], 9, 8, {});
  const got = await runAugment(images, mean, params, shape);
  assertClose(got, augmentRef(images, mean, params, shape), {
    shape: [3, 3, 8, 8],
    what: "augment",
  });
  // By hand: pixel 255 of channel 0 becomes (1 - 0.485) / 0.229.
  const one = await runAugment(new Uint8Array(2 * 81 * 3).fill(255), mean, params, shape);
  assert.ok(Math.abs(one[0] - (1 - 0.485) / 0.229) < 1e-5, `${one[0]}`);
  await assert.rejects(
    async () => Augment.create(await gpu(), { count: 1, srcSize: 4, cropSize: 2, scale: [1, 2] }),
    /augment: scale must be a finite number or 3 finite numbers \(one per channel\), got \[1,2\]/,
  );
});

Deno.test(
  "augment: ten-crop params produce the 10 expected crops; channels 1",
  GPU_TEST,
  async () => {
    const S = 6, K = 4, C = 1;
    const images = randomImages(2, S, C, 7);
    const mean = new Float32Array(C * S * S);
    const got = await runAugment(images, mean, tenCropParams([1, 0], S, K), {
      numImages: 2,
      srcSize: S,
      cropSize: K,
      channels: C,
      scale: 1,
    });
    const corners = [[0, 0], [0, 2], [2, 0], [2, 2], [1, 1]];
    for (const [k, src] of [1, 0].entries()) {
      for (let j = 0; j < 10; j++) {
        const [oy, ox] = corners[j % 5];
        const want = sliceCrop(images, src, oy, ox, j >= 5, S, K, C);
        const at = (k * 10 + j) * C * K * K;
        assert.deepEqual(got.subarray(at, at + C * K * K), want, `image ${src} crop ${j}`);
      }
    }
  },
);

Deno.test("augment writes zeros for out-of-range params", GPU_TEST, async () => {
  const shape = { numImages: 2, srcSize: 5, cropSize: 3, channels: 3, scale: 1 };
  const images = randomImages(2, 5, 3, 8);
  const mean = new Float32Array(75);
  const params = new Float32Array([
    ...[1, 2, 2, 0, 0, 0, 0, 0], // valid (edge)
    ...[2, 0, 0, 0, 0, 0, 0, 0], // no image 2
    ...[0, 3, 0, 0, 0, 0, 0, 0], // window past the bottom
    ...[0, -1, 0, 0, 0, 0, 0, 0], // negative offset
  ]);
  const got = await runAugment(images, mean, params, shape);
  assertClose(got.subarray(0, 27), augmentRef(images, mean, params.subarray(0, 8), shape), {
    what: "valid crop",
  });
  assert.ok(got.subarray(27).every((v) => v === 0), "invalid crops are zero");
});

Deno.test("augment rejects bad parameters and tensors", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(
    () => Augment.create(col, { count: 2, srcSize: 4, cropSize: 5 }),
    /augment: cropSize 5 must be <= srcSize 4/,
  );
  await assert.rejects(
    () => Augment.create(col, { count: 2, srcSize: 4, cropSize: 2, channels: 5 }),
    /augment: channels must be 1 to 4/,
  );
  await assert.rejects(
    () => Augment.create(col, { count: 0, srcSize: 4, cropSize: 2 }),
    /augment: count must be a positive integer/,
  );
  await assert.rejects(
    () => Augment.create(col, { count: 1, srcSize: 4, cropSize: 2, scale: Infinity }),
    /augment: scale must be a finite number/,
  );
  const aug = await Augment.create(col, { count: 2, srcSize: 4, cropSize: 2 });
  using images = Tensor.empty(col, [3, 4, 4, 3], "images", "u8");
  using imagesF = Tensor.empty(col, [3, 4, 4, 3], "imagesF");
  using mean = Tensor.empty(col, [3, 4, 4], "mean");
  using params = Tensor.empty(col, [2, 8], "params");
  using out = Tensor.empty(col, [2, 3, 2, 2], "out");
  using outBad = Tensor.empty(col, [2, 3, 4, 4], "outBad");
  const enc = new Encoder(col);
  assert.throws(
    () => aug.run(enc, { images: imagesF, mean, params, out }),
    /augment.run: images \(imagesF\) must be u8/,
  );
  assert.throws(
    () => aug.run(enc, { images, mean, params, out: outBad }),
    /augment.run: out \(outBad\) must have shape \[2,3,2,2\]/,
  );
  assert.throws(
    () => aug.run(enc, { images, mean: out, params, out }),
    /augment.run: mean \(out\) must have shape \[3,4,4\]/,
  );
});
