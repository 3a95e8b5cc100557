import assert from "node:assert/strict";
import { SoftmaxCrossEntropy } from "../kernels/softmax_xent.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { rng, uniform } from "../reference/rand.ts";
import {
  hitsRef,
  labelRank,
  softmaxRef,
  xentGradRef,
  xentLossRef,
} from "../reference/softmax_xent.ts";

Deno.test("reference softmax cross-entropy matches hand-computed values", () => {
  const x = new Float32Array([0, Math.log(2), Math.log(3)]);
  assertClose(softmaxRef(x, 1, 3), [1 / 6, 2 / 6, 3 / 6], { rel: 1e-7 });
  assertClose(xentLossRef(x, [0], 1, 3), [Math.log(6)], { rel: 1e-7 });
  assertClose(xentLossRef(x, [2], 1, 3), [Math.log(2)], { rel: 1e-7 });
  // Two rows, mean-loss gradient halves each row's (p - onehot).
  const two = new Float32Array([0, Math.log(2), Math.log(3), 5, 5, 5]);
  assertClose(xentGradRef(two, [1, 0], 2, 3), [
    1 / 12,
    (2 / 6 - 1) / 2,
    3 / 12,
    (1 / 3 - 1) / 2,
    1 / 6,
    1 / 6,
  ], { rel: 1e-7 });
  // Finite differences of the mean loss agree with the gradient.
  const xs = uniform(12, 5, -3, 3), labels = [3, 0, 2];
  const mean = (v: Float32Array) => xentLossRef(v, labels, 3, 4).reduce((a, b) => a + b) / 3;
  const g = xentGradRef(xs, labels, 3, 4);
  for (let i = 0; i < 12; i++) {
    const h = 1e-3, p = Float32Array.from(xs), m = Float32Array.from(xs);
    p[i] += h, m[i] -= h;
    const fd = (mean(p) - mean(m)) / (p[i] - m[i]);
    assert.ok(Math.abs(fd - g[i]) < 1e-4, `fd ${fd} vs ${g[i]} at ${i}`);
  }
  // Ties: equal logits count as ahead when at a lower index.
  assert.equal(labelRank([1, 1, 1, 1, 1, 1], 0), 0);
  assert.equal(labelRank([1, 1, 1, 1, 1, 1], 4), 4);
  assert.equal(labelRank([1, 1, 1, 1, 1, 1], 5), 5);
  assert.equal(labelRank([3, 1, 2, 3], 3), 1);
  assert.equal(labelRank([3, 1, 2, 3], 2), 2);
});

async function check(batch: number, classes: number, logits: Float32Array, labels: Int32Array) {
  const col = await gpu();
  const xent = await SoftmaxCrossEntropy.create(col, { batch, classes, workgroupSize: 32 });
  using x = Tensor.from(col, logits, [batch, classes], "logits");
  using lab = Tensor.from(col, labels, [batch], "labels");
  using loss = Tensor.empty(col, [batch], "loss");
  using dX = Tensor.from(col, uniform(batch * classes, 8), [batch, classes], "dLogits");
  using hits = Tensor.from(col, new Uint32Array([77, 77]), [2], "hits", "u32");
  using probs = Tensor.empty(col, [batch, classes], "probs");
  using loss2 = Tensor.empty(col, [batch], "loss2");
  const enc = new Encoder(col);
  xent.run(enc, { logits: x, labels: lab, loss, dLogits: dX, hits });
  xent.run(enc, { logits: x, labels: lab, loss: loss2 });
  xent.softmax(enc, { logits: x, probs });
  enc.submit();
  const what = `batch ${batch} classes ${classes}`;
  const lossRef = xentLossRef(logits, labels, batch, classes);
  assertClose(await loss.read(), lossRef, { what: `loss ${what}`, abs: 1e-6 });
  assertClose(await loss2.read(), lossRef, { what: `loss (no grad) ${what}`, abs: 1e-6 });
  assertClose(await dX.read(), xentGradRef(logits, labels, batch, classes), {
    what: `dLogits ${what}`,
    rel: 1e-3,
    shape: [batch, classes],
  });
  assertClose(await probs.read(), softmaxRef(logits, batch, classes), {
    what: `probs ${what}`,
    shape: [batch, classes],
  });
  assert.deepEqual([...await hits.read()], hitsRef(logits, labels, batch, classes), `hits ${what}`);
}

function randomLabels(batch: number, classes: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: batch }, () => Math.floor(r() * classes));
}

