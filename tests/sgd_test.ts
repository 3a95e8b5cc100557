import assert from "node:assert/strict";
import { Sgd } from "../kernels/sgd.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { sgdRef } from "../reference/sgd.ts";

Deno.test("reference SGD matches a step by hand", () => {
  // w=2, g=3, v=1, lr=0.1, m=0.9, wd=0.5: v = 0.9 - 0.5*0.1*2 - 0.1*3 = 0.5; w = 2.5
  const [w, v] = sgdRef([2], [3], [1], 0.1, 0.9, 0.5);
  assertClose(v, [0.5], { rel: 1e-12 });
  assertClose(w, [2.5], { rel: 1e-12 });
});

Deno.test(
  "SGD: several steps over params of different sizes match the reference",
  GPU_TEST,
  async () => {
    const col = await gpu();
    const sizes = [1, 7, 64, 1003, 4096];
    const before = col.pipelineCount;
    const sgd = await Sgd.create(col, { sizes, workgroupSize: 64 });
    // One vec4 and one scalar shader serve every size.
    assert.ok(col.pipelineCount - before <= 2, `${col.pipelineCount - before} new pipelines`);
    let ws = sizes.map((n, k) => uniform(n, 10 + k, -0.1, 0.1) as ArrayLike<number>);
    let vs = sizes.map((n) => new Float64Array(n) as ArrayLike<number>);
    const w = sizes.map((n, k) => Tensor.from(col, Float32Array.from(ws[k]), [n], `w${k}`));
    const v = sizes.map((n) => Tensor.zeros(col, [n], "v"));
    const dW = sizes.map((n) => Tensor.empty(col, [n], "dW"));
    const lrs = [0.01, 0.01, 0.001];
    for (const [s, lr] of lrs.entries()) {
      const gs = sizes.map((n, k) => uniform(n, 100 * s + k));
      gs.forEach((g, k) => dW[k].write(g));
      const enc = new Encoder(col);
      sgd.step(enc, { params: sizes.map((_, k) => ({ w: w[k], dW: dW[k], v: v[k] })), lr });
      enc.submit();
      const next = sizes.map((_, k) => sgdRef(ws[k], gs[k], vs[k], lr, 0.9, 0.0005));
      ws = next.map((x) => x[0]), vs = next.map((x) => x[1]);
    }
    for (let k = 0; k < sizes.length; k++) {
      assertClose(await w[k].read(), ws[k], { what: `w (size ${sizes[k]})` });
      assertClose(await v[k].read(), vs[k], { what: `v (size ${sizes[k]})`, rel: 1e-3 });
    }
    for (const t of [...w, ...v, ...dW]) t.dispose();
  },
);

Deno.test(
  "SGD: two steps in one encoder keep their own lr; chunked binding",
  GPU_TEST,
  async () => {
    const col = await gpu();
    // 1000 elements bound in chunks of 64 (256-byte alignment -> 64 f32): 15x64 + 40.
    const n = 1000;
    const sgd = await Sgd.create(col, { sizes: [n], maxBindingBytes: 256 });
    const w0 = uniform(n, 1), g0 = uniform(n, 2), v0 = uniform(n, 3, -0.01, 0.01);
    using w = Tensor.from(col, w0, [n], "w");
    using dW = Tensor.from(col, g0, [n], "dW");
    using v = Tensor.from(col, v0, [n], "v");
    const enc = new Encoder(col);
    sgd.step(enc, { params: [{ w, dW, v }], lr: 0.1, momentum: 0.5, weightDecay: 0.01 });
    sgd.step(enc, { params: [{ w, dW, v }], lr: 0.02, momentum: 0.9, weightDecay: 0 });
    enc.submit();
    const [w1, v1] = sgdRef(w0, g0, v0, 0.1, 0.5, 0.01);
    const [w2, v2] = sgdRef(w1, g0, v1, 0.02, 0.9, 0);
    assertClose(await w.read(), w2, { what: "w" });
    assertClose(await v.read(), v2, { what: "v", rel: 1e-3 });
  },
);

Deno.test("SGD rejects bad parameters naming kernel and parameter", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(() => Sgd.create(col, { sizes: [] }), /sgd: sizes must be a non-empty/);
  await assert.rejects(
    () => Sgd.create(col, { sizes: [4, 0] }),
    /sgd: sizes\[1\] must be a positive/,
  );
  const sgd = await Sgd.create(col, { sizes: [4] });
  using w = Tensor.empty(col, [4], "w");
  using w5 = Tensor.empty(col, [5], "w5");
  using vi = Tensor.empty(col, [4], "vi", "i32");
  const enc = new Encoder(col);
  assert.throws(
    () => sgd.step(enc, { params: [{ w, dW: w, v: w }], lr: NaN }),
    /sgd.step: lr must be a finite number >= 0/,
  );
  assert.throws(
    () => sgd.step(enc, { params: [{ w, dW: w, v: w }], lr: 0.1, momentum: -1 }),
    /sgd.step: momentum must be/,
  );
  assert.throws(
    () => sgd.step(enc, { params: [{ w: w5, dW: w5, v: w5 }], lr: 0.1 }),
    /sgd.step: params\[0\].w \(w5\) has 5 elements, not one of the sizes this Sgd was created for \(4\)/,
  );
  assert.throws(
    () => sgd.step(enc, { params: [{ w, dW: w, v: vi }], lr: 0.1 }),
    /sgd.step: params\[0\].v \(vi\) must be f32 with 4 elements/,
  );
});
