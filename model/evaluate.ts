// Evaluation: top-1 and top-5 error from the centre crop, or from the paper's 10-crop
// test (four corners and the centre, and their mirror images, softmax averaged).
//
// The training network is reused in evaluation mode (dropout is the identity: it is
// inverted dropout), batch by batch: a short last batch is padded with zero images
// whose predictions are ignored. Ranks use the softmax kernel's tie rule: a class ahead
// of the label is one with a larger probability, or an equal one at a lower index.

import { centreCropParams, PARAMS_PER_CROP, tenCropParams } from "../kernels/augment.ts";
import type { Dataset } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import { Recorder } from "./alexnet.ts";
import type { TrainStep } from "./step.ts";

/** Result of {@link evaluate}. */
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

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Which split (default "val"). */
  split?: "train" | "val";
  /** Average the softmax over the paper's 10 crops (default false: centre crop). */
  tenCrop?: boolean;
  /** Evaluate at most this many images (default all). */
  limit?: number;
  /** Loader reader workers (default 0: read on this thread). */
  workers?: number;
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
    const probs = await net.col(0, "probs").read() as Float32Array;
    for (let i = 0; i < count * K; i++) sum[i] += probs[i];
  }
  if (views > 1) { for (let i = 0; i < sum.length; i++) sum[i] /= views; }
  return sum;
}

/**
 * Top-1 and top-5 error of the network on a split, centre crop or 10-crop.
 *
 * @example
 * ```ts ignore
 * const e = await evaluate(step, dataset, { tenCrop: true });
 * console.log(`top-1 ${(100 * e.top1Error).toFixed(1)}%, top-5 ${(100 * e.top5Error).toFixed(1)}%`);
 * ```
 */
export async function evaluate(
  step: TrainStep,
  dataset: Dataset,
  opts: EvaluateOptions = {},
): Promise<Evaluation> {
  const net = step.net;
  const K = net.config.classes;
  if (dataset.imageSize !== net.config.storedSize) {
    throw new RangeError(
      `evaluate: dataset images are ${dataset.imageSize}px, the config expects ${net.config.storedSize}px`,
    );
  }
  const loader = new Loader(dataset, opts.split ?? "val", {
    batch: net.batch,
    seed: 0,
    shuffle: false,
    dropLast: false,
    workers: opts.workers ?? 0,
  });
  const limit = opts.limit ?? Infinity;
  let count = 0, top1 = 0, top5 = 0, loss = 0;
  try {
    for await (const b of loader) {
      const take = Math.min(b.size, limit - count);
      if (take <= 0) break;
      const S = dataset.imageSize;
      const probs = await classify(step, b.images.subarray(0, take * S * S * 3), take, opts);
      for (let i = 0; i < take; i++) {
        const row = probs.subarray(i * K, (i + 1) * K);
        const rank = rankOf(row, b.labels[i]);
        if (rank < 1) top1++;
        if (rank < 5) top5++;
        loss -= Math.log(Math.max(row[b.labels[i]], 1e-30));
      }
      count += take;
    }
  } finally {
    loader.close();
  }
  if (count === 0) throw new Error(`evaluate: the ${opts.split ?? "val"} split is empty`);
  return {
    top1Error: 1 - top1 / count,
    top5Error: 1 - top5 / count,
    loss: loss / count,
    count,
    tenCrop: opts.tenCrop === true,
  };
}
