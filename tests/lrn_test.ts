import assert from "node:assert/strict";
import { Lrn, lrnBackwardWgsl, type LrnParams, lrnShape } from "../kernels/lrn.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import type { Column } from "../kernels/columns.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { lrnBackward, lrnForward, type LrnShape } from "../reference/lrn.ts";

const PAPER = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };

function full(p: LrnParams): LrnShape {
  return { ...PAPER, ...p } as LrnShape;
}

// ---- the reference itself ----

Deno.test("reference LRN matches a 3-channel pixel worked by hand", () => {
  const a = [1, 2, 3];
  // n = 3: windows {0,1}, {0,1,2}, {1,2}; sums of squares 5, 14, 13.
  const p3 = full({
    batch: 1,
    channels: 3,
    height: 1,
    width: 1,
    size: 3,
    alpha: 0.1,
    beta: 0.5,
    k: 1,
  });
  const want3 = [1 / Math.sqrt(1.5), 2 / Math.sqrt(2.4), 3 / Math.sqrt(2.3)];
  lrnForward(a, p3).forEach((v, i) => assert.ok(Math.abs(v - want3[i]) < 1e-12, `n=3 b${i}`));
  // The paper's constants: n = 5 covers all 3 channels, s = 2 + 1e-4 * 14 (alpha not / n).
  const p5 = full({ batch: 1, channels: 3, height: 1, width: 1 });
  const want5 = a.map((v) => v / 2.0014 ** 0.75);
  lrnForward(a, p5).forEach((v, i) => assert.ok(Math.abs(v - want5[i]) < 1e-12, `n=5 b${i}`));
});

Deno.test("reference LRN backward matches finite differences (float64)", () => {
  for (const [size, channels] of [[5, 7], [3, 2], [1, 3], [7, 4]]) {
    // A large alpha makes the cross-channel term as big as the direct one.
    const p = full({
      batch: 2,
      channels,
      height: 2,
      width: 3,
      size,
      alpha: 0.3,
      beta: 0.6,
      k: 1.5,
    });
    const count = 2 * channels * 6;
    const x = Array.from(uniform(count, 21, -2, 2));
    const dY = Array.from(uniform(count, 22));
    const loss = (xs: number[]) => lrnForward(xs, p).reduce((acc, v, i) => acc + v * dY[i], 0);
    const dX = lrnBackward(x, dY, p);
    const eps = 1e-6;
    for (let i = 0; i < count; i++) {
      const up = [...x], down = [...x];
      up[i] += eps, down[i] -= eps;
      const fd = (loss(up) - loss(down)) / (2 * eps);
      assert.ok(Math.abs(fd - dX[i]) < 1e-7, `n=${size} C=${channels} dX[${i}] ${dX[i]} vs ${fd}`);
    }
  }
});

// ---- GPU against the reference ----

async function checkLrn(col: Column, p: LrnParams, xs: Float32Array, what: string) {
  const shape = [p.batch, p.channels, p.height, p.width];
  const gs = uniform(xs.length, 31);
  const lrn = await Lrn.create(col, p);
  using x = Tensor.from(col, xs, shape, "x", "f32");
  using y = Tensor.empty(col, shape, "y");
  using dY = Tensor.from(col, gs, shape, "dY", "f32");
  using dX = Tensor.from(col, new Float32Array(xs.length).fill(123), shape, "dX", "f32");
  const enc = new Encoder(col, "lrn test");
  lrn.forward(enc, { x, y });
  lrn.backward(enc, { x, y, dY, dX });
  enc.submit();
  const ref = full(p);
  assertClose(await y.read(), lrnForward(xs, ref), { shape, rel: 1e-4, what: `${what} forward` });
  assertClose(await dX.read(), lrnBackward(xs, gs, ref), {
    shape,
    rel: 1e-3,
    what: `${what} backward`,
  });
}

