import assert from "node:assert/strict";
import { Conv2d, type Conv2dParams } from "../kernels/conv2d.ts";
import { DEFAULT_TILES, type GemmTile } from "../kernels/gemm.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { winogradMatrices } from "../kernels/_winograd.ts";
import { widenGemmTile } from "../kernels/_gemm_core.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import {
  conv2dBackwardDataRef,
  conv2dBackwardWeightsRef,
  conv2dForwardRef,
  convOut,
  type ConvShape,
  convShape,
  maskGrad,
} from "../reference/conv2d.ts";

Deno.test("reference conv2d matches a hand-computed 1-channel example", () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9], w = [1, 2, 3, 4]; // 3x3 input, 2x2 kernel
  const s = convShape({ batch: 1, inChannels: 1, height: 3, width: 3, outChannels: 1, kh: 2 });
  assert.deepEqual([...conv2dForwardRef(s, x, w, [0])], [37, 47, 67, 77]);
  assert.deepEqual([...conv2dForwardRef(s, x, w, [-50], true)], [0, 0, 17, 27]);
  const padded = { ...s, sh: 2, sw: 2, ph: 1, pw: 1 };
  assert.deepEqual(convOut(padded), [2, 2]);
  assert.deepEqual([...conv2dForwardRef(padded, x, w, null)], [4, 18, 36, 77]);
  const ones = [1, 1, 1, 1];
  assert.deepEqual([...conv2dBackwardDataRef(s, w, ones)], [1, 3, 2, 4, 10, 6, 3, 7, 4]);
  const { dW, db } = conv2dBackwardWeightsRef(s, x, ones);
  assert.deepEqual([...dW], [12, 16, 24, 28]);
  assert.deepEqual([...db], [4]);
});

Deno.test("reference conv2d backward matches finite differences (groups, stride, padding)", () => {
  const s: ConvShape = {
    batch: 2,
    inChannels: 4,
    height: 5,
    width: 6,
    outChannels: 6,
    kh: 3,
    kw: 2,
    sh: 2,
    sw: 1,
    ph: 1,
    pw: 1,
    groups: 2,
  };
  const [OH, OW] = convOut(s);
  const x = Float64Array.from(uniform(2 * 4 * 5 * 6, 1));
  const w = Float64Array.from(uniform(6 * 2 * 3 * 2, 2));
  const b = Float64Array.from(uniform(6, 3));
  const dY = Float64Array.from(uniform(2 * 6 * OH * OW, 4));
  const loss = () => conv2dForwardRef(s, x, w, b, true).reduce((a, v, i) => a + v * dY[i], 0);
  const g = maskGrad(dY, conv2dForwardRef(s, x, w, b, true));
  const dX = conv2dBackwardDataRef(s, w, g);
  const { dW, db } = conv2dBackwardWeightsRef(s, x, g);
  const h = 1e-6;
  const check = (arr: Float64Array, grad: Float64Array, what: string) => {
    for (let i = 0; i < arr.length; i++) {
      const o = arr[i];
      arr[i] = o + h;
      const up = loss();
      arr[i] = o - h;
      const down = loss();
      arr[i] = o;
      assert.ok(Math.abs((up - down) / (2 * h) - grad[i]) < 1e-6, `${what}[${i}]`);
    }
  };
  check(x, dX, "dX");
  check(w, dW, "dW");
  check(b, db, "db");
});

type Case = Omit<Conv2dParams, "tile">;

