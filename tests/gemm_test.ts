import assert from "node:assert/strict";
import { DEFAULT_TILES, Gemm, type GemmTile, gemmWgsl } from "../kernels/gemm.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { gemmRef } from "../reference/gemm.ts";

Deno.test("reference gemm matches hand-computed values, with transposes", () => {
  // A = [[1,2],[3,4]], B = [[5,6],[7,8]]: AB = [[19,22],[43,50]]
  const a = [1, 2, 3, 4], b = [5, 6, 7, 8];
  assert.deepEqual([...gemmRef(a, b, { M: 2, N: 2, K: 2 })], [19, 22, 43, 50]);
  // A^T B = [[1,3],[2,4]] B = [[26,30],[38,44]]
  assert.deepEqual([...gemmRef(a, b, { M: 2, N: 2, K: 2, transA: true })], [26, 30, 38, 44]);
  // A B^T = [[17,23],[39,53]]; + bias [-20, 0], relu -> [[0,23],[19,53]]
  assert.deepEqual(
    [...gemmRef(a, b, { M: 2, N: 2, K: 2, transB: true, bias: [-20, 0], relu: true })],
    [0, 23, 19, 53],
  );
});

/** Tiles forced per profile, plus odd tiles that stress the fitting and the loaders. */
const TILES: [string, GemmTile, number][] = [
  ["software", DEFAULT_TILES.software, 6],
  ["gpu", DEFAULT_TILES.gpu, 6],
  ["software 4x4 wgM2", { wgN: 8, wgM: 2, tm: 4, tn: 4, tk: 0 }, 2],
  ["gpu 8x8 tk8", { wgN: 8, wgM: 8, tm: 2, tn: 2, tk: 8 }, 2],
];

// [M, N, K]; each shape gets a different transpose/bias/relu combination (compiling a
// shader costs ~0.5 s on lavapipe, so the suite does not take the full product).
const SHAPES: [number, number, number][] = [
  [65, 70, 33],
  [1, 37, 5],
  [33, 1, 17],
  [17, 19, 1],
  [1, 1, 1],
  [128, 64, 64],
];

for (const [tileName, tile, count] of TILES) {
  Deno.test(`gemm matches the CPU on edge shapes, ${tileName} tile`, GPU_TEST, async () => {
    const col = await gpu();
    for (const [s, [M, N, K]] of SHAPES.slice(0, count).entries()) {
      const transA = (s & 1) === 1, transB = (s & 2) === 2;
      const bias = s % 3 !== 2, relu = s % 2 === 0;
      const as = uniform(M * K, 3 * s), bs = uniform(K * N, 3 * s + 1), bi = uniform(N, 3 * s + 2);
      const g = await Gemm.create(col, { M, N, K, transA, transB, bias, relu, tile });
      using a = Tensor.from(col, as, transA ? [K, M] : [M, K], "a");
      using b = Tensor.from(col, bs, transB ? [N, K] : [K, N], "b");
      using bt = Tensor.from(col, bi, [N], "bias");
      using c = Tensor.empty(col, [M, N], "c");
      const enc = new Encoder(col, "gemm test");
      g.run(enc, { a, b, c, bias: bt });
      enc.submit();
      const ref = gemmRef(as, bs, { M, N, K, transA, transB, bias: bias ? bi : undefined, relu });
      assertClose(await c.read(), ref, {
        shape: [M, N],
        what: `gemm ${M}x${N}x${K} tA=${transA} tB=${transB} bias=${bias} relu=${relu}`,
      });
    }
  });
}

Deno.test("gemm accumulate adds the product to C", GPU_TEST, async () => {
  const col = await gpu();
  const [M, N, K] = [23, 45, 31];
  const as = uniform(M * K, 5), bs = uniform(K * N, 6), cs = uniform(M * N, 7);
  for (const tile of [DEFAULT_TILES.software, DEFAULT_TILES.gpu]) {
    const g = await Gemm.create(col, { M, N, K, accumulate: true, tile });
    using a = Tensor.from(col, as, [M, K], "a");
    using b = Tensor.from(col, bs, [K, N], "b");
    using c = Tensor.from(col, cs, [M, N], "c");
    const enc = new Encoder(col);
    g.run(enc, { a, b, c });
    enc.submit();
    const ref = gemmRef(as, bs, { M, N, K }).map((v, i) => v + cs[i]);
    assertClose(await c.read(), ref, { shape: [M, N], what: "accumulate" });
  }
});

