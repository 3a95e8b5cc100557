// Datasets held in memory, for a browser (or any caller without a file system): a
// prepared dataset fetched over HTTP from the folder `deno task prepare` (or the
// synthetic generator) wrote, and batches over it drawn exactly as the Deno Loader
// draws them — the same epoch permutation and per-image augmentation draws (rng.ts),
// so a run on these batches sees the same images, crops, flips and lighting as a run
// on the shards in Deno.

import { DataError } from "../errors.ts";
import { type Batch, BatchOrder } from "./batch.ts";

/** One split held in memory. */
export interface MemorySplit {
  /** Number of images. */
  count: number;
  /** Packed images [count, S, S, 3] uint8 HWC. */
  images: Uint8Array;
  /** Class of each image, [count]. */
  labels: Int32Array;
}

/** A dataset held in memory: what training needs of a prepared dataset. */
export interface MemoryDataset {
  /** Dataset name. */
  name: string;
  /** Class names; label i is classes[i]. */
  classes: string[];
  /** Stored image side S. */
  imageSize: number;
  /** The training split. */
  train: MemorySplit;
  /** The validation split. */
  val: MemorySplit;
  /** Mean training image [3, S, S] CHW on the 0..255 scale. */
  mean: Float32Array;
  /** RGB PCA of the training pixels (as in data/dataset.ts `Dataset.pca`). */
  pca: { eigvecs: Float32Array; eigvals: Float32Array; colour: boolean };
  /** The prepared data's fingerprint (checkpoints record it). */
  fingerprint: string;
}

/**
 * Fetches a prepared dataset folder served over HTTP (`index.json`, the label and mean
 * files, every shard) into memory, checking each file's length against the index.
 * `base` is the folder's URL; `fetchFn` defaults to the global `fetch`.
 *
 * @example
 * ```ts ignore
 * const ds = await fetchDataset("/data/synthetic-36/");
 * console.log(ds.classes.length, ds.train.count); // 10 5000
 * ```
 */
export async function fetchDataset(
  base: string | URL,
  fetchFn: typeof fetch = fetch,
): Promise<MemoryDataset> {
  const root = new URL(String(base).endsWith("/") ? String(base) : `${base}/`, baseUrl());
  const get = async (name: string): Promise<Uint8Array> => {
    const url = new URL(name, root);
    let r: Response;
    try {
      r = await fetchFn(url);
    } catch (e) {
      throw new DataError(`${url}: cannot fetch (${(e as Error).message})`, { cause: e });
    }
    if (!r.ok) throw new DataError(`${url}: HTTP ${r.status} ${r.statusText}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const index = parseIndex(await get("index.json"), `${root}index.json`);
  const S = index.imageSize, imageBytes = S * S * 3;
  const sized = (bytes: Uint8Array, expected: number, name: string) => {
    if (bytes.byteLength !== expected) {
      throw new DataError(`${root}${name}: expected ${expected} bytes, got ${bytes.byteLength}`);
    }
    return bytes;
  };
  const split = async (name: "train" | "val"): Promise<MemorySplit> => {
    const e = index.splits[name];
    const images = new Uint8Array(e.count * imageBytes);
    for (const sh of e.shards) {
      const bytes = sized(await get(sh.file), sh.count * imageBytes, sh.file);
      images.set(bytes, sh.start * imageBytes);
    }
    const labels = sized(await get(e.labels), 4 * e.count, e.labels);
    return { count: e.count, images, labels: new Int32Array(labels.slice().buffer) };
  };
  const mean = sized(await get(index.mean), 4 * 3 * S * S, index.mean);
  const eigvals = Float32Array.from(index.pca.eigvals, (v) => Math.max(0, v));
  return {
    name: index.name,
    classes: index.classes,
    imageSize: S,
    train: await split("train"),
    val: await split("val"),
    mean: new Float32Array(mean.slice().buffer),
    pca: {
      eigvecs: Float32Array.from(index.pca.eigvecs),
      eigvals,
      colour: index.pca.colour ?? true,
    },
    fingerprint: index.fingerprint,
  };
}

// Relative URLs resolve against the page in a browser; elsewhere they must be absolute.
function baseUrl(): string | undefined {
  return (globalThis as { location?: { href: string } }).location?.href;
}

interface IndexSplit {
  count: number;
  labels: string;
  shards: { file: string; start: number; count: number }[];
}

interface Index {
  name: string;
  classes: string[];
  imageSize: number;
  mean: string;
  pca: { eigvecs: number[]; eigvals: number[]; colour?: boolean };
  splits: { train: IndexSplit; val: IndexSplit };
  fingerprint: string;
}

function parseIndex(bytes: Uint8Array, where: string): Index {
  let index: Index;
  try {
    index = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new DataError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const ok = index && Number.isInteger(index.imageSize) && index.imageSize > 0 &&
    Array.isArray(index.classes) && typeof index.mean === "string" &&
    Array.isArray(index.pca?.eigvecs) && index.pca.eigvecs.length === 9 &&
    ["train", "val"].every((s) =>
      Array.isArray(index.splits?.[s as "train"]?.shards) &&
      Number.isInteger(index.splits[s as "train"].count)
    );
  if (!ok) {
    throw new DataError(
      `${where}: expected a prepared dataset's index (imageSize, classes, mean, pca, ` +
        `splits.train and splits.val with shards)`,
    );
  }
  return index;
}

