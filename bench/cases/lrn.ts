// LRN (n=5, alpha=1e-4 not divided by n, beta=0.75, k=2) at the paper's per-column
// shapes: LRN1 on conv1's 48x55x55, LRN2 on conv2's 128x27x27. Bytes count what the
// kernel moves: x + y forward; x + dY + dX backward (it recomputes s from x, never
// reading y).

import type { KernelBenchCase } from "../_case.ts";
import { Lrn } from "../../kernels/lrn.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Tensor } from "../../kernels/tensor.ts";
import { assertClose } from "../../reference/assert.ts";
import { uniform } from "../../reference/rand.ts";
import { lrnBackward, lrnForward } from "../../reference/lrn.ts";

/** The paper's LRN layers, per column: [name, channels, side]. */
export const LRNS: [string, number, number][] = [
  ["lrn1", 48, 55],
  ["lrn2", 128, 27],
];

function lrnCase(
  layer: string,
  channels: number,
  side: number,
  batch: number,
  dir: "forward" | "backward",
): KernelBenchCase {
  const size = batch * channels * side * side;
  const shape = [batch, channels, side, side];
  return {
    name: `${layer} ${dir}`,
    op: `lrn.${dir}`,
    // "n=5" last: the peer's shape parser reads `n` for the window after `N=` for batch.
    shape: `N=${batch} ${channels}x${side}x${side} n=5`,
    dims: { n: batch, c: channels, h: side, w: side, size: 5 },
    bytes: 4 * size * (dir === "forward" ? 2 : 3),
    async prepare(column) {
      const p = { batch, channels, height: side, width: side };
      const lrn = await Lrn.create(column, p);
      // Post-ReLU magnitudes where alpha * sum(a^2) is not negligible against k.
      const xs = uniform(size, 3, -20, 40).map((v) => Math.max(v, 0));
      const gs = uniform(size, 4);
      const x = Tensor.from(column, xs, shape, `${layer}.x`, "f32");
      const y = Tensor.empty(column, shape, `${layer}.y`);
      const dY = Tensor.from(column, gs, shape, `${layer}.dY`, "f32");
      const dX = Tensor.empty(column, shape, `${layer}.dX`);
      const run = (enc: Encoder) =>
        dir === "forward" ? lrn.forward(enc, { x, y }) : lrn.backward(enc, { x, y, dY, dX });
      return {
        run,
        async validate() {
          const enc = new Encoder(column, `validate ${layer} ${dir}`);
          run(enc);
          enc.submit();
          const ref = { ...p, size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
          if (dir === "forward") {
            assertClose(await y.read(), lrnForward(xs, ref), { shape, rel: 1e-4 });
          } else {
            assertClose(await dX.read(), lrnBackward(xs, gs, ref), { shape, rel: 1e-3 });
          }
        },
        dispose() {
          for (const t of [x, y, dY, dX]) t.dispose();
        },
      };
    },
  };
}

/** LRN1/LRN2 forward and backward at `batch` (per-column shapes). */
export function lrnCases(batch = 4): KernelBenchCase[] {
  return LRNS.flatMap(([layer, c, side]) =>
    (["forward", "backward"] as const).map((dir) => lrnCase(layer, c, side, batch, dir))
  );
}

/** The cases at batch 4. */
export const cases: KernelBenchCase[] = lrnCases(4);