/** Runs forward + backward on the GPU and compares every output with the reference. */
async function checkConv(p: Case, tile: Partial<GemmTile> | undefined, seed: number) {
  const col = await gpu();
  const conv = await Conv2d.create(col, { ...p, tile });
  const g = conv.params;
  const s: ConvShape = { ...g };
  const what = `conv2d ${JSON.stringify(p)}`;
  const xs = uniform(g.batch * g.inChannels * g.height * g.width, seed);
  const ws = uniform(g.outChannels * (g.inChannels / g.groups) * g.kh * g.kw, seed + 1);
  const bs = uniform(g.outChannels, seed + 2);
  const yShape = [g.batch, g.outChannels, conv.outHeight, conv.outWidth];
  const gs = uniform(yShape.reduce((a, b) => a * b), seed + 3);
  using x = Tensor.from(col, xs, [g.batch, g.inChannels, g.height, g.width], "x");
  using w = Tensor.from(col, ws, [g.outChannels, g.inChannels / g.groups, g.kh, g.kw], "w");
  using b = Tensor.from(col, bs, [g.outChannels], "b");
  using y = Tensor.empty(col, yShape, "y");
  using dY = Tensor.from(col, gs, yShape, "dY");
  // Garbage in the gradients proves they are overwritten.
  using dX = Tensor.from(col, uniform(x.size, 99), x.shape, "dX");
  using dW = Tensor.from(col, uniform(w.size, 98), w.shape, "dW");
  using db = Tensor.from(col, uniform(b.size, 97), b.shape, "db");
  const enc = new Encoder(col, "conv2d test");
  conv.forward(enc, { x, w, b, y });
  conv.backward(enc, { x, w, y, dY, dX, dW, db });
  enc.submit();
  const yGpu = await y.read();
  assertClose(yGpu, conv2dForwardRef(s, xs, ws, bs, g.relu), { shape: yShape, what: `${what} y` });
  // Mask with the GPU's y so a value at exactly 0 cannot flip the reference.
  const gm = maskGrad(gs, g.relu ? yGpu : null);
  assertClose(await dX.read(), conv2dBackwardDataRef(s, ws, gm), {
    shape: x.shape,
    rel: 1e-3,
    what: `${what} dX`,
  });
  // With relu, backward masks dY in place: dY now holds the masked gradient.
  assertClose(await dY.read(), gm, { shape: yShape, what: `${what} dY (masked in place)` });
  const ref = conv2dBackwardWeightsRef(s, xs, gm);
  assertClose(await dW.read(), ref.dW, { shape: w.shape, rel: 1e-3, what: `${what} dW` });
  assertClose(await db.read(), ref.db, { shape: b.shape, rel: 1e-3, what: `${what} db` });
}

const EDGE_CASES: Case[] = [
  // kernel 3, padding 1, channels not divisible by 4, odd non-square image
  {
    batch: 2,
    inChannels: 3,
    height: 9,
    width: 11,
    outChannels: 5,
    kernel: 3,
    padding: 1,
    relu: true,
  },
  // kernel 5, stride 2, padding 2, groups 2, batch 1
  {
    batch: 1,
    inChannels: 4,
    height: 10,
    width: 10,
    outChannels: 6,
    kernel: 5,
    stride: 2,
    padding: 2,
    groups: 2,
  },
  // kernel 1 (pointwise), groups 2
  {
    batch: 2,
    inChannels: 6,
    height: 5,
    width: 7,
    outChannels: 4,
    kernel: 1,
    groups: 2,
    relu: true,
  },
  // conv1-like: kernel 11, stride 4, padding 2
  {
    batch: 1,
    inChannels: 3,
    height: 23,
    width: 23,
    outChannels: 8,
    kernel: 11,
    stride: 4,
    padding: 2,
    relu: true,
  },
  // non-square kernel, stride and padding; one output channel
  {
    batch: 3,
    inChannels: 2,
    height: 7,
    width: 9,
    outChannels: 1,
    kernel: [3, 2],
    stride: [2, 1],
    padding: [0, 1],
  },
  // M = N = 1 (one output pixel, one channel), stride 4 padding 0
  { batch: 1, inChannels: 1, height: 5, width: 5, outChannels: 1, kernel: 5, stride: 4 },
  // more output channels than one tile of lanes, groups 2, padding 2 > needed
  {
    batch: 1,
    inChannels: 2,
    height: 4,
    width: 3,
    outChannels: 70,
    kernel: 3,
    padding: 2,
    groups: 2,
    relu: true,
  },
];

// Compiling a shader with the default 8x8 software tile costs lavapipe's LLVM 1-4 s (the
// Mesa disk cache makes reruns fast), so each tile takes a slice of the edge cases that
// together cover them all: [tile, first case, end].
const TILES: [string, Partial<GemmTile> | undefined, number, number][] = [
  ["profile's per-direction default", undefined, 0, 4],
  ["software 8x8 in every direction", DEFAULT_TILES.software, 4, 7],
  ["software 4x4 (smaller register block)", { wgN: 8, wgM: 1, tm: 4, tn: 4, tk: 0 }, 4, 7],
  ["gpu-style shared-memory 8x8 tk8", { wgN: 8, wgM: 8, tm: 2, tn: 2, tk: 8 }, 0, 3],
];

for (const [name, tile, from, to] of TILES) {
  Deno.test(
    `conv2d forward/backward match the CPU on edge shapes, ${name} tile`,
    GPU_TEST,
    async () => {
      for (const [i, p] of EDGE_CASES.slice(from, to).entries()) {
        await checkConv(p, tile, 10 * (from + i));
      }
    },
  );
}

