import assert from "node:assert/strict";
import { AvgPool, type AvgPoolParams } from "../kernels/avgpool.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { avgPoolBackwardRef, avgPoolForwardRef } from "../reference/avgpool.ts";
import { uniform } from "../reference/rand.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";

// ---- the reference itself ----

Deno.test("reference adaptive avgpool matches a 1x1x5x5 pool to 3x3 worked by hand", () => {
  // Windows of 5 -> 3 cells (PyTorch's rule): rows [0, 2), [1, 4), [3, 5).
  const x = Float32Array.from({ length: 25 }, (_, i) => i);
  const s = { batch: 1, channels: 1, height: 5, width: 5, output: 3 };
  const y = avgPoolForwardRef(s, x);
  // Cell (0, 0) averages rows 0-1, cols 0-1: (0 + 1 + 5 + 6) / 4 = 3.
  // Cell (1, 1) averages rows 1-3, cols 1-3: the 9 values around 12, mean 12.
  // Cell (2, 2) averages rows 3-4, cols 3-4: (18 + 19 + 23 + 24) / 4 = 21.
  assert.deepEqual([y[0], y[4], y[8]], [3, 12, 21]);
  // Backward: element (1, 1) lies in cells (0|1) x (0|1) with areas 4, 6, 6, 9.
  const dX = avgPoolBackwardRef(s, new Float32Array(9).fill(1));
  assert.ok(Math.abs(dX[6] - (1 / 4 + 1 / 6 + 1 / 6 + 1 / 9)) < 1e-7, `${dX[6]}`);
  // Global pooling is the plane mean; pooling to the input side is the identity.
  const g = avgPoolForwardRef({ ...s, output: 1 }, x);
  assert.deepEqual([...g], [12]);
  assert.deepEqual(avgPoolForwardRef({ ...s, output: 5 }, x), x);
});

Deno.test("reference adaptive avgpool backward is the forward's adjoint", () => {
  // <forward(x), dY> = <x, backward(dY)> for every linear map and its transpose.
  for (const [h, w, o] of [[13, 13, 6], [7, 5, 3], [6, 6, 1], [4, 4, 6]]) {
    const s = { batch: 2, channels: 3, height: h, width: w, output: o };
    const x = uniform(2 * 3 * h * w, 1), dY = uniform(2 * 3 * o * o, 2);
    const y = avgPoolForwardRef(s, x), dX = avgPoolBackwardRef(s, dY);
    const lhs = y.reduce((a, v, i) => a + v * dY[i], 0);
    const rhs = x.reduce((a, v, i) => a + v * dX[i], 0);
    assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.abs(lhs) + 1e-5, `${h}x${w}->${o}: ${lhs} ${rhs}`);
  }
});

// ---- GPU against the reference ----

const CASES: [string, AvgPoolParams][] = [
  ["global 6x6 -> 1", { batch: 2, channels: 5, height: 6, width: 6, output: 1 }],
  ["adaptive 13x13 -> 6 (uneven windows)", {
    batch: 2,
    channels: 3,
    height: 13,
    width: 13,
    output: 6,
  }],
  ["identity 6x6 -> 6", { batch: 1, channels: 4, height: 6, width: 6, output: 6 }],
  ["non-square 7x5 -> 3", { batch: 3, channels: 2, height: 7, width: 5, output: 3 }],
  ["upsampling 3x3 -> 4 (overlapping windows)", {
    batch: 1,
    channels: 2,
    height: 3,
    width: 3,
    output: 4,
  }],
];

for (const [name, p] of CASES) {
  Deno.test(`avgpool ${name}: forward and backward match the reference`, GPU_TEST, async () => {
    const col = await gpu();
    const pool = await AvgPool.create(col, p);
    const inShape = pool.inShape, outShape = pool.outShape;
    const xs = uniform(inShape.reduce((a, b) => a * b), 11);
    const gs = uniform(outShape.reduce((a, b) => a * b), 12);
    using x = Tensor.from(col, xs, inShape, "x", "f32");
    using y = Tensor.from(col, new Float32Array(gs.length).fill(123), outShape, "y", "f32");
    using dY = Tensor.from(col, gs, outShape, "dY", "f32");
    using dX = Tensor.from(col, new Float32Array(xs.length).fill(123), inShape, "dX", "f32");
    const enc = new Encoder(col, "avgpool test");
    pool.forward(enc, { x, y });
    pool.backward(enc, { dY, dX });
    enc.submit();
    const s = { ...p, output: p.output };
    assertClose(await y.read(), avgPoolForwardRef(s, xs), { shape: outShape, what: "forward" });
    assertClose(await dX.read(), avgPoolBackwardRef(s, gs), { shape: inShape, what: "backward" });
  });
}

Deno.test("avgpool refuses tensors of the wrong shape, naming them", GPU_TEST, async () => {
  const col = await gpu();
  const pool = await AvgPool.create(col, { batch: 1, channels: 2, height: 4, width: 4, output: 1 });
  using x = Tensor.zeros(col, [1, 2, 4, 4], "x");
  using y = Tensor.zeros(col, [1, 2, 2, 2], "y");
  const enc = new Encoder(col, "avgpool bad");
  assert.throws(
    () => pool.forward(enc, { x, y }),
    /avgpool\.forward: y \(y\) must have shape \[1,2,1,1\], got \[1,2,2,2\]/,
  );
  await assert.rejects(
    () => AvgPool.create(col, { batch: 1, channels: 2, height: 4, width: 4, output: 0 }),
    /avgpool: output must be a positive integer/,
  );
});
