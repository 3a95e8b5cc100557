// Softmax cross-entropy at the paper's fc8 output [N, 1000]: loss, dLogits and hits.

import type { KernelBenchCase } from "../_case.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { SoftmaxCrossEntropy } from "../../kernels/softmax_xent.ts";
import { Tensor } from "../../kernels/tensor.ts";

function xentCase(batch: number): KernelBenchCase {
  const classes = 1000, size = batch * classes;
  return {
    name: "fc8 softmax cross-entropy",
    op: "softmaxXent.run",
    shape: `N=${batch} 1000 classes (loss + dLogits + hits)`,
    dims: { n: batch, classes },
    // logits read twice (max/rank pass, exp pass) and once more for dLogits; dLogits written.
    bytes: size * 4 * 4 + batch * 8,
    async prepare(column) {
      const xent = await SoftmaxCrossEntropy.create(column, { batch, classes });
      const xs = new Float32Array(size).map((_, i) => ((i * 7919) % 1000) / 100 - 5);
      const ls = Int32Array.from({ length: batch }, (_, b) => (b * 37) % classes);
      const logits = Tensor.from(column, xs, [batch, classes], "fc8 logits");
      const labels = Tensor.from(column, ls, [batch], "labels");
      const loss = Tensor.empty(column, [batch], "loss");
      const dLogits = Tensor.empty(column, [batch, classes], "dLogits");
      const hits = Tensor.empty(column, [2], "hits", "u32");
      const record = (enc: Encoder) => xent.run(enc, { logits, labels, loss, dLogits, hits });
      return {
        run: record,
        async validate() {
          const enc = new Encoder(column, "validate xent");
          record(enc);
          enc.submit();
          const got = await loss.read();
          const g = await dLogits.read();
          for (let b = 0; b < batch; b++) {
            const row = xs.subarray(b * classes, (b + 1) * classes);
            const m = Math.max(...row);
            let s = 0, gs = 0;
            for (const v of row) s += Math.exp(v - m);
            const want = m + Math.log(s) - row[ls[b]];
            if (Math.abs(got[b] - want) > 1e-4 * Math.abs(want) + 1e-5) {
              throw new Error(`xent bench: loss[${b}] = ${got[b]}, want ${want}`);
            }
            for (let j = 0; j < classes; j++) gs += g[b * classes + j];
            if (Math.abs(gs) > 1e-5) throw new Error(`xent bench: dLogits row ${b} sums to ${gs}`);
          }
        },
        dispose() {
          for (const t of [logits, labels, loss, dLogits, hits]) t.dispose();
        },
      };
    },
  };
}

/** Softmax cross-entropy at batch 128 (the paper's) and 16. */
export const cases: KernelBenchCase[] = [xentCase(128), xentCase(16)];