/** Options of {@link MemoryBatches}. */
export interface MemoryBatchOptions {
  /** Images per batch. */
  batch: number;
  /** Seed of the order and of the augmentation draws. */
  seed: number;
  /** Shuffle per epoch (default true for train, false for val). */
  shuffle?: boolean;
  /** Drop a short last batch (default true for train, false for val). */
  dropLast?: boolean;
  /** Draw training augmentation for a crop of this size. */
  augment?: { cropSize: number; alphaStd?: number };
}

/**
 * The batches of one in-memory split, in the Deno Loader's order and with its draws:
 * `epoch(e)` yields what `new Loader(ds, split, options)` yields for epoch `e` of the
 * same prepared dataset.
 *
 * @example
 * ```ts ignore
 * const batches = new MemoryBatches(ds, "train", { batch: 32, seed: 1, augment: { cropSize: 32 } });
 * for (const b of batches.epoch(0)) await step.run(b, { step: i++, hyper: { lr: 0.02 } });
 * ```
 */
export class MemoryBatches {
  /** The split iterated. */
  readonly split: MemorySplit;
  /** Stored image side. */
  readonly imageSize: number;
  readonly #order: BatchOrder;

  /** Validates the options (errors name the option and what was expected). */
  constructor(dataset: MemoryDataset, split: "train" | "val", options: MemoryBatchOptions) {
    const bad = (p: string, v: unknown) => new RangeError(`MemoryBatches: ${p} must be ${v}`);
    if (split !== "train" && split !== "val") throw bad("split", `"train" or "val", got ${split}`);
    this.split = dataset[split];
    this.imageSize = dataset.imageSize;
    if (!Number.isInteger(options.batch) || options.batch < 1) {
      throw bad("batch", `a positive integer, got ${options.batch}`);
    }
    if (!Number.isInteger(options.seed)) throw bad("seed", `an integer, got ${options.seed}`);
    const bytes = this.split.count * this.imageSize * this.imageSize * 3;
    if (this.split.images.length !== bytes || this.split.labels.length !== this.split.count) {
      throw new DataError(
        `MemoryBatches: the ${split} split must hold ${this.split.count} images of ` +
          `${this.imageSize}x${this.imageSize}x3 (${bytes} bytes) and as many labels, got ` +
          `${this.split.images.length} bytes and ${this.split.labels.length} labels`,
      );
    }
    const train = split === "train";
    this.#order = new BatchOrder("MemoryBatches", this.split.count, this.imageSize, {
      ...options,
      shuffle: options.shuffle ?? train,
      dropLast: options.dropLast ?? train,
    });
  }

  /** Batches per epoch. */
  get batchCount(): number {
    return this.#order.batchCount;
  }

  /** The dataset indices of an epoch, in visiting order. */
  order(epoch: number): Int32Array {
    return this.#order.order(epoch);
  }

  /** Batch `step` of epoch `epoch`. */
  at(epoch: number, step: number): Batch {
    if (!(Number.isInteger(step) && step >= 0 && step < this.batchCount)) {
      throw new RangeError(
        `MemoryBatches: step must be an integer in 0..${this.batchCount - 1}, got ${step}`,
      );
    }
    const bytes = this.imageSize * this.imageSize * 3;
    const indices = this.#order.indices(this.order(epoch), step);
    const images = new Uint8Array(indices.length * bytes);
    indices.forEach((index, slot) => {
      images.set(this.split.images.subarray(index * bytes, (index + 1) * bytes), slot * bytes);
    });
    return this.#order.batch(images, indices, this.split.labels, epoch, step);
  }

  /** The batches of epoch `epoch`, in order. */
  *epoch(epoch: number): Generator<Batch> {
    for (let step = 0; step < this.batchCount; step++) yield this.at(epoch, step);
  }
}
