// Max pooling at the paper's per-column shapes (pool1, pool2, pool5; 3x3 stride 2),
// forward and backward. Bytes count what the kernel moves: x + y + argmax forward;
// argmax + dY + dX backward (argmax: the packed per-window choices, 4 bits each for 3x3).

import type { KernelBenchCase } from "../_case.ts";
import { MaxPool, maxPoolArgmaxShape, maxPoolShape } from "../../kernels/maxpool.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Tensor } from "../../kernels/tensor.ts";
import { assertClose } from "../../reference/assert.ts";
import { uniform } from "../../reference/rand.ts";
import { maxpoolBackward, maxpoolForward } from "../../reference/maxpool.ts";

/** The paper's pooling layers, per column: [name, channels, input side]. */
export const POOLS: [string, number, number][] = [
  ["pool1", 48, 55],
  ["pool2", 128, 27],
  ["pool5", 128, 13],
];

function poolCase(
  layer: string,
  channels: number,
  side: number,
  batch: number,
  dir: "forward" | "backward",
): KernelBenchCase {
  const out = Math.floor((side - 3) / 2) + 1;
  const inSize = batch * channels * side * side, outSize = batch * channels * out * out;
  const inShape = [batch, channels, side, side], outShape = [batch, channels, out, out];
  return {
    name: `${layer} ${dir}`,
    op: `maxpool.${dir}`,
    shape: `N=${batch} ${channels}x${side}x${side} -> ${channels}x${out}x${out} k3 s2`,
    dims: { n: batch, c: channels, h: side, w: side, size: 3, stride: 2 },
    bytes: 4 * (inSize + outSize + argmaxWords(batch, channels, side)),
    async prepare(column) {
      const pool = await MaxPool.create(column, { batch, channels, height: side, width: side });
      const argmax = Tensor.empty(column, pool.argmaxShape, `${layer}.argmax`, "u32");
      // Post-ReLU activations: many zeros, so ties are exercised too.
      const xs = uniform(inSize, 1, -1, 1).map((v) => Math.max(v, 0));
      const gs = uniform(outSize, 2);
      const x = Tensor.from(column, xs, inShape, `${layer}.x`, "f32");
      const y = Tensor.empty(column, outShape, `${layer}.y`);
      const dY = Tensor.from(column, gs, outShape, `${layer}.dY`, "f32");
      const dX = Tensor.empty(column, inShape, `${layer}.dX`);
      const setup = new Encoder(column, `${layer} setup`);
      pool.forward(setup, { x, y, argmax }); // as in training, backward runs after the forward
      setup.submit();
      const run = (enc: Encoder) =>
        dir === "forward"
          ? pool.forward(enc, { x, y, argmax })
          : pool.backward(enc, { argmax, dY, dX });
      return {
        run,
        async validate() {
          const enc = new Encoder(column, `validate ${layer} ${dir}`);
          run(enc);
          enc.submit();
          const s = { batch, channels, height: side, width: side, size: 3, stride: 2, padding: 0 };
          if (dir === "forward") {
            assertClose(await y.read(), maxpoolForward(xs, s).y, { shape: outShape, rel: 0 });
          } else {
            assertClose(await dX.read(), maxpoolBackward(xs, gs, s), { shape: inShape, rel: 1e-6 });
          }
        },
        dispose() {
          for (const t of [x, y, argmax, dY, dX]) t.dispose();
        },
      };
    },
  };
}

function argmaxWords(batch: number, channels: number, side: number): number {
  const s = maxPoolShape({ batch, channels, height: side, width: side });
  return maxPoolArgmaxShape(s).reduce((a, b) => a * b);
}

/** pool1/pool2/pool5 forward and backward at `batch` (per-column shapes). */
export function maxpoolCases(batch = 4): KernelBenchCase[] {
  return POOLS.flatMap(([layer, c, side]) =>
    (["forward", "backward"] as const).map((dir) => poolCase(layer, c, side, batch, dir))
  );
}

/** The cases at batch 4. */
export const cases: KernelBenchCase[] = maxpoolCases(4);
