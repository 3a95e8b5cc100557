import assert from "node:assert/strict";
import {
  MaxPool,
  maxpoolForwardWgsl,
  type MaxPoolParams,
  maxPoolShape,
} from "../kernels/maxpool.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import type { Column } from "../kernels/columns.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { rng, uniform } from "../reference/rand.ts";
import { maxpoolBackward, maxpoolForward, type PoolShape } from "../reference/maxpool.ts";

function full(p: MaxPoolParams): PoolShape {
  return { size: 3, stride: 2, padding: 0, ...p } as PoolShape;
}

// ---- the reference itself ----

const HAND_X = [
  [1, 9, 2, 0, 3],
  [4, 0, 7, 8, 1],
  [5, 6, 3, 2, 9],
  [0, 1, 8, 4, 4],
  [2, 7, 3, 5, 6],
].flat();

Deno.test("reference maxpool matches a 1x1x5x5 pool worked by hand", () => {
  const s = full({ batch: 1, channels: 1, height: 5, width: 5 });
  const { y, argmax } = maxpoolForward(HAND_X, s);
  assert.deepEqual([...y], [9, 9, 8, 9]);
  assert.deepEqual([...argmax], [1, 14, 17, 14]); // (0,1) (2,4) (3,2) (2,4)
  // (2,4) is the max of two overlapping windows: it receives 2 + 4.
  const dX = maxpoolBackward(HAND_X, [1, 2, 3, 4], s);
  const want = new Array(25).fill(0);
  want[1] = 1, want[14] = 6, want[17] = 3;
  assert.deepEqual([...dX], want);
});

Deno.test("reference maxpool: ties go to the first maximum, padding is -inf", () => {
  const tie = full({ batch: 1, channels: 1, height: 3, width: 3, size: 2, stride: 1 });
  const dX = maxpoolBackward(new Array(9).fill(7), [1, 1, 1, 1], tie);
  assert.deepEqual([...dX], [1, 1, 0, 1, 1, 0, 0, 0, 0]); // each window's top-left
  const pad = full({ batch: 1, channels: 1, height: 2, width: 2, size: 2, stride: 1, padding: 1 });
  const { y } = maxpoolForward([-1, -2, -3, -4], pad);
  assert.deepEqual([...y], [-1, -1, -2, -1, -1, -2, -3, -3, -4]); // zero padding would give 0s
});

Deno.test("reference maxpool backward matches finite differences (float64)", () => {
  for (const p of [{ size: 3, stride: 2, padding: 0 }, { size: 3, stride: 1, padding: 1 }]) {
    const s = full({ batch: 2, channels: 2, height: 6, width: 7, ...p });
    const r = rng(3);
    // Distinct values at least 1 apart, so a step of eps never changes a window's choice.
    const x = Array.from({ length: 2 * 2 * 6 * 7 }, (_, i) => i).sort(() => r() - 0.5);
    const dY = Array.from(maxpoolForward(x, s).y, () => r() - 0.5);
    const loss = (xs: number[]) => maxpoolForward(xs, s).y.reduce((a, v, i) => a + v * dY[i], 0);
    const dX = maxpoolBackward(x, dY, s);
    const eps = 1e-3;
    for (let i = 0; i < x.length; i++) {
      const up = [...x], down = [...x];
      up[i] += eps, down[i] -= eps;
      const fd = (loss(up) - loss(down)) / (2 * eps);
      assert.ok(Math.abs(fd - dX[i]) < 1e-9, `dX[${i}] = ${dX[i]}, finite difference ${fd}`);
    }
  }
});

// ---- GPU against the reference ----

async function runPool(col: Column, p: MaxPoolParams, xs: Float32Array, dYs?: Float32Array) {
  const pool = await MaxPool.create(col, p);
  const inShape = [p.batch, p.channels, p.height, p.width];
  const outShape = [p.batch, p.channels, pool.outHeight, pool.outWidth];
  const outSize = outShape.reduce((a, b) => a * b);
  const g = dYs ?? uniform(outSize, 77);
  using x = Tensor.from(col, xs, inShape, "x", "f32");
  using y = Tensor.empty(col, outShape, "y");
  using dY = Tensor.from(col, g, outShape, "dY", "f32");
  using dX = Tensor.from(col, new Float32Array(xs.length).fill(123), inShape, "dX", "f32");
  const words = pool.argmaxShape.reduce((a, b) => a * b);
  using argmax = Tensor.from(col, new Uint32Array(words).fill(~0), pool.argmaxShape, "am", "u32");
  const enc = new Encoder(col, "maxpool test");
  pool.forward(enc, { x, y, argmax });
  pool.backward(enc, { argmax, dY, dX });
  enc.submit();
  return {
    y: await y.read(),
    dX: await dX.read(),
    argmax: await argmax.read(),
    dY: g,
    outShape,
    inShape,
    shape: pool.shape,
  };
}

