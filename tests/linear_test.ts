import assert from "node:assert/strict";
import { DEFAULT_TILES } from "../kernels/gemm.ts";
import { Linear, linearBlocks } from "../kernels/linear.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { linearBackwardRef, linearForwardRef } from "../reference/gemm.ts";

Deno.test("reference linear backward matches finite differences (float64)", () => {
  const [B, IN, OUT] = [3, 4, 5];
  const x = Float64Array.from(uniform(B * IN, 1)), w = Float64Array.from(uniform(OUT * IN, 2));
  const b = Float64Array.from(uniform(OUT, 3)), dY = Float64Array.from(uniform(B * OUT, 4));
  // loss = sum(dY * relu(x w^T + b)); its gradient is the masked backward.
  const loss = (x: Float64Array, w: Float64Array, b: Float64Array) =>
    linearForwardRef(x, w, b, B, IN, OUT, true).reduce((s, v, i) => s + v * dY[i], 0);
  const y = linearForwardRef(x, w, b, B, IN, OUT, true);
  const g = linearBackwardRef(x, w, y, dY, B, IN, OUT);
  const h = 1e-6;
  const fd = (arr: Float64Array, i: number) => {
    const o = arr[i];
    arr[i] = o + h;
    const up = loss(x, w, b);
    arr[i] = o - h;
    const down = loss(x, w, b);
    arr[i] = o;
    return (up - down) / (2 * h);
  };
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(fd(x, i) - g.dX[i]) < 1e-6, `dX ${i}`);
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(fd(w, i) - g.dW[i]) < 1e-6, `dW ${i}`);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(fd(b, i) - g.db[i]) < 1e-6, `db ${i}`);
});

const CASES: { B: number; IN: number; OUT: number; relu: boolean }[] = [
  { B: 1, IN: 1, OUT: 1, relu: false },
  { B: 5, IN: 37, OUT: 19, relu: true },
  { B: 16, IN: 130, OUT: 66, relu: false },
  { B: 4, IN: 300, OUT: 50, relu: true },
];

// The gpu profile's default 64x64 tile is exercised in gemm_test.ts; here a smaller
// shared-memory tile runs the same code path (it compiles ~3x faster on lavapipe).
const TILES = {
  software: DEFAULT_TILES.software,
  "gpu-style shared-memory": { wgN: 8, wgM: 8, tm: 2, tn: 2, tk: 8 },
};

for (const [profile, tile] of Object.entries(TILES)) {
  Deno.test(`linear forward/backward match the CPU, ${profile} tile`, GPU_TEST, async () => {
    const col = await gpu();
    let seed = 10;
    for (const { B, IN, OUT, relu } of CASES) {
      const what = `linear B=${B} ${IN}->${OUT} relu=${relu}`;
      const xs = uniform(B * IN, seed++), ws = uniform(OUT * IN, seed++);
      const bs = uniform(OUT, seed++), gs = uniform(B * OUT, seed++);
      const fc = await Linear.create(col, {
        batch: B,
        inFeatures: IN,
        outFeatures: OUT,
        relu,
        tile,
      });
      using x = Tensor.from(col, xs, [B, IN], "x");
      using w = Tensor.from(col, ws, [OUT, IN], "w");
      using b = Tensor.from(col, bs, [OUT], "b");
      using y = Tensor.empty(col, [B, OUT], "y");
      using dY = Tensor.from(col, gs, [B, OUT], "dY");
      // Garbage in the outputs proves the backward overwrites.
      using dX = Tensor.from(col, uniform(B * IN, 99), [B, IN], "dX");
      using dW = Tensor.from(col, uniform(OUT * IN, 98), [OUT, IN], "dW");
      using db = Tensor.from(col, uniform(OUT, 97), [OUT], "db");
      const enc = new Encoder(col, "linear test");
      fc.forward(enc, { x, w, b, y });
      fc.backward(enc, { x, w, y, dY, dX, dW, db });
      enc.submit();
      const yRef = linearForwardRef(xs, ws, bs, B, IN, OUT, relu);
      const yGpu = await y.read();
      assertClose(yGpu, yRef, { shape: [B, OUT], what: `${what} y` });
      // Mask with the GPU's y so a value at exactly 0 cannot flip the reference.
      const ref = linearBackwardRef(xs, ws, relu ? yGpu : null, gs, B, IN, OUT);
      assertClose(await dX.read(), ref.dX, { shape: [B, IN], rel: 1e-3, what: `${what} dX` });
      assertClose(await dW.read(), ref.dW, { shape: [OUT, IN], rel: 1e-3, what: `${what} dW` });
      assertClose(await db.read(), ref.db, { shape: [OUT], rel: 1e-3, what: `${what} db` });
    }
  });
}

