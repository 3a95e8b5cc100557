// The non-finite count (kernels/finite.ts) against a CPU count, over sizes, chunked
// bindings and every kind of special value (NaN payloads, ±Inf, subnormals, ±max).

import assert from "node:assert/strict";
import { NonFinite, nonFiniteWgsl } from "../kernels/finite.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { nonFiniteRef } from "../reference/finite.ts";

Deno.test("reference count: NaN and ±Infinity only", () => {
  assert.equal(nonFiniteRef([0, -0, 1e-45, 3.4e38, -3.4e38, NaN, Infinity, -Infinity]), 3);
});

/** `n` uniform values with `specials` written at seeded positions. */
function withSpecials(n: number, seed: number, specials: number[]): Float32Array {
  const x = Float32Array.from(uniform(n, seed, -1e3, 1e3));
  specials.forEach((v, k) => x[(seed * 7919 + k * 104729) % n] = v);
  return x;
}

Deno.test("nonFinite: counts match the CPU over sizes and special values", GPU_TEST, async () => {
  const col = await gpu();
  const check = await NonFinite.create(col, { workgroupSize: 64, grid: 4 });
  // A NaN with a payload and a negative quiet NaN, as bits, besides the usual ones.
  const bits = new Uint32Array([0x7fc00001, 0xffc00000, 0x7f800001]);
  const odd = Array.from(new Float32Array(bits.buffer));
  const cases = [
    withSpecials(1, 1, []),
    withSpecials(1, 2, [NaN]),
    withSpecials(257, 3, [Infinity, -Infinity]),
    withSpecials(1000, 4, [NaN, ...odd, 1e-45, -1e-45, 3.4028234e38, -3.4028234e38]),
    withSpecials(5000, 5, Array(40).fill(NaN)), // more than one value per thread
    withSpecials(4096, 6, [0, -0]),
  ];
  const tensors = cases.map((x, i) => Tensor.from(col, x, [x.length], `x${i}`));
  try {
    const got = await check.count(tensors);
    assert.deepEqual(got, cases.map(nonFiniteRef));
    assert.deepEqual(got, [0, 1, 2, 4, 40, 0]); // by hand: the seeded positions are distinct
  } finally {
    tensors.forEach((t) => t.dispose());
  }
});

Deno.test("nonFinite: a tensor bound in chunks is counted whole", GPU_TEST, async () => {
  const col = await gpu();
  const align = col.limits.minStorageBufferOffsetAlignment;
  const check = await NonFinite.create(col, { maxBindingBytes: 3 * align });
  const n = 10 * align + 5; // 13+ chunks with a ragged last one
  const x = withSpecials(n, 7, [NaN, Infinity, NaN, -Infinity, NaN]);
  x[n - 1] = NaN; // in the last chunk
  x[0] = Infinity; // in the first
  using t = Tensor.from(col, x, [n], "chunked");
  using counts = Tensor.zeros(col, [2], "counts", "u32");
  const enc = new Encoder(col);
  check.record(enc, [t, t], counts); // accumulates: twice the count in slot 0 and 1
  check.record(enc, [t], counts);
  enc.submit();
  const want = nonFiniteRef(x);
  assert.deepEqual(Array.from(await counts.read()), [2 * want, want]);
});

Deno.test("nonFiniteWgsl tests the exponent bits, not x != x", () => {
  const src = nonFiniteWgsl(256, 64);
  assert.match(src, /0x7f800000u/);
  assert.doesNotMatch(src, /!=/);
});

Deno.test("nonFinite: bad input is refused, naming it", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(
    () => NonFinite.create(col, { grid: 0 }),
    /nonFinite: grid must be a positive integer/,
  );
  await assert.rejects(
    () => NonFinite.create(col, { maxBindingBytes: 2 }),
    /nonFinite: maxBindingBytes 2 is below the alignment/,
  );
  const check = await NonFinite.create(col);
  using ints = Tensor.zeros(col, [4], "ints", "u32");
  using x = Tensor.zeros(col, [4], "x");
  using small = Tensor.zeros(col, [1], "small", "u32");
  const enc = new Encoder(col);
  assert.throws(
    () => check.record(enc, [ints as unknown as Tensor], small),
    /ints must be f32, got u32/,
  );
  assert.throws(() => check.record(enc, [x, x], small), /counts \(small\) must be u32 with >= 2/);
  enc.submit();
  assert.deepEqual(await check.count([]), []);
});
