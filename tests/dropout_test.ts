import assert from "node:assert/strict";
import { Dropout, dropoutMask } from "../kernels/dropout.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { philox4x32 } from "../kernels/_rng.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { dropoutMaskRef, dropoutRef, philoxRef } from "../reference/dropout.ts";

// Random123 tests/kat_vectors, "philox4x32 10" lines: counter, key, expected output.
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

Deno.test("Philox4x32-10 (reference and host) match Random123's known answers", () => {
  for (const [ctr, key, want] of KAT) {
    assert.deepEqual(philoxRef(ctr, key), want);
    assert.deepEqual(philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]), want);
  }
});

Deno.test("host dropout mask equals the BigInt reference", () => {
  for (const p of [0, 0.1, 0.5, 0.9]) {
    assert.deepEqual(dropoutMask(p, 12345, 7, 1027), dropoutMaskRef(p, 12345, 7, 1027), `p=${p}`);
  }
  // p = 0 keeps everything; the reference dropout scales by 1/(1-p) by hand.
  assert.ok(dropoutMask(0, 1, 2, 100).every((m) => m === 1));
  assert.deepEqual([...dropoutRef(new Float32Array([1, 2, 3]), new Uint8Array([1, 0, 1]), 0.5)], [
    2,
    0,
    6,
  ]);
});

Deno.test("GPU Philox matches Random123's known answers", GPU_TEST, async () => {
  // Elements 0..3 of seed 0, step 0 are the words of the all-zero KAT vector. Setting
  // the threshold to a word keeps that element; one above it drops it.
  const col = await gpu();
  const want = KAT[0][2];
  for (let j = 0; j < 4; j++) {
    for (const [delta, kept] of [[0, 1], [1, 0]] as const) {
      const p = (want[j] + delta) / 2 ** 32; // threshold = want[j] + delta exactly
      const drop = await Dropout.create(col, { size: 4, p });
      using x = Tensor.from(col, new Float32Array([1, 1, 1, 1]), [4], "x");
      using y = Tensor.empty(col, [4], "y");
      const enc = new Encoder(col);
      drop.forward(enc, { x, y, seed: 0, step: 0 });
      enc.submit();
      assert.equal((await y.read())[j] !== 0 ? 1 : 0, kept, `word ${j} delta ${delta}`);
    }
  }
});

Deno.test("dropout GPU mask equals the host mask bit-for-bit at 100k", GPU_TEST, async () => {
  const col = await gpu();
  const size = 100_003, p = 0.5;
  const drop = await Dropout.create(col, { size, p });
  using x = Tensor.from(col, new Float32Array(size).fill(1), [size], "ones");
  using y0 = Tensor.empty(col, [size], "y0");
  using y1 = Tensor.empty(col, [size], "y1");
  using y2 = Tensor.empty(col, [size], "y2");
  const enc = new Encoder(col);
  drop.forward(enc, { x, y: y0, seed: 42, step: 0 });
  drop.forward(enc, { x, y: y1, seed: 42, step: 1 }); // same encoder: separate uniform slots
  drop.forward(enc, { x, y: y2, seed: 42, step: 0 });
  enc.submit();
  const g0 = (await y0.read()).map((v) => (v === 2 ? 1 : v === 0 ? 0 : NaN));
  const g1 = (await y1.read()).map((v) => (v === 2 ? 1 : v === 0 ? 0 : NaN));
  const g2 = await y2.read();
  const m0 = drop.mask(42, 0), m1 = drop.mask(42, 1);
  assert.deepEqual(Uint8Array.from(g0), m0, "step 0");
  assert.deepEqual(Uint8Array.from(g1), m1, "step 1");
  assert.deepEqual(g2, await y0.read(), "same seed/step reproduces");
  let kept = 0, same = 0;
  for (let i = 0; i < size; i++) kept += m0[i], same += m0[i] === m1[i] ? 1 : 0;
  // Binomial(n, 1/2): sd = sqrt(n)/2 ~ 158; 5 sd bound.
  const sd = Math.sqrt(size * p * (1 - p));
  assert.ok(Math.abs(kept - size * (1 - p)) < 5 * sd, `kept ${kept} of ${size}`);
  // Independent masks agree on about half the elements, not all.
  assert.ok(Math.abs(same - size / 2) < 5 * sd, `steps 0 and 1 agree on ${same}`);
  assert.notDeepEqual(drop.mask(43, 0), m0, "different seeds differ");
});

Deno.test("dropout keeps 1-p of 100k elements at p = 0.1 and 0.9", () => {
  const size = 100_000;
  for (const p of [0.1, 0.9]) {
    const kept = dropoutMask(p, 3, 11, size).reduce((a, b) => a + b, 0);
    const sd = Math.sqrt(size * p * (1 - p));
    assert.ok(Math.abs(kept - size * (1 - p)) < 5 * sd, `p=${p}: kept ${kept}`);
  }
});

Deno.test(
  "dropout forward/backward match the reference; backward reuses the mask",
  GPU_TEST,
  async () => {
    const col = await gpu();
    for (const [size, p] of [[1, 0.5], [7, 0.3], [2053, 0.5], [70_001 * 4, 0.25]] as const) {
      const drop = await Dropout.create(col, { size, p, workgroupSize: 1 });
      const xs = uniform(size, 1), gs = uniform(size, 2);
      using x = Tensor.from(col, xs, [size], "x");
      using y = Tensor.empty(col, [size], "y");
      using dY = Tensor.from(col, gs, [size], "dY");
      using dX = Tensor.from(col, uniform(size, 3), [size], "dX"); // garbage: must be overwritten
      const enc = new Encoder(col);
      drop.forward(enc, { x, y, seed: 7, step: 99 });
      drop.backward(enc, { dY, dX, seed: 7, step: 99 });
      enc.submit();
      const m = size < 5000 ? dropoutMaskRef(p, 7, 99, size) : dropoutMask(p, 7, 99, size);
      assertClose(await y.read(), dropoutRef(xs, m, p), { rel: 0, what: `forward ${size}` });
      assertClose(await dX.read(), dropoutRef(gs, m, p), { rel: 0, what: `backward ${size}` });
    }
  },
);

Deno.test("dropout rejects bad parameters naming kernel and parameter", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(
    () => Dropout.create(col, { size: 4, p: 1 }),
    /dropout: p must be in \[0, 1\)/,
  );
  await assert.rejects(() => Dropout.create(col, { size: 4, p: -0.1 }), /dropout: p must be/);
  await assert.rejects(() => Dropout.create(col, { size: 0 }), /dropout: size must be/);
  const drop = await Dropout.create(col, { size: 4 });
  using x = Tensor.empty(col, [4], "x");
  using y5 = Tensor.empty(col, [5], "y5");
  using yi = Tensor.empty(col, [4], "yi", "i32");
  assert.throws(
    () => drop.forward(new Encoder(col), { x, y: y5, seed: 1, step: 0 }),
    /dropout.forward: y \(y5\) must be f32 with 4 elements/,
  );
  assert.throws(
    () => drop.backward(new Encoder(col), { dY: x, dX: yi, seed: 1, step: 0 }),
    /dropout.backward: dX \(yi\) must be f32/,
  );
  assert.throws(
    () => drop.forward(new Encoder(col), { x, y: x, seed: -1, step: 0 }),
    /dropout.forward: seed must be an integer in \[0, 2\^32\)/,
  );
  assert.throws(
    () => drop.forward(new Encoder(col), { x, y: x, seed: 1, step: 1.5 }),
    /dropout.forward: step must be/,
  );
});
