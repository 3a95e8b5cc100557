// Classification of images already in memory: the class probabilities of a batch from
// the centre crop or the paper's 10-crop average, and the rank rule top-1/top-5 use. No
// data loader or file system here (evaluate.ts walks a dataset with them).

import { centreCropParams, PARAMS_PER_CROP, tenCropParams } from "../kernels/augment.ts";
import { Recorder } from "./alexnet.ts";
import type { TrainStep } from "./step.ts";

/** Top-1/top-5 error and loss over a set of images (what evaluate() returns). */
export interface Evaluation {
  /** Fraction of images whose most probable class is wrong. */
  top1Error: number;
  /** Fraction of images whose label is not among the five most probable classes. */
  top5Error: number;
  /** Mean -log p(label) of the (averaged) softmax. */
  loss: number;
  /** Images evaluated. */
  count: number;
  /** Whether the 10-crop average was used. */
  tenCrop: boolean;
}

/** Rank of `label` in `probs` (0 = top-1), counting equal values at lower indices as ahead. */
export function rankOf(probs: ArrayLike<number>, label: number): number {
  const p = probs[label];
  let rank = 0;
  for (let j = 0; j < probs.length; j++) {
    if (probs[j] > p || (j < label && probs[j] === p)) rank++;
  }
  return rank;
}

/**
 * Class probabilities of up to `batch` stored images (each S x S x 3 uint8, packed into
 * `images`), from the centre crop or averaged over the 10 crops. Returns
 * `[count, classes]` probabilities.
 *
 * @example
 * ```ts ignore
 * const probs = await classify(step, rgb, 1, { tenCrop: true });
 * ```
 */
export async function classify(
  step: TrainStep,
  images: Uint8Array,
  count: number,
  opts: { tenCrop?: boolean } = {},
): Promise<Float32Array> {
  const net = step.net;
  const n = net.batch, S = net.config.storedSize, C = net.config.inputSize;
  const K = net.config.classes;
  if (!(count >= 1 && count <= n) || images.length !== count * S * S * 3) {
    throw new RangeError(
      `classify: expected 1..${n} images of ${S}x${S}x3 bytes, got ${images.length} bytes for ${count}`,
    );
  }
  const padded = new Uint8Array(n * S * S * 3);
  padded.set(images);
  const src = Array.from({ length: n }, (_, i) => i);
  const views = opts.tenCrop ? 10 : 1;
  const all = opts.tenCrop ? tenCropParams(src, S, C) : centreCropParams(src, S, C);
  const rows = new Float32Array(n * PARAMS_PER_CROP);
  const sum = new Float32Array(count * K);
  for (let v = 0; v < views; v++) {
    for (let i = 0; i < n; i++) {
      const r = (i * views + v) * PARAMS_PER_CROP;
      rows.set(all.subarray(r, r + PARAMS_PER_CROP), i * PARAMS_PER_CROP);
    }
    const rec = new Recorder(net.columns, `classify view ${v}`);
    step.write(rec, padded, rows);
    await net.forward(rec, { train: false, step: 0 });
    net.softmax(rec);
    rec.flush();
    const probs = await net.io(0).probs.read() as Float32Array;
    for (let i = 0; i < count * K; i++) sum[i] += probs[i];
  }
  if (views > 1) { for (let i = 0; i < sum.length; i++) sum[i] /= views; }
  return sum;
}
