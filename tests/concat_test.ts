import assert from "node:assert/strict";
import { Slice } from "../kernels/concat.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";

/** Reference: torch.cat(parts, dim=1) of [outer, part_k] blocks. */
function catRef(outer: number, parts: Float32Array[]): Float32Array {
  const widths = parts.map((p) => p.length / outer);
  const total = widths.reduce((a, b) => a + b, 0);
  const y = new Float32Array(outer * total);
  for (let o = 0; o < outer; o++) {
    let off = 0;
    parts.forEach((p, k) => {
      for (let i = 0; i < widths[k]; i++) y[o * total + off + i] = p[o * widths[k] + i];
      off += widths[k];
    });
  }
  return y;
}

Deno.test("reference cat interleaves rows like torch.cat(dim=1)", () => {
  const y = catRef(2, [new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6])]);
  assert.deepEqual([...y], [1, 2, 5, 3, 4, 6]);
});

for (const [outer, widths] of [[1, [5, 3]], [3, [7, 7]], [4, [1000, 24, 13]]] as const) {
  Deno.test(
    `slice place/take/takeAdd concatenate and split [${outer}, ${widths}]`,
    GPU_TEST,
    async () => {
      const col = await gpu();
      const total = widths.reduce((a, b) => a + b, 0);
      const parts = widths.map((w, k) => uniform(outer * w, 10 + k));
      const slices: Slice[] = [];
      let off = 0;
      const before = col.pipelineCount;
      for (const w of widths) {
        slices.push(
          await Slice.create(col, { outer, part: w, total, offset: off, workgroupSize: 64 }),
        );
        off += w;
      }
      // Three shaders (place, take, takeAdd) serve every shape.
      assert.ok(col.pipelineCount - before <= 3, `${col.pipelineCount - before} new pipelines`);
      const xs = parts.map((p, k) => Tensor.from(col, p, [outer, p.length / outer], `x${k}`));
      using y = Tensor.zeros(col, [outer, total], "y");
      const back = parts.map((p, k) => Tensor.from(col, p, [outer, p.length / outer], `back${k}`));
      const sums = parts.map((p, k) => Tensor.from(col, p, [outer, p.length / outer], `sum${k}`));
      const enc = new Encoder(col, "test");
      slices.forEach((s, k) => s.place(enc, { x: xs[k], y }));
      slices.forEach((s, k) => s.take(enc, { y, x: back[k] }));
      slices.forEach((s, k) => s.take(enc, { y, x: sums[k], accumulate: true }));
      enc.submit();
      const want = catRef(outer, parts);
      assertClose(await y.read(), want, { rel: 0, what: "cat" });
      for (let k = 0; k < parts.length; k++) {
        assertClose(await back[k].read(), parts[k], { rel: 0, what: `take ${k}` });
        assertClose(await sums[k].read(), parts[k].map((v) => 2 * v), { rel: 0, what: `add ${k}` });
      }
      [...xs, ...back, ...sums].forEach((t) => t.dispose());
    },
  );
}

Deno.test("slice folds more than 65535 rows into the grid's z", GPU_TEST, async () => {
  const col = await gpu();
  const outer = 70_001;
  const parts = [uniform(outer, 1), uniform(outer * 2, 2)];
  const a = await Slice.create(col, { outer, part: 1, total: 3, offset: 0 });
  const b = await Slice.create(col, { outer, part: 2, total: 3, offset: 1 });
  using x0 = Tensor.from(col, parts[0], [outer, 1], "x0");
  using x1 = Tensor.from(col, parts[1], [outer, 2], "x1");
  using y = Tensor.zeros(col, [outer, 3], "y");
  const enc = new Encoder(col);
  a.place(enc, { x: x0, y });
  b.place(enc, { x: x1, y });
  enc.submit();
  assertClose(await y.read(), catRef(outer, parts), { rel: 0, what: "cat of 70,001 rows" });
});

Deno.test("slice rejects bad params and mismatched tensors", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(
    () => Slice.create(col, { outer: 2, part: 4, total: 6, offset: 3 }),
    /slice: offset \+ part must be at most total/,
  );
  await assert.rejects(
    () => Slice.create(col, { outer: 0, part: 4, total: 6, offset: 0 }),
    /slice: outer must be a positive integer/,
  );
  await assert.rejects(
    () => Slice.create(col, { outer: 1, part: 70_000, total: 70_000, offset: 0, workgroupSize: 1 }),
    /slice: part must be at most 65535 workgroups of 1 elements, got 70000/,
  );
  const s = await Slice.create(col, { outer: 2, part: 2, total: 4, offset: 2 });
  using x = Tensor.zeros(col, [2, 3], "x");
  using y = Tensor.zeros(col, [2, 4], "y");
  assert.throws(
    () => s.place(new Encoder(col), { x, y }),
    /slice.place: x \(x\) must be f32 with 4/,
  );
});
