import assert from "node:assert/strict";
import { Elementwise, elementwiseWgsl } from "../kernels/elementwise.ts";
import { Encoder } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";
import { uniform } from "../reference/rand.ts";
import { reluBackward, reluForward } from "../reference/elementwise.ts";

Deno.test("reference relu matches hand-computed values", () => {
  assert.deepEqual([...reluForward(new Float32Array([-1, 0, 2]))], [0, 0, 2]);
  assert.deepEqual(
    [...reluBackward(new Float32Array([0, 3, -1]), new Float32Array([5, 6, 7]))],
    [0, 6, 0],
  );
});

for (const size of [1, 7, 256, 1000, 70_000]) {
  Deno.test(
    `elementwise relu/reluBackward/add match the CPU at size ${size}`,
    GPU_TEST,
    async () => {
      const col = await gpu();
      const ew = await Elementwise.create(col, { size, workgroupSize: 64 });
      const xs = uniform(size, 1), gs = uniform(size, 2);
      using x = Tensor.from(col, xs, [size], "x");
      using y = Tensor.empty(col, [size], "y");
      using dY = Tensor.from(col, gs, [size], "dY");
      using dX = Tensor.empty(col, [size], "dX");
      using acc = Tensor.from(col, xs, [size], "acc");
      const enc = new Encoder(col, "test");
      ew.relu(enc, { x, y });
      ew.reluBackward(enc, { y, dY, dX });
      ew.add(enc, { src: dY, dst: acc });
      enc.submit();
      const yRef = reluForward(xs);
      assertClose(await y.read(), yRef, { what: "relu", rel: 0 });
      assertClose(await dX.read(), reluBackward(yRef, gs), { what: "reluBackward", rel: 0 });
      assertClose(await acc.read(), xs.map((v, i) => v + gs[i]), { what: "add", rel: 1e-7 });
    },
  );
}

Deno.test("elementwise folds grids over 65535 workgroups into 2-D", GPU_TEST, async () => {
  assert.match(elementwiseWgsl("relu", 1), /arrayLength\(&y\)/);
  const col = await gpu();
  const size = 70_001; // 70,001 workgroups of 1: more than one dimension allows
  const ew = await Elementwise.create(col, { size, workgroupSize: 1 });
  const xs = uniform(size, 9);
  using x = Tensor.from(col, xs, [size], "x");
  using y = Tensor.zeros(col, [size], "y");
  const enc = new Encoder(col);
  ew.relu(enc, { x, y });
  enc.submit();
  assertClose(await y.read(), reluForward(xs), { rel: 0, what: "folded relu" });
});

Deno.test("elementwise rejects bad sizes and mismatched tensors", GPU_TEST, async () => {
  const col = await gpu();
  await assert.rejects(() => Elementwise.create(col, { size: 0 }), /elementwise: size must be/);
  const ew = await Elementwise.create(col, { size: 4 });
  using x = Tensor.empty(col, [5], "x5");
  using y = Tensor.empty(col, [4], "y4");
  assert.throws(
    () => ew.relu(new Encoder(col), { x, y }),
    /elementwise.relu: x \(x5\) must be f32 with 4/,
  );
});