Deno.test(
  "conv2d matches the CPU at the paper's conv2 and conv3 shapes (batch 1)",
  GPU_TEST,
  async () => {
    await checkConv(
      {
        batch: 1,
        inChannels: 48,
        height: 27,
        width: 27,
        outChannels: 128,
        kernel: 5,
        padding: 2,
        relu: true,
      },
      undefined,
      1,
    );
    await checkConv(
      {
        batch: 1,
        inChannels: 256,
        height: 13,
        width: 13,
        outChannels: 192,
        kernel: 3,
        padding: 1,
        relu: true,
      },
      undefined,
      2,
    );
  },
);

Deno.test(
  "conv2d forward matches the CPU at the paper's conv1 shape (batch 1)",
  GPU_TEST,
  async () => {
    const col = await gpu();
    const p = {
      batch: 1,
      inChannels: 3,
      height: 224,
      width: 224,
      outChannels: 48,
      kernel: 11,
      stride: 4,
      padding: 2,
      relu: true,
    };
    const conv = await Conv2d.create(col, p);
    assert.deepEqual([conv.outHeight, conv.outWidth], [55, 55]);
    const xs = uniform(3 * 224 * 224, 5), ws = uniform(48 * 3 * 121, 6), bs = uniform(48, 7);
    using x = Tensor.from(col, xs, [1, 3, 224, 224], "x");
    using w = Tensor.from(col, ws, [48, 3, 11, 11], "w");
    using b = Tensor.from(col, bs, [48], "b");
    using y = Tensor.empty(col, [1, 48, 55, 55], "y");
    const enc = new Encoder(col);
    conv.forward(enc, { x, w, b, y });
    enc.submit();
    const ref = conv2dForwardRef({ ...conv.params }, xs, ws, bs, true);
    assertClose(await y.read(), ref, { shape: y.shape, what: "conv1 y" });
  },
);

Deno.test("Winograd matrices: F(2,3) is Lavin & Gray's, and every F(m, r) correlates exactly", () => {
  const f = winogradMatrices(2, 3);
  assert.deepEqual(f.BT, [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]]);
  assert.deepEqual(f.G, [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]);
  assert.deepEqual(f.AT, [[1, 1, 1, 0], [0, 1, -1, 1]]);
  for (const [m, r] of [[2, 3], [3, 3], [4, 3], [6, 3], [2, 5], [4, 5], [2, 7], [4, 2]]) {
    const w = winogradMatrices(m, r), a = w.alpha;
    const d = Array.from(uniform(a, m * 10 + r)), g = Array.from(uniform(r, m + r));
    const mul = (M: number[][], v: number[]) =>
      M.map((row) => row.reduce((s, c, k) => s + c * v[k], 0));
    const gd = mul(w.G, g).map((v, i) => v * mul(w.BT, d)[i]);
    const y = mul(w.AT, gd);
    for (let i = 0; i < m; i++) {
      const ref = g.reduce((s, v, k) => s + v * d[i + k], 0);
      assert.ok(Math.abs(y[i] - ref) < 1e-12, `F(${m}, ${r}) y[${i}]: ${y[i]} vs ${ref}`);
    }
  }
  assert.throws(() => winogradMatrices(7, 3), /winograd: F\(7, 3\) is not supported/);
});

/** 96 in, 192 out: GEMMs that 12 columns per lane cover exactly (see WINOGRAD_CASES). */
const WIDE: Case = {
  batch: 1,
  inChannels: 96,
  height: 5,
  width: 6,
  outChannels: 192,
  kernel: 3,
  padding: 1,
  relu: true,
};