async function checkPool(col: Column, p: MaxPoolParams, xs: Float32Array, what: string) {
  const s = full(p);
  const r = await runPool(col, p, xs);
  const ref = maxpoolForward(xs, s);
  assertClose(r.y, ref.y, { shape: r.outShape, rel: 0, what: `${what} forward` });
  // The packed choices decode to the reference's first maximum, window by window.
  const { outHeight: OH, outWidth: OW, argmaxBits: bits, argmaxPerWord: per } = r.shape;
  const words = r.shape.argmaxWords, size = s.size;
  for (let o = 0; o < ref.argmax.length; o++) {
    const ow = o % OW, oh = Math.floor(o / OW) % OH, row = Math.floor(o / OW);
    const word = r.argmax[row * words + Math.floor(ow / per)];
    const q = Number((BigInt(word) >> BigInt((ow % per) * bits)) & ((1n << BigInt(bits)) - 1n));
    const h = Math.floor(ref.argmax[o] / s.width), w = ref.argmax[o] % s.width;
    const want = (h - oh * s.stride + s.padding) * size + (w - ow * s.stride + s.padding);
    assert.equal(q, want, `${what}: argmax of window ${o} (row ${row}, ow ${ow})`);
  }
  const dX = maxpoolBackward(xs, r.dY, s);
  assertClose(r.dX, dX, { shape: r.inShape, rel: 1e-6, what: `${what} backward` });
}

// [name, params, test every register block?] (each block is a shader compile, ~1-3 s cold)
const CASES: [string, MaxPoolParams, boolean?][] = [
  // Height 8: the last row lies in no window (its gradient is 0); width 9 is covered.
  ["batch 1, 3x3 s2, 8x9", { batch: 1, channels: 3, height: 8, width: 9 }, true],
  ["3x3 s1", { batch: 2, channels: 3, height: 6, width: 5, stride: 1 }],
  ["3x3 s2 padding 1", { batch: 2, channels: 3, height: 7, width: 8, padding: 1 }],
  ["3x3 s1 padding 1", { batch: 1, channels: 2, height: 5, width: 6, stride: 1, padding: 1 }],
  ["2x2 s2", { batch: 2, channels: 3, height: 7, width: 6, size: 2 }],
  ["2x2 s1 padding 1", {
    batch: 1,
    channels: 3,
    height: 4,
    width: 5,
    size: 2,
    stride: 1,
    padding: 1,
  }, true],
  ["3x3 s3 (no overlap)", { batch: 1, channels: 2, height: 9, width: 10, stride: 3 }],
  ["3x3 s4 (gaps)", { batch: 1, channels: 2, height: 11, width: 9, stride: 4 }, true],
  ["window equals the input", { batch: 3, channels: 1, height: 3, width: 3 }],
  ["1x1 s1", { batch: 1, channels: 2, height: 3, width: 4, size: 1, stride: 1 }],
  // Several argmax words per output row, the last one partial (OW 19: 8 + 8 + 3 windows).
  ["3x3 s2, 3 words a row", { batch: 2, channels: 2, height: 9, width: 40 }, true],
  // 5 bits a choice, 6 windows a word (OW 16); 2 bits, 16 a word (OW 38).
  ["5x5 s2 padding 2", {
    batch: 1,
    channels: 2,
    height: 7,
    width: 31,
    size: 5,
    padding: 2,
    forwardBlock: [1, 6],
    backwardBlock: [1, 6],
  }],
  ["2x2 s1, 3 words a row", { batch: 1, channels: 2, height: 3, width: 39, size: 2, stride: 1 }],
];

// Register blocks: one output/tile per invocation (the GPU style), the software default,
// and blocks that do not divide the shapes.
const BLOCKS: Pick<MaxPoolParams, "forwardBlock" | "backwardBlock">[] = [
  { forwardBlock: [1, 1], backwardBlock: [1, 1] },
  {},
  { forwardBlock: [3, 1], backwardBlock: [1, 2] },
  // Rounded up to whole argmax words (8 windows for 3x3); [1, 16] spans two words.
  { forwardBlock: [2, 5], backwardBlock: [1, 9] },
  { forwardBlock: [1, 16], backwardBlock: [1, 16] },
];