// Inputs of magnitude ~20 with the paper's alpha make alpha * sum ~ 0.5, so the
// cross-channel gradient term is not lost under the tolerance.
const CASES: [string, LrnParams, number][] = [
  ["paper constants, batch 1, C=1", { batch: 1, channels: 1, height: 3, width: 5 }, 30],
  ["paper constants, C=3 < n", { batch: 2, channels: 3, height: 5, width: 3 }, 30],
  ["paper constants, C=7", { batch: 2, channels: 7, height: 3, width: 7 }, 30],
  ["paper constants, C=18", { batch: 1, channels: 18, height: 4, width: 5 }, 30],
  ["n=3, other constants", {
    batch: 2,
    channels: 6,
    height: 3,
    width: 3,
    size: 3,
    alpha: 0.2,
    beta: 0.6,
    k: 1.5,
  }, 2],
  ["n=1", { batch: 1, channels: 5, height: 2, width: 3, size: 1, alpha: 0.5, k: 1 }, 2],
  ["n=7, C=9", { batch: 3, channels: 9, height: 1, width: 7, size: 7, alpha: 0.05 }, 2],
];

for (const [name, p, scale] of CASES) {
  Deno.test(`lrn GPU matches the reference: ${name}`, GPU_TEST, async () => {
    const col = await gpu();
    const n = p.batch * p.channels * p.height * p.width;
    await checkLrn(col, p, uniform(n, 9, -scale, scale), name);
    await checkLrn(col, p, new Float32Array(n), `${name} zeros`);
  });
}

Deno.test("lrn GPU at the paper's shapes (batch 1: 48x55x55, 128x27x27)", GPU_TEST, async () => {
  const col = await gpu();
  for (const [c, hw] of [[48, 55], [128, 27]]) {
    const p = { batch: 1, channels: c, height: hw, width: hw };
    const xs = uniform(c * hw * hw, 12, -20, 40).map((v) => Math.max(v, 0)); // post-ReLU
    await checkLrn(col, p, xs, `lrn ${c}x${hw}x${hw}`);
  }
});

Deno.test("lrn rejects bad parameters naming kernel and parameter", GPU_TEST, async () => {
  const base = { batch: 1, channels: 4, height: 2, width: 2 };
  assert.throws(() => lrnShape({ ...base, batch: 0 }), /lrn: batch must be/);
  assert.throws(() => lrnShape({ ...base, channels: 0 }), /lrn: channels must be/);
  assert.throws(() => lrnShape({ ...base, height: -1 }), /lrn: height must be/);
  assert.throws(() => lrnShape({ ...base, size: 0 }), /lrn: size must be/);
  assert.throws(() => lrnShape({ ...base, size: 4 }), /lrn: size must be odd/);
  assert.throws(() => lrnShape({ ...base, alpha: -1 }), /lrn: alpha must be/);
  assert.throws(() => lrnShape({ ...base, beta: NaN }), /lrn: beta must be/);
  assert.throws(() => lrnShape({ ...base, k: 0 }), /lrn: k must be a finite number > 0/);
  assert.deepEqual(lrnShape(base), { ...base, ...PAPER });
  // The paper's beta takes the exact rsqrt form, others pow.
  assert.match(lrnBackwardWgsl(lrnShape(base)), /inverseSqrt/);
  assert.match(lrnBackwardWgsl(lrnShape({ ...base, beta: 0.5 })), /pow\(v, -BETA\)/);
  const col = await gpu();
  await assert.rejects(() => Lrn.create(col, { ...base, workgroupSize: 0 }), /lrn: workgroupSize/);
  const lrn = await Lrn.create(col, base);
  using x = Tensor.empty(col, [1, 4, 2, 2], "x");
  using bad = Tensor.empty(col, [1, 4, 2, 3], "bad");
  assert.throws(
    () => lrn.forward(new Encoder(col), { x, y: bad }),
    /lrn.forward: y \(bad\) must have shape \[1,4,2,2\]/,
  );
  assert.throws(
    () => lrn.backward(new Encoder(col), { x, y: x, dY: bad, dX: x }),
    /lrn.backward: dY \(bad\) must have shape/,
  );
});
