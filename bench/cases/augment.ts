// GPU augmentation at the paper's sizes: 256x256 uint8 RGB sources -> 224x224 f32 crops.

import type { KernelBenchCase } from "../_case.ts";
import { Augment, trainCropParams } from "../../kernels/augment.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Tensor } from "../../kernels/tensor.ts";

function augmentCase(count: number): KernelBenchCase {
  const S = 256, K = 224, C = 3;
  return {
    name: "augment (crop, flip, mean, lighting)",
    op: "augment.run",
    shape: `${count} images ${S}->${K} RGB`,
    // per output value: 1 source byte + 4 mean bytes read, 4 bytes written.
    bytes: count * C * K * K * 9 + count * 32,
    async prepare(column) {
      const aug = await Augment.create(column, { count, srcSize: S, cropSize: K });
      const img = Uint8Array.from({ length: count * S * S * C }, (_, i) => (i * 2654435761) >>> 24);
      const meanData = Float32Array.from({ length: C * S * S }, (_, i) => (i % 251) / 2);
      let seed = 1;
      const rng = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const lighting = {
        eigvecs: new Float32Array([0.58, -0.7, 0.4, 0.58, 0, -0.8, 0.58, 0.7, 0.4]),
        eigvals: new Float32Array([60, 5, 1]),
      };
      const indices = Array.from({ length: count }, (_, i) => count - 1 - i);
      const p = trainCropParams(rng, count, indices, S, K, { lighting });
      p.set([0, 0, S - K, 1], 0); // an edge crop
      const images = Tensor.from(column, img, [count, S, S, C], "images");
      const mean = Tensor.from(column, meanData, [C, S, S], "mean image");
      const params = Tensor.from(column, p, [count, 8], "crop params");
      const out = Tensor.empty(column, [count, C, K, K], "input");
      const record = (enc: Encoder) => aug.run(enc, { images, mean, params, out });
      return {
        run: record,
        async validate() {
          const enc = new Encoder(column, "validate augment");
          record(enc);
          enc.submit();
          const got = await out.read();
          for (let i = 0; i < count; i++) {
            const [s, oy, ox, flip] = p.subarray(i * 8, i * 8 + 4);
            for (let c = 0; c < C; c++) {
              for (let y = 0; y < K; y += 7) {
                for (let x = 0; x < K; x += 5) {
                  const sy = oy + y, sx = flip ? ox + K - 1 - x : ox + x;
                  const want = img[((s * S + sy) * S + sx) * C + c] -
                    meanData[(c * S + sy) * S + sx] + p[i * 8 + 4 + c];
                  const at = ((i * C + c) * K + y) * K + x;
                  if (Math.abs(got[at] - want) > 1e-3) {
                    throw new Error(
                      `augment bench: out(${i},${c},${y},${x}) = ${got[at]}, want ${want}`,
                    );
                  }
                }
              }
            }
          }
        },
        dispose() {
          for (const t of [images, mean, params, out]) t.dispose();
        },
      };
    },
  };
}

/** Augmentation of a batch of 16 (and the paper's 128) images. */
export const cases: KernelBenchCase[] = [augmentCase(16), augmentCase(128)];
