/**
 * Datasets and loading: image folders prepared through sharp into uint8 shards with the
 * mean image and RGB PCA, Fashion-MNIST from IDX files, the built-in synthetic set, and
 * a seeded, prefetching batch loader.
 *
 * @example
 * ```ts ignore
 * import { Loader, openDataset } from "./mod.ts";
 * const ds = await openDataset({ kind: "synthetic", size: 36 });
 * using loader = new Loader(ds, "train", { batch: 64, seed: 1, augment: { cropSize: 32 } });
 * for await (const batch of loader) console.log(batch.size, batch.labels[0]);
 * ```
 *
 * @module
 */

export {
  type Dataset,
  type DatasetSpec,
  openDataset,
  openPrepared,
  type Split,
} from "./dataset.ts";
export {
  augmentParams,
  type Batch,
  type BatchAugment,
  Loader,
  type LoaderOptions,
} from "./loader.ts";
export { prepareFolder, type PrepareOptions } from "./prepare.ts";
export type { BuildReport } from "./build.ts";
export type { SkippedInput } from "./shards.ts";
export { ensureFashionMnist, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from "./fashion_mnist.ts";
export { ensureSynthetic, SYNTHETIC_CLASSES, type SyntheticSpec } from "./synthetic.ts";
export { type AugmentDraw, augmentDraw, epochPermutation } from "./rng.ts";
