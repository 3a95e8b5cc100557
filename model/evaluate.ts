// Evaluation: top-1 and top-5 error from the centre crop, or from the paper's 10-crop
// test (four corners and the centre, and their mirror images, softmax averaged).
//
// The training network is reused in evaluation mode (dropout is the identity: it is
// inverted dropout), batch by batch: a short last batch is padded with zero images
// whose predictions are ignored. Ranks use the softmax kernel's tie rule: a class ahead
// of the label is one with a larger probability, or an equal one at a lower index.

import type { Dataset } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import { classify, type Evaluation, rankOf } from "./classify.ts";
import type { TrainStep } from "./step.ts";

export { classify, type Evaluation, rankOf } from "./classify.ts";

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