Deno.test(
  "linear over a binding limit runs in blocks of output rows and matches the CPU",
  GPU_TEST,
  async () => {
    const col = await gpu();
    // 150 outputs of 16 inputs under 4 KiB bindings: blocks of 64 rows (64 x 16 x 4 bytes),
    // 64 and 22; each block's weight and bias ranges start 256-byte aligned.
    assert.deepEqual(linearBlocks(150, 16, 4096, 256), [
      { offset: 0, rows: 64 },
      { offset: 64, rows: 64 },
      { offset: 128, rows: 22 },
    ]);
    assert.throws(() => linearBlocks(150, 20, 4096, 256), /one block of 64 output rows/);
    {
      // Two blocks, relu on (the masked reads take the block's window too); each block
      // is three shader compiles.
      const relu = true, B = 5, IN = 16, OUT = 100, what = "blocked linear";
      const xs = uniform(B * IN, 1), ws = uniform(OUT * IN, 2);
      const bs = uniform(OUT, 3), gs = uniform(B * OUT, 4);
      const fc = await Linear.create(col, {
        batch: B,
        inFeatures: IN,
        outFeatures: OUT,
        relu,
        maxBindingBytes: 4096,
      });
      assert.equal(fc.blocks.length, 2);
      using x = Tensor.from(col, xs, [B, IN], "x");
      using w = Tensor.from(col, ws, [OUT, IN], "w");
      using b = Tensor.from(col, bs, [OUT], "b");
      using y = Tensor.from(col, uniform(B * OUT, 96), [B, OUT], "y");
      using dY = Tensor.from(col, gs, [B, OUT], "dY");
      using dX = Tensor.from(col, uniform(B * IN, 99), [B, IN], "dX");
      using dW = Tensor.from(col, uniform(OUT * IN, 98), [OUT, IN], "dW");
      using db = Tensor.from(col, uniform(OUT, 97), [OUT], "db");
      const enc = new Encoder(col, "blocked linear test");
      fc.forward(enc, { x, w, b, y });
      fc.backward(enc, { x, w, y, dY, dX, dW, db });
      enc.submit();
      const yGpu = await y.read();
      assertClose(yGpu, linearForwardRef(xs, ws, bs, B, IN, OUT, relu), {
        shape: [B, OUT],
        what: `${what} y`,
      });
      const ref = linearBackwardRef(xs, ws, relu ? yGpu : null, gs, B, IN, OUT);
      assertClose(await dX.read(), ref.dX, { shape: [B, IN], rel: 1e-3, what: `${what} dX` });
      assertClose(await dW.read(), ref.dW, { shape: [OUT, IN], rel: 1e-3, what: `${what} dW` });
      assertClose(await db.read(), ref.db, { shape: [OUT], rel: 1e-3, what: `${what} db` });
    }
  },
);

Deno.test(
  "linear backward without dX leaves dX alone and needs y only with relu",
  GPU_TEST,
  async () => {
    const col = await gpu();
    const [B, IN, OUT] = [3, 9, 7];
    const fc = await Linear.create(col, { batch: B, inFeatures: IN, outFeatures: OUT, relu: true });
    using x = Tensor.from(col, uniform(B * IN, 1), [B, IN], "x");
    using w = Tensor.from(col, uniform(OUT * IN, 2), [OUT, IN], "w");
    using dY = Tensor.from(col, uniform(B * OUT, 3), [B, OUT], "dY");
    using dW = Tensor.empty(col, [OUT, IN], "dW");
    using db = Tensor.empty(col, [OUT], "db");
    assert.throws(
      () => fc.backward(new Encoder(col), { x, w, dY, dW, db }),
      /linear.backward: y \(the forward output\) is required/,
    );
    const enc = new Encoder(col);
    using y = Tensor.from(col, uniform(B * OUT, 4), [B, OUT], "y");
    fc.backward(enc, { x, w, y, dY, dW, db });
    assert.equal(enc.dispatches, 1);
    enc.submit();
    const ref = linearBackwardRef(
      await x.read(),
      await w.read(),
      await y.read(),
      await dY.read(),
      B,
      IN,
      OUT,
    );
    assertClose(await dW.read(), ref.dW, { rel: 1e-3, what: "dW" });
  },
);

Deno.test("linear rejects bad parameters and tensors, naming them", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(
    () => Linear.create(col, { batch: 0, inFeatures: 1, outFeatures: 1 }),
    /linear: batch must be/,
  );
  await assert.rejects(
    () => Linear.create(col, { batch: 1, inFeatures: -1, outFeatures: 1 }),
    /linear: inFeatures must be/,
  );
  await assert.rejects(
    () => Linear.create(col, { batch: 1, inFeatures: 1, outFeatures: 2.5 }),
    /linear: outFeatures must be/,
  );
  const fc = await Linear.create(col, { batch: 2, inFeatures: 3, outFeatures: 4 });
  using x = Tensor.empty(col, [2, 3], "x");
  using w = Tensor.empty(col, [3, 4], "wT");
  using b = Tensor.empty(col, [4], "b");
  using y = Tensor.empty(col, [2, 4], "y");
  assert.throws(
    () => fc.forward(new Encoder(col), { x, w, b, y }),
    /linear.forward: w \(wT\) must have shape \[4,3\]/,
  );
});
