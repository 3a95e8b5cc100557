// Dropout at fc6/fc7's per-column shape [N, 2048] (forward and backward cost the same).

import type { KernelBenchCase } from "../_case.ts";
import { Dropout } from "../../kernels/dropout.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Tensor } from "../../kernels/tensor.ts";

function dropoutCase(batch: number): KernelBenchCase {
  const size = batch * 2048;
  return {
    name: "fc6 dropout forward",
    op: "dropout.forward",
    shape: `N=${batch} 2048 p=0.5`,
    dims: { size },
    bytes: size * 8,
    async prepare(column) {
      const drop = await Dropout.create(column, { size, p: 0.5 });
      const xs = new Float32Array(size).map((_, i) => (i % 13) - 6);
      const x = Tensor.from(column, xs, [batch, 2048], "fc6 relu");
      const y = Tensor.empty(column, [batch, 2048], "fc6 dropout");
      return {
        run(enc) {
          drop.forward(enc, { x, y, seed: 6, step: 1 });
        },
        async validate() {
          const enc = new Encoder(column, "validate dropout");
          drop.forward(enc, { x, y, seed: 6, step: 1 });
          enc.submit();
          const got = await y.read(), m = drop.mask(6, 1);
          for (let i = 0; i < size; i++) {
            const want = m[i] ? xs[i] * 2 : 0;
            if (got[i] !== want) {
              throw new Error(`dropout bench: y[${i}] = ${got[i]}, want ${want}`);
            }
          }
        },
        dispose() {
          x.dispose();
          y.dispose();
        },
      };
    },
  };
}

/** Dropout cases at the paper's shapes (batch 128) and a small batch. */
export const cases: KernelBenchCase[] = [dropoutCase(128), dropoutCase(16)];