for (const [name, p, allBlocks] of CASES) {
  Deno.test(`maxpool GPU matches the reference: ${name}`, GPU_TEST, async () => {
    const col = await gpu();
    const n = p.batch * p.channels * p.height * p.width;
    for (const b of allBlocks ? BLOCKS : [{}]) {
      const what = `${name} ${JSON.stringify(b)}`;
      await checkPool(col, { ...p, ...b }, uniform(n, 5), `${what} random`);
      // Repeated values: ties inside and across windows.
      const rounded = uniform(n, 6).map((v) => Math.round(v * 2));
      await checkPool(col, { ...p, ...b }, rounded, `${what} ties`);
      // All equal: every window takes its first element (its first real one when padded).
      await checkPool(col, { ...p, ...b }, new Float32Array(n).fill(0.5), `${what} constant`);
      // Negative: zero padding instead of -inf would show up as 0s.
      await checkPool(col, { ...p, ...b }, new Float32Array(n).fill(-2), `${what} -2`);
      await checkPool(col, { ...p, ...b }, uniform(n, 8, -3, -1), `${what} negative`);
    }
  });
}

Deno.test("maxpool GPU matches the hand-worked 5x5 example", GPU_TEST, async () => {
  const col = await gpu();
  const p = { batch: 1, channels: 1, height: 5, width: 5 };
  const r = await runPool(col, p, new Float32Array(HAND_X), new Float32Array([1, 2, 3, 4]));
  assert.deepEqual([...r.y], [9, 9, 8, 9]);
  assert.equal(r.dX[14], 6);
  assert.equal(r.dX.reduce((a, b) => a + b), 10);
});

Deno.test("maxpool GPU at the paper's pool1 shape (batch 1, 48x55x55)", GPU_TEST, async () => {
  const col = await gpu();
  const p = { batch: 1, channels: 48, height: 55, width: 55 };
  await checkPool(col, p, uniform(48 * 55 * 55, 11).map((v) => Math.max(v, 0)), "pool1");
});

Deno.test("maxpool rejects bad parameters naming kernel and parameter", GPU_TEST, async () => {
  const base = { batch: 1, channels: 1, height: 5, width: 5 };
  assert.throws(() => maxPoolShape({ ...base, batch: 0 }), /maxpool: batch must be/);
  assert.throws(() => maxPoolShape({ ...base, channels: 0 }), /maxpool: channels must be/);
  assert.throws(() => maxPoolShape({ ...base, width: 2.5 }), /maxpool: width must be/);
  assert.throws(() => maxPoolShape({ ...base, size: 0 }), /maxpool: size must be/);
  assert.throws(() => maxPoolShape({ ...base, stride: 0 }), /maxpool: stride must be/);
  assert.throws(() => maxPoolShape({ ...base, padding: -1 }), /maxpool: padding must be/);
  assert.throws(() => maxPoolShape({ ...base, padding: 2 }), /maxpool: padding must be at most/);
  assert.throws(
    () => maxPoolShape({ ...base, height: 2, padding: 0 }),
    /maxpool: size 3 is larger than the padded height 2/,
  );
  assert.doesNotThrow(() => maxPoolShape({ ...base, height: 1, padding: 1 }));
  assert.match(maxpoolForwardWgsl(maxPoolShape(base)), /const OH: u32 = 2u;/);
  const col = await gpu();
  await assert.rejects(
    () => MaxPool.create(col, { ...base, workgroupSize: 0 }),
    /maxpool: workgroupSize/,
  );
  await assert.rejects(
    () => MaxPool.create(col, { ...base, backwardBlock: [1, 0] }),
    /maxpool: backwardBlock\[1\] must be a positive integer/,
  );
  const pool = await MaxPool.create(col, base);
  using x = Tensor.empty(col, [1, 1, 5, 5], "x");
  using bad = Tensor.empty(col, [1, 1, 3, 3], "bad");
  using y = Tensor.empty(col, [1, 1, 2, 2], "y");
  assert.deepEqual(pool.argmaxShape, [1, 1, 2, 1]); // 2 windows per row fit one word
  using argmax = Tensor.empty(col, [1, 1, 2, 1], "argmax", "u32");
  assert.throws(
    () => pool.forward(new Encoder(col), { x, y: bad, argmax }),
    /maxpool.forward: y \(bad\) must have shape \[1,1,2,2\]/,
  );
  assert.throws(
    () => pool.forward(new Encoder(col), { x, y, argmax: y }),
    /maxpool.forward: argmax \(y\) must have shape \[1,1,2,1\]/,
  );
  using argmaxF = Tensor.empty(col, [1, 1, 2, 1], "argmaxF");
  assert.throws(
    () => pool.forward(new Encoder(col), { x, y, argmax: argmaxF }),
    /maxpool.forward: argmax \(argmaxF\) must be u32, got f32/,
  );
  assert.throws(
    () => pool.backward(new Encoder(col), { argmax, dY: y, dX: bad }),
    /maxpool.backward: dX \(bad\) must have shape \[1,1,5,5\]/,
  );
});
