// Standalone ReLU backward at conv1's per-column activation [N, 48, 55, 55]: reads y and
// dY, writes dX, so it moves 3 * 4 bytes per element.

import type { KernelBenchCase } from "../_case.ts";
import { Elementwise } from "../../kernels/elementwise.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Tensor } from "../../kernels/tensor.ts";

/** ReLU backward on conv1's output at batch `batch`. */
export function casesFor(batch: number): KernelBenchCase[] {
  const shape = [batch, 48, 55, 55];
  const size = batch * 48 * 55 * 55;
  return [{
    name: "conv1 relu backward",
    op: "elementwise.reluBackward",
    shape: `N=${batch} 48x55x55`,
    dims: { size },
    bytes: 3 * 4 * size,
    async prepare(column) {
      const ew = await Elementwise.create(column, { size });
      // Exact small values, half of them <= 0, so the mask is exercised and exact.
      const ys = new Float32Array(size).map((_, i) => ((i * 7) % 11) - 5);
      const dys = new Float32Array(size).map((_, i) => ((i * 3) % 13) - 6);
      const y = Tensor.from(column, ys, shape, "conv1 y");
      const dY = Tensor.from(column, dys, shape, "conv1 dY");
      const dX = Tensor.empty(column, shape, "conv1 dX");
      return {
        run(enc) {
          ew.reluBackward(enc, { y, dY, dX });
        },
        async validate() {
          const enc = new Encoder(column, "validate relu backward");
          ew.reluBackward(enc, { y, dY, dX });
          enc.submit();
          const got = await dX.read();
          for (let i = 0; i < size; i++) {
            const want = ys[i] > 0 ? dys[i] : 0;
            if (got[i] !== want) {
              throw new Error(`relu backward: dX[${i}] = ${got[i]}, want ${want}`);
            }
          }
        },
        dispose() {
          y.dispose();
          dY.dispose();
          dX.dispose();
        },
      };
    },
  }];
}

/** The case at batch 4 (the runner calls {@link casesFor} with `--batch`). */
export const cases: KernelBenchCase[] = casesFor(4);
