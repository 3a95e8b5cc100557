// Benchmark cases: the paper's fully-connected layers per column (fc6, fc7, fc8), forward
// and backward (dX + dW/db), at batch 4 and 16. validate() spot-checks sampled outputs
// against direct CPU sums.

import type { KernelBenchCase, PreparedCase } from "../_case.ts";
import type { Column } from "../../kernels/columns.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Linear } from "../../kernels/linear.ts";
import { Tensor } from "../../kernels/tensor.ts";

/** fc6: 9216 -> 2048, fc7: 4096 -> 2048 (both columns' fc6 outputs), fc8: 4096 -> 500. */
export const FC_LAYERS: Record<string, { inFeatures: number; outFeatures: number; relu: boolean }> =
  {
    fc6: { inFeatures: 9216, outFeatures: 2048, relu: true },
    fc7: { inFeatures: 4096, outFeatures: 2048, relu: true },
    fc8: { inFeatures: 4096, outFeatures: 500, relu: false },
  };

function fill(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

function near(what: string, got: number, sum: number, mag: number): void {
  if (!(Math.abs(got - sum) <= 1e-4 * mag + 1e-6)) {
    throw new Error(`${what}: GPU ${got}, CPU ${sum} (sum of |terms| ${mag})`);
  }
}

function fcCase(layer: string, batch: number, backward: boolean): KernelBenchCase {
  const { inFeatures: IN, outFeatures: OUT, relu } = FC_LAYERS[layer];
  return {
    name: `${layer} ${backward ? "backward" : "forward"}`,
    op: backward ? "linear.backward" : "linear.forward",
    shape: `B=${batch} ${IN} -> ${OUT}${relu ? " relu" : ""}`,
    dims: { m: batch, k: IN, n: OUT, relu: relu ? 1 : 0 },
    // forward: one GEMM; backward: dX and dW GEMMs (db rides along as an extra column).
    flops: (backward ? 4 : 2) * batch * IN * OUT,
    async prepare(column: Column): Promise<PreparedCase> {
      const fc = await Linear.create(column, { batch, inFeatures: IN, outFeatures: OUT, relu });
      const t = {
        x: Tensor.from(column, fill(batch * IN, 1, 1), [batch, IN], `${layer}.x`),
        w: Tensor.from(column, fill(OUT * IN, 2, 0.02), [OUT, IN], `${layer}.w`),
        b: Tensor.from(column, fill(OUT, 3, 0.1), [OUT], `${layer}.b`),
        y: Tensor.empty(column, [batch, OUT], `${layer}.y`),
        dY: Tensor.from(column, fill(batch * OUT, 4, 1), [batch, OUT], `${layer}.dY`),
        dX: Tensor.empty(column, [batch, IN], `${layer}.dX`),
        dW: Tensor.empty(column, [OUT, IN], `${layer}.dW`),
        db: Tensor.empty(column, [OUT], `${layer}.db`),
      };
      const enc = new Encoder(column, `${layer} prepare`);
      fc.forward(enc, t);
      enc.submit();
      const run = (e: Encoder) => backward ? fc.backward(e, t) : fc.forward(e, t);
      return {
        run,
        async validate() {
          const e = new Encoder(column, `${layer} validate`);
          run(e);
          e.submit();
          const [x, w, b, y, dY] = await Promise.all(
            [t.x, t.w, t.b, t.y, t.dY].map((v) => v.read() as Promise<Float32Array>),
          );
          const g = (i: number) => (!relu || y[i] > 0 ? dY[i] : 0);
          const pick = (n: number, k: number) =>
            Math.floor(((k * 2654435761) % 2 ** 32) / 2 ** 32 * n);
          const [dX, dW, db] = backward
            ? await Promise.all([t.dX.read(), t.dW.read(), t.db.read()])
            : [];
          for (let k = 1; k <= 12; k++) {
            const n = pick(batch, k), o = pick(OUT, k + 3), i = pick(IN, k + 5);
            if (!backward) {
              let s = b[o], m = Math.abs(b[o]);
              for (let j = 0; j < IN; j++) {
                s += x[n * IN + j] * w[o * IN + j];
                m += Math.abs(x[n * IN + j] * w[o * IN + j]);
              }
              near(`y(${n},${o})`, y[n * OUT + o], relu ? Math.max(s, 0) : s, m);
              continue;
            }
            let s = 0, m = 0;
            for (let j = 0; j < OUT; j++) {
              s += g(n * OUT + j) * w[j * IN + i];
              m += Math.abs(g(n * OUT + j) * w[j * IN + i]);
            }
            near(`dX(${n},${i})`, dX![n * IN + i], s, m);
            let sw = 0, mw = 0, sb = 0, mb = 0;
            for (let j = 0; j < batch; j++) {
              sw += g(j * OUT + o) * x[j * IN + i];
              mw += Math.abs(g(j * OUT + o) * x[j * IN + i]);
              sb += g(j * OUT + o);
              mb += Math.abs(g(j * OUT + o));
            }
            near(`dW(${o},${i})`, dW![o * IN + i], sw, mw);
            near(`db(${o})`, db![o], sb, mb);
          }
        },
        dispose() {
          for (const v of Object.values(t)) v.dispose();
        },
      };
    },
  };
}

/** fc6/fc7/fc8 forward and backward at `batch`. */
export function fcCases(batch: number): KernelBenchCase[] {
  return Object.keys(FC_LAYERS).flatMap((l) => [fcCase(l, batch, false), fcCase(l, batch, true)]);
}

/** The default suite: batch 4 and 16. */
export const cases: KernelBenchCase[] = [...fcCases(4), ...fcCases(16)];
