/**
 * alexnet-webgpu for Deno: everything in the main entry, plus what needs Deno's file
 * system, workers or native modules — datasets and their preparation (sharp), the
 * worker data loader, the training loop `train()` with its file checkpoints and
 * metrics log, evaluation over a dataset, `predict` on image files, and the pictures
 * (filter mosaics, curves, prediction grids).
 *
 * @example
 * ```ts ignore
 * import { configFor, openDataset, recipeFor, train } from "jsr:@alexnet/webgpu/deno";
 * const dataset = await openDataset({ kind: "synthetic", size: 36 });
 * const result = await train({
 *   dataset,
 *   config: configFor("tiny", dataset.classes.length),
 *   epochs: 10,
 *   batch: 32,
 *   ...recipeFor("tiny"),
 *   out: "out/run1",
 * });
 * console.log(result.evaluation?.top1Error);
 * ```
 *
 * @module
 */
export * from "./mod.ts";

// Training over prepared datasets, with file checkpoints and a metrics log.
export * from "./model/checkpoint.ts";
export * from "./model/checkpointing.ts";
export * from "./model/train.ts";
export * from "./model/evaluate.ts";
export { imageFiles, predict, type Prediction, type PredictOptions } from "./model/cli_predict.ts";
export * from "./model/software.ts";

// Data: datasets, preparation and the loader.
export * from "./data/mod.ts";

// Visualisation: conv1 filter mosaics, training curves, prediction grids.
export * from "./viz/mod.ts";
