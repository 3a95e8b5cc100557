// The browser rows of `deno task bench --suite browser`: one procedure, run by the page
// (in Chromium) and by bench/_browser.ts (in Deno) on the same data, so the two columns
// of the table time the same work. Times are wall-clock milliseconds per call.

import type { Column } from "../kernels/columns.ts";
import type { MemoryDataset } from "../data/memory.ts";
import { configFor } from "../model/config.ts";
import { recipeFor } from "../model/recipe.ts";
import { TrainSession } from "../model/session.ts";
import { Classifier, decodeWeights } from "../model/classifier.ts";

/** What {@link timeTiny} measures. */
export interface TinyTimes {
  /** The first training step (it compiles the training pipelines). */
  firstStepMs: number;
  /** Each later training step (`TrainSession.next`, readback of the loss included). */
  stepMs: number[];
  /** Each classification of one stored image (upload, forward, softmax, readback). */
  predictMs: number[];
  /** The loss of every step, the first included (to check both sides did the same work). */
  losses: number[];
  /** The top-1 probability of the timed image. */
  top1: number;
}

/**
 * Times tiny on `columns`: `steps` training steps of `batch` images after the first,
 * then `predictions` classifications of one image (after one untimed) by a Classifier
 * built from the run's checkpoint bytes.
 *
 * @example
 * ```ts ignore
 * const t = await timeTiny({ dataset, columns, batch: 32, steps: 10, predictions: 20 });
 * ```
 */
export async function timeTiny(o: {
  dataset: MemoryDataset;
  columns: readonly Column[];
  batch: number;
  steps: number;
  predictions: number;
}): Promise<TinyTimes> {
  const session = await TrainSession.create({
    dataset: o.dataset,
    config: configFor("tiny", o.dataset.classes.length),
    columns: o.columns,
    batch: o.batch,
    ...recipeFor("tiny"),
  });
  let classifier: Classifier | undefined;
  try {
    let t = performance.now();
    const losses = [(await session.next()).loss];
    const firstStepMs = performance.now() - t;
    const stepMs: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      t = performance.now();
      losses.push((await session.next()).loss);
      stepMs.push(performance.now() - t);
    }
    classifier = await Classifier.create({
      ...decodeWeights(await session.checkpoint()),
      columns: [o.columns[0]],
      batch: 1,
    });
    const S = o.dataset.imageSize;
    const image = o.dataset.val.images.subarray(0, S * S * 3);
    const [[best]] = await classifier.rank([image], { top: 1 });
    const predictMs: number[] = [];
    for (let i = 0; i < o.predictions; i++) {
      t = performance.now();
      await classifier.rank([image]);
      predictMs.push(performance.now() - t);
    }
    return { firstStepMs, stepMs, predictMs, losses, top1: best.probability };
  } finally {
    classifier?.dispose();
    session.dispose();
  }
}
