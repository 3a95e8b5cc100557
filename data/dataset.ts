// Datasets as the trainer sees them: class names, two splits of packed S x S x 3 uint8
// images with int labels, the mean image and the RGB PCA, and a fingerprint that
// checkpoints record. Opening a prepared folder needs only --allow-read; generating
// Fashion-MNIST or the synthetic set also writes the cache (and the synthetic set runs
// sharp, so --allow-ffi --allow-env).

import { DataError } from "../errors.ts";
import { readIndex, readTyped } from "./shards.ts";
import { hasColour } from "./stats.ts";

/** One split of a prepared dataset. */
export interface Split {
  /** Number of images. */
  count: number;
  /** Class index of each image, [count]. */
  labels: Int32Array;
  /** Images per class. */
  classCounts: number[];
  /** The dataset directory the shards live in. */
  dir: string;
  /** Shard files in index order: file name, first dataset index, image count. */
  shards: { file: string; start: number; count: number }[];
  /** Bytes per image (S * S * 3). */
  imageBytes: number;
}

/** A prepared dataset. */
export interface Dataset {
  /** Dataset name (e.g. "synthetic", "fashion-mnist", the prepared folder's name). */
  name: string;
  /** Class names; label i is classes[i]. */
  classes: string[];
  /** Stored image side S (images are S x S x 3 uint8, HWC). */
  imageSize: number;
  /** Always 3 (RGB). */
  channels: 3;
  /** The training split. */
  train: Split;
  /** The validation split (the test set for Fashion-MNIST). */
  val: Split;
  /** Mean training image [3, S, S] CHW on the 0..255 scale. */
  mean: Float32Array;
  /**
   * Eigen-decomposition of the covariance of training RGB pixel values on the 0..255
   * scale: `eigvecs` is 3x3 row-major with column i the unit eigenvector p_i, and
   * `eigvals` the matching variances (intensity^2, descending). The paper's lighting
   * noise is `sum_i p_i * a_i * eigvals[i]`; note that on the 0..255 scale
   * `sqrt(eigvals[i])` is the standard deviation along p_i. Eigenvalues are clamped at
   * 0. `colour` is false for greyscale data (R = G = B), where training turns the
   * lighting noise off.
   */
  pca: { eigvecs: Float32Array; eigvals: Float32Array; colour: boolean };
  /** Stable hash of the prepared data (index, shard sizes and contents' SHA-256). */
  fingerprint: string;
}

/** Where a dataset comes from. */
export type DatasetSpec =
  | { kind: "folder"; dir: string }
  | { kind: "fashion-mnist"; dir?: string; size: number; cacheDir?: string }
  | {
    kind: "synthetic";
    size: number;
    cacheDir?: string;
    trainPerClass?: number;
    valPerClass?: number;
    seed?: number;
  };

/**
 * Opens a dataset: a folder written by `deno task prepare`, Fashion-MNIST (converted and
 * cached under `out/data/fashion-mnist-<size>/` on first use), or the built-in synthetic
 * set (generated and cached under `out/data/synthetic-<size>/`).
 *
 * @example
 * ```ts ignore
 * const ds = await openDataset({ kind: "synthetic", size: 36 });
 * console.log(ds.classes, ds.train.count, ds.val.count);
 * ```
 */
export async function openDataset(spec: DatasetSpec): Promise<Dataset> {
  if (spec.kind === "folder") return await openPrepared(spec.dir);
  if (spec.kind === "fashion-mnist") {
    const { ensureFashionMnist } = await import("./fashion_mnist.ts");
    return await openPrepared(await ensureFashionMnist(spec));
  }
  if (spec.kind === "synthetic") {
    const { ensureSynthetic } = await import("./synthetic.ts");
    return await openPrepared(await ensureSynthetic(spec));
  }
  throw new TypeError(`openDataset: unknown kind ${(spec as { kind: unknown }).kind}`);
}

/**
 * Opens a prepared dataset directory, checking that every file it names exists with the
 * recorded size.
 *
 * @example
 * ```ts ignore
 * const ds = await openPrepared("out/imagenet-256");
 * ```
 */
export async function openPrepared(dir: string): Promise<Dataset> {
  const index = await readIndex(dir);
  if (!index) {
    throw new DataError(
      `${dir}: no index.json (not a prepared dataset, or preparation unfinished)`,
    );
  }
  const S = index.imageSize, imageBytes = S * S * 3;
  const split = async (name: "train" | "val"): Promise<Split> => {
    const e = index.splits[name];
    for (const sh of e.shards) {
      const size = await Deno.stat(`${dir}/${sh.file}`).then((s) => s.size, () => -1);
      if (size !== sh.bytes) {
        throw new DataError(`${dir}/${sh.file}: expected ${sh.bytes} bytes, found ${size}`);
      }
    }
    return {
      count: e.count,
      labels: await readTyped(`${dir}/${e.labels}`, Int32Array, e.count),
      classCounts: e.classCounts,
      dir,
      shards: e.shards.map(({ file, start, count }) => ({ file, start, count })),
      imageBytes,
    };
  };
  return {
    name: index.name,
    classes: index.classes,
    imageSize: S,
    channels: 3,
    train: await split("train"),
    val: await split("val"),
    mean: await readTyped(`${dir}/${index.mean}`, Float32Array, 3 * S * S),
    pca: {
      eigvecs: Float32Array.from(index.pca.eigvecs),
      eigvals: Float32Array.from(index.pca.eigvals, (v) => Math.max(0, v)),
      colour: index.pca.colour ?? hasColour(index.pca.eigvals),
    },
    fingerprint: index.fingerprint,
  };
}

/** Default cache directory of a generated dataset: `out/data/<name>-<size>`. */
export function defaultCacheDir(name: string, size: number): string {
  return `out/data/${name}-${size}`;
}