// Few distinct shapes: lavapipe compiles each pipeline on its first dispatch (~0.5 s).
for (const [batch, classes] of [[1, 1], [1, 10], [5, 7], [2, 1000], [33, 130]]) {
  Deno.test(`softmax xent matches the reference at ${batch}x${classes}`, GPU_TEST, async () => {
    await check(
      batch,
      classes,
      uniform(batch * classes, batch, -4, 4),
      randomLabels(batch, classes, 3),
    );
  });
}

Deno.test("softmax xent is stable for logits around 1000", GPU_TEST, async () => {
  const logits = uniform(5 * 7, 1, 995, 1005);
  logits[3] = -1000; // a huge spread within one row too
  await check(5, 7, logits, new Int32Array([3, 0, 6, 4, 1]));
});

Deno.test("softmax xent counts top-1/top-5 hits with ties broken by index", GPU_TEST, async () => {
  // Seven equal logits: rank = label. Row 0 hits both, row 1 only top-5, row 2 neither.
  // Quantised random rows make many ties elsewhere.
  const batch = 5, classes = 7;
  const logits = new Float32Array(batch * classes).fill(2);
  const r = rng(4);
  for (let i = 3 * classes; i < logits.length; i++) logits[i] = Math.floor(r() * 3);
  const labels = new Int32Array([0, 4, 5, 1, 2]);
  const [h1, h5] = hitsRef(logits, labels, batch, classes);
  assert.ok(h1 > 0 && h5 > h1 && h5 < batch, `a case that tells ties apart: ${h1}, ${h5}`);
  await check(batch, classes, logits, labels);
});

Deno.test(
  "softmax xent: bad labels give NaN loss and no hit; u32 labels work",
  GPU_TEST,
  async () => {
    const col = await gpu();
    const xent = await SoftmaxCrossEntropy.create(col, { batch: 2, classes: 3 });
    using x = Tensor.from(
      col,
      new Float32Array([0, Math.log(2), Math.log(3), 1, 2, 3]),
      [2, 3],
      "x",
    );
    using lab = Tensor.from(col, new Uint32Array([2, 3]), [2], "labels", "u32");
    using loss = Tensor.empty(col, [2], "loss");
    using hits = Tensor.empty(col, [2], "hits", "u32");
    const enc = new Encoder(col);
    xent.run(enc, { logits: x, labels: lab, loss, hits });
    enc.submit();
    const l = await loss.read();
    assert.ok(Math.abs(l[0] - Math.log(2)) < 1e-6, `loss ${l[0]}`);
    assert.ok(Number.isNaN(l[1]), `out-of-range label gives NaN, got ${l[1]}`);
    assert.deepEqual([...await hits.read()], [1, 1]);
  },
);

Deno.test("softmax xent rejects bad parameters and tensors", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(
    () => SoftmaxCrossEntropy.create(col, { batch: 0, classes: 3 }),
    /softmaxXent: batch must be a positive integer/,
  );
  await assert.rejects(
    () => SoftmaxCrossEntropy.create(col, { batch: 2, classes: 3, workgroupSize: 48 }),
    /softmaxXent: workgroupSize must be a power of two/,
  );
  const xent = await SoftmaxCrossEntropy.create(col, { batch: 2, classes: 3 });
  using x = Tensor.empty(col, [2, 3], "x");
  using xBad = Tensor.empty(col, [3, 2], "xBad");
  using labF = Tensor.empty(col, [2], "labF");
  using lab = Tensor.empty(col, [2], "lab", "i32");
  using loss = Tensor.empty(col, [2], "loss");
  using hits = Tensor.empty(col, [2], "hits", "f32");
  const enc = new Encoder(col);
  assert.throws(
    () => xent.run(enc, { logits: xBad, labels: lab, loss }),
    /softmaxXent.run: logits \(xBad\) must have shape \[2,3\]/,
  );
  assert.throws(
    () => xent.run(enc, { logits: x, labels: labF, loss }),
    /softmaxXent.run: labels \(labF\) must be i32 or u32/,
  );
  assert.throws(
    () => xent.run(enc, { logits: x, labels: lab, loss, hits }),
    /softmaxXent.run: hits \(hits\) must be u32/,
  );
  assert.throws(
    () => xent.softmax(enc, { logits: x, probs: loss }),
    /softmaxXent.softmax: probs \(loss\) must have shape \[2,3\]/,
  );
});
