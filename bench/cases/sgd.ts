// SGD at the paper's parameter shapes (one column's half of every layer).

import type { KernelBenchCase } from "../_case.ts";
import type { Column } from "../../kernels/columns.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Sgd } from "../../kernels/sgd.ts";
import { Tensor } from "../../kernels/tensor.ts";

/** One column's parameters (weights [out, in/groups, kh, kw] and biases). */
const COLUMN_PARAMS: [string, number[]][] = [
  ["conv1.weight", [48, 3, 11, 11]],
  ["conv1.bias", [48]],
  ["conv2.weight", [128, 48, 5, 5]],
  ["conv2.bias", [128]],
  ["conv3.weight", [192, 256, 3, 3]],
  ["conv3.bias", [192]],
  ["conv4.weight", [192, 192, 3, 3]],
  ["conv4.bias", [192]],
  ["conv5.weight", [128, 192, 3, 3]],
  ["conv5.bias", [128]],
  ["fc6.weight", [2048, 9216]],
  ["fc6.bias", [2048]],
  ["fc7.weight", [2048, 4096]],
  ["fc7.bias", [2048]],
  ["fc8.weight", [500, 4096]],
  ["fc8.bias", [500]],
];

const W = (i: number) => ((i % 101) - 50) * 1e-4;
const G = (i: number) => ((i % 37) - 18) * 1e-3;
const LR = 0.01;

function sgdCase(name: string, params: [string, number[]][]): KernelBenchCase {
  const sizes = params.map(([, s]) => s.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    name,
    op: "sgd.step",
    shape: params.length === 1
      ? `${params[0][0]} [${params[0][1].join("x")}]`
      : `${params.length} tensors, ${(total / 1e6).toFixed(1)}M params`,
    // The peer runs one tensor; a 16-tensor update has no single-op equivalent there.
    dims: params.length === 1 ? { size: total } : undefined,
    bytes: total * 4 * 5, // read w, dW, v; write w, v
    async prepare(column: Column) {
      const sgd = await Sgd.create(column, { sizes });
      const tensors = params.map(([label, shape], k) => {
        const n = sizes[k];
        return {
          w: Tensor.from(column, Float32Array.from({ length: n }, (_, i) => W(i)), shape, label),
          dW: Tensor.from(
            column,
            Float32Array.from({ length: n }, (_, i) => G(i)),
            shape,
            "d" + label,
          ),
          v: Tensor.zeros(column, shape, `v ${label}`),
        };
      });
      return {
        run(enc: Encoder) {
          sgd.step(enc, { params: tensors, lr: LR });
        },
        async validate() {
          const enc = new Encoder(column, "validate sgd");
          sgd.step(enc, { params: tensors, lr: LR });
          enc.submit();
          for (const [k, p] of tensors.entries()) {
            const w = await p.w.read();
            for (let i = 0; i < w.length; i += 997) {
              const v = -0.0005 * LR * W(i) - LR * G(i);
              const want = W(i) + v;
              if (Math.abs(w[i] - want) > 1e-6 * Math.abs(W(i)) + 1e-9) {
                throw new Error(`sgd bench: ${params[k][0]}[${i}] = ${w[i]}, want ${want}`);
              }
            }
          }
        },
        dispose() {
          for (const p of tensors) p.w.dispose(), p.dW.dispose(), p.v.dispose();
        },
      };
    },
  };
}

/** SGD over fc6's per-column weight and over all of one column's parameters. */
export const cases: KernelBenchCase[] = [
  sgdCase("fc6 weight SGD", [COLUMN_PARAMS[10]]),
  sgdCase("column SGD (all params)", COLUMN_PARAMS),
];