// Winograd forward and backward-data (dX via flipped, transposed weights) on shapes whose
// outputs do not fill the last tile, with groups, padding 0 .. r-1, every supported tile
// size, and a scratch budget small enough to force chunks (the last one partial).
const WINOGRAD_CASES: Case[] = [
  {
    batch: 3,
    inChannels: 5,
    height: 9,
    width: 7,
    outChannels: 6,
    kernel: 3,
    padding: 1,
    relu: true,
    algorithm: "winograd",
    winogradTile: 4,
    winogradChunkBytes: 12000,
  },
  {
    batch: 1,
    inChannels: 6,
    height: 11,
    width: 11,
    outChannels: 10,
    kernel: 5,
    padding: 2,
    groups: 2,
    relu: true,
    algorithm: "winograd",
    winogradTile: 2,
  },
  {
    batch: 2,
    inChannels: 3,
    height: 8,
    width: 10,
    outChannels: 4,
    kernel: 3,
    algorithm: "winograd",
    winogradTile: 3,
  },
  {
    batch: 2,
    inChannels: 4,
    height: 10,
    width: 9,
    outChannels: 5,
    kernel: 5,
    padding: 1,
    algorithm: "winograd",
    winogradTile: 4,
  },
  {
    batch: 1,
    inChannels: 4,
    height: 13,
    width: 13,
    outChannels: 12,
    kernel: 3,
    padding: 1,
    groups: 2,
    algorithm: "winograd",
    winogradTile: 6,
  },
  // Strided: space-to-depth folds stride s into s^2 times the channels (forward only).
  // conv1's geometry (11x11 / 4, padding 2) -> a 3x3 over 48 channels, F(4x4, 3x3).
  {
    batch: 2,
    inChannels: 3,
    height: 31,
    width: 27,
    outChannels: 8,
    kernel: 11,
    stride: 4,
    padding: 2,
    relu: true,
    algorithm: "winograd",
  },
  // 5x5 / 2 -> 3x3 over 4x the channels, groups 2; 3x3 / 2 -> 2x2, F(5x5, 2x2).
  {
    batch: 1,
    inChannels: 4,
    height: 12,
    width: 11,
    outChannels: 6,
    kernel: 5,
    stride: 2,
    padding: 2,
    groups: 2,
    algorithm: "winograd",
  },
  {
    batch: 2,
    inChannels: 3,
    height: 9,
    width: 10,
    outChannels: 5,
    kernel: 3,
    stride: 2,
    padding: 1,
    algorithm: "winograd",
  },
  // 96 in, 192 out: on the software profile widenGemmTile gives 12 columns per lane to
  // the 192-wide forward and backward-weights GEMMs (Winograd and direct) and to the
  // 96-wide Winograd backward-data GEMM (direct backward-data's 16 lanes need 192).
  { ...WIDE, algorithm: "winograd", winogradTile: 4 },
  { ...WIDE, algorithm: "direct" },
  // The same shape by the direct implicit GEMM, which "auto" no longer picks for it.
  {
    batch: 2,
    inChannels: 5,
    height: 9,
    width: 7,
    outChannels: 6,
    kernel: 3,
    padding: 1,
    relu: true,
    algorithm: "direct",
  },
];

Deno.test(
  "conv2d Winograd forward and backward match the CPU (tiles, groups, chunks)",
  GPU_TEST,
  async () => {
    for (const [i, p] of WINOGRAD_CASES.entries()) await checkConv(p, undefined, 200 + 10 * i);
    // The gpu profile's shared-memory tile on the batched GEMMs (strided and not).
    const gpuTile = { wgN: 8, wgM: 8, tm: 2, tn: 2, tk: 8 };
    await checkConv(WINOGRAD_CASES[0], gpuTile, 300);
    await checkConv(WINOGRAD_CASES[5], gpuTile, 310);
    const col = await gpu();
    // "auto": Winograd from 1536 channel pairs per group (48 x 32) and a 3x3..5x5 kernel.
    const wide = {
      ...WINOGRAD_CASES[0],
      inChannels: 48,
      outChannels: 32,
      algorithm: undefined,
      winogradChunkBytes: undefined,
    };
    const auto = await Conv2d.create(col, wide);
    assert.deepEqual(auto.algorithms, {
      forward: "winograd",
      backwardData: "winograd",
      backwardWeights: "direct",
    });
    const narrow = await Conv2d.create(col, { ...wide, outChannels: 31 });
    assert.equal(narrow.algorithms.forward, "direct");
    // A strided conv: forward by Winograd over the space-to-depth view, the rest direct.
    const strided = await Conv2d.create(col, { ...wide, kernel: 5, stride: 2, padding: 2 });
    assert.deepEqual(strided.algorithms, {
      forward: "winograd",
      backwardData: "direct",
      backwardWeights: "direct",
    });
    const uneven = await Conv2d.create(col, { ...wide, stride: [2, 1] });
    assert.equal(uneven.algorithms.forward, "direct");
  },
);

