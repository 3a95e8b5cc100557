// The ceiling lab's shader does the multiply-adds it counts: its output matches a CPU
// run of the same recurrence in every operand mode.

import { type CeilingMode, ceilingWgsl } from "../bench/lab_ceiling.ts";
import { Encoder, sync } from "../kernels/encoder.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { uniform } from "../reference/rand.ts";
import { gpu, GPU_TEST } from "./_gpu.ts";

/** The shader's arithmetic on the CPU for workgroup 0 (64 invocations). */
function ceilingRef(
  src: Float32Array,
  tm: number,
  tn: number,
  k: number,
  mode: CeilingMode,
): Float32Array {
  // "ubo" reads the same values as "both", its rows from a uniform buffer.
  const loadA = mode === "uniform" || mode === "both" || mode === "ubo";
  const loadB = mode === "lane" || mode === "both" || mode === "ubo";
  const f = Math.fround;
  const out = new Float32Array(64);
  for (let lid = 0; lid < 64; lid++) {
    const acc = new Float64Array(tm * tn);
    const a = Array.from({ length: tm }, (_, i) => f(f(i) * f(1e-3)));
    const b = Array.from({ length: tn }, (_, j) => f(f(lid + j) * f(1e-3)));
    for (let s = 0; s < k; s++) {
      const av = a.map((v, i) => loadA ? src[(s * tm + i) & 16383] : v);
      const bv = b.map((v, j) => loadB ? src[(s * 64 + lid * tn + j) & 16383] : v);
      for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) acc[i * tn + j] += av[i] * bv[j];
      for (let i = 0; i < tm; i++) if (!loadA) a[i] = f(f(a[i] * f(0.999)) + f(1e-4));
      for (let j = 0; j < tn; j++) if (!loadB) b[j] = f(f(b[j] * f(0.999)) + f(1e-4));
    }
    out[lid] = acc.reduce((x, y) => x + y, 0) + src[lid];
  }
  return out;
}

for (const mode of ["none", "lane", "uniform", "both", "ubo"] as const) {
  Deno.test(`lab_ceiling: a 3x2 block, ${mode}, matches the CPU`, GPU_TEST, async () => {
    const col = await gpu();
    const srcValues = uniform(16384, 7, -1, 1);
    using src = Tensor.from(col, srcValues, [16384], "src");
    using dst = Tensor.zeros(col, [64], "dst");
    const usrc = col.uniformBuffer("usrc", srcValues.slice().buffer);
    const pipeline = await col.pipeline(`ceiling test ${mode}`, ceilingWgsl(3, 2, 20, mode));
    const enc = new Encoder(col, "ceiling test");
    enc.dispatch(pipeline, [src, dst, usrc], [1, 1, 1]);
    enc.submit();
    await sync(col);
    assertClose(await dst.read(), ceilingRef(srcValues, 3, 2, 20, mode), {
      rel: 1e-4,
      what: `ceiling ${mode}`,
    });
    usrc.destroy();
  });
}