Deno.test("gemm folds grids over 65535 workgroups", GPU_TEST, async () => {
  const col = await gpu();
  const tile: GemmTile = { wgN: 8, wgM: 1, tm: 1, tn: 1, tk: 0 };
  const [M, N, K] = [70_001, 1, 2];
  // The sizes, the folded grid's width among them, are read from the uniform.
  assert.match(gemmWgsl({ M, N, K, tile }), /let NUM_WG_X = dims\.NUM_WG_X;/);
  const as = uniform(M * K, 8), bs = uniform(K * N, 9);
  const g = await Gemm.create(col, { M, N, K, tile });
  using a = Tensor.from(col, as, [M, K], "a");
  using b = Tensor.from(col, bs, [K, N], "b");
  using c = Tensor.empty(col, [M, N], "c");
  const enc = new Encoder(col);
  g.run(enc, { a, b, c });
  enc.submit();
  assertClose(await c.read(), gemmRef(as, bs, { M, N, K }), { what: "folded gemm" });
});

Deno.test(
  "gemms that differ only in M, N and K share one shader, each with its sizes",
  GPU_TEST,
  async () => {
    const col = await gpu();
    const tile: GemmTile = { wgN: 4, wgM: 1, tm: 2, tn: 2, tk: 0 };
    const before = col.pipelineCount;
    for (const [M, N, K, seed] of [[5, 7, 3, 1], [9, 11, 17, 2]]) {
      const as = uniform(M * K, seed), bs = uniform(K * N, seed + 1), bias = uniform(N, seed + 2);
      const g = await Gemm.create(col, { M, N, K, tile, bias: true, relu: true });
      using a = Tensor.from(col, as, [M, K], "a");
      using b = Tensor.from(col, bs, [K, N], "b");
      using c = Tensor.empty(col, [M, N], "c");
      using bt = Tensor.from(col, bias, [N], "bias");
      const enc = new Encoder(col);
      g.run(enc, { a, b, c, bias: bt });
      enc.submit();
      const ref = gemmRef(as, bs, { M, N, K }).map((v, i) => Math.max(v + bias[i % N], 0));
      assertClose(await c.read(), ref, { what: `gemm ${M}x${N}x${K}` });
    }
    assert.ok(col.pipelineCount - before <= 1, `${col.pipelineCount - before} new pipelines`);
  },
);

Deno.test("gemm rejects bad parameters and tensors, naming them", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(() => Gemm.create(col, { M: 0, N: 1, K: 1 }), /gemm: M must be/);
  await assert.rejects(() => Gemm.create(col, { M: 1, N: -2, K: 1 }), /gemm: N must be/);
  await assert.rejects(() => Gemm.create(col, { M: 1, N: 1, K: 1.5 }), /gemm: K must be/);
  await assert.rejects(
    () => Gemm.create(col, { M: 4, N: 4, K: 4, tile: { wgN: 32, wgM: 16 } }),
    /gemm: tile.wgN \* tile.wgM must be <= 256/,
  );
  await assert.rejects(
    () => Gemm.create(col, { M: 4, N: 4, K: 4, tile: { tm: 0 } }),
    /gemm: tile.tm must be/,
  );
  const g = await Gemm.create(col, { M: 2, N: 3, K: 4, bias: true });
  using a = Tensor.empty(col, [4, 2], "a42");
  using b = Tensor.empty(col, [4, 3], "b");
  using c = Tensor.empty(col, [2, 3], "c");
  assert.throws(
    () => g.run(new Encoder(col), { a, b, c }),
    /gemm: a \(a42\) must have shape \[2,4\]/,
  );
  using a2 = Tensor.empty(col, [2, 4], "a");
  assert.throws(() => g.run(new Encoder(col), { a: a2, b, c }), /gemm: bias tensor required/);
});