Deno.test("conv2d rejects bad parameters and tensors, naming them", GPU_TEST, async () => {
  const col = await gpu();
  const ok: Conv2dParams = {
    batch: 1,
    inChannels: 4,
    height: 8,
    width: 8,
    outChannels: 6,
    kernel: 3,
  };
  const bad: [Partial<Conv2dParams>, RegExp][] = [
    [{ batch: 0 }, /conv2d: batch must be a positive integer/],
    [{ inChannels: -1 }, /conv2d: inChannels must be/],
    [{ height: 0 }, /conv2d: height must be/],
    [{ width: 2.5 }, /conv2d: width must be/],
    [{ outChannels: 0 }, /conv2d: outChannels must be/],
    [{ kernel: [3, 0] }, /conv2d: kernel\[1\] must be/],
    [{ stride: 0 }, /conv2d: stride\[0\] must be/],
    [{ padding: -1 }, /conv2d: padding\[0\] must be a non-negative/],
    [{ groups: 4 }, /conv2d: groups \(4\) must divide inChannels \(4\) and outChannels \(6\)/],
    [{ groups: 0 }, /conv2d: groups must be/],
    [
      { kernel: 11, padding: 1 },
      /conv2d: kernel \[11, 11\] is larger than the padded input \[10, 10\]/,
    ],
    [{ algorithm: "fast" as "auto" }, /conv2d: algorithm must be "auto", "direct" or "winograd"/],
    [{ algorithm: "winograd", stride: [2, 1] }, /conv2d: algorithm "winograd" needs equal strides/],
    [{ algorithm: "winograd", kernel: 8 }, /needs a kernel side \/ stride of 2 to 7 \(got 8\/1\)/],
    [{ algorithm: "winograd", kernel: [3, 2] }, /conv2d: algorithm "winograd" needs a square/],
    [{ algorithm: "winograd", padding: 3 }, /needs padding below the kernel side \(got 3\)/],
    [{ algorithm: "winograd", winogradTile: 7 }, /conv2d: winogradTile 7 with a 3x3 kernel/],
    [{ algorithm: "winograd", winogradChunkBytes: 64 }, /Winograd scratch exceeds/],
  ];
  for (const [change, re] of bad) {
    await assert.rejects(() => Conv2d.create(col, { ...ok, ...change }), re);
  }
  const conv = await Conv2d.create(col, { ...ok, relu: true });
  using x = Tensor.empty(col, [1, 4, 8, 8], "x");
  using wBad = Tensor.empty(col, [6, 2, 3, 3], "wBad");
  using b = Tensor.empty(col, [6], "b");
  using y = Tensor.empty(col, [1, 6, 6, 6], "y");
  using dW = Tensor.empty(col, [6, 4, 3, 3], "dW");
  assert.throws(
    () => conv.forward(new Encoder(col), { x, w: wBad, b, y }),
    /conv2d.forward: w \(wBad\) must have shape \[6,4,3,3\]/,
  );
  assert.throws(
    () => conv.backwardWeights(new Encoder(col), { x, dY: y, dW, db: b }),
    /conv2d.backwardWeights: y \(the forward output\) is required/,
  );
});

Deno.test(
  "conv2d: convolutions that differ only in channels share their shaders, each with its own sizes",
  GPU_TEST,
  async () => {
    const col = await gpu();
    // Channel counts of 57 to 64 all fit the same tiles, so only the sizes uniform differs.
    const base = { batch: 2, height: 6, width: 5, kernel: 3, padding: 1, algorithm: "direct" };
    await checkConv({ ...base, inChannels: 64, outChannels: 64 } as Case, undefined, 41);
    const before = col.pipelineCount;
    await checkConv({ ...base, inChannels: 60, outChannels: 58 } as Case, undefined, 51);
    assert.equal(col.pipelineCount, before, "the second convolution compiled no new shader");
  },
);

Deno.test("widenGemmTile: 12 columns per lane only where they cover N exactly", () => {
  const soft = { wgN: 8, wgM: 1, tm: 16, tn: 8, tk: 0 };
  assert.equal(widenGemmTile(soft, 192).tn, 12);
  assert.equal(widenGemmTile(soft, 96).tn, 12);
  for (const n of [64, 128, 256, 100]) assert.equal(widenGemmTile(soft, n).tn, 8, `N = ${n}`);
  // Lanes along M, shared-memory tiles and tiles the caller set to other widths stay.
  for (const t of [{ ...soft, wgN: 1, wgM: 8 }, { ...soft, tk: 16 }, { ...soft, tn: 4 }]) {
    assert.deepEqual(widenGemmTile(t, 192), t);
  }
});
