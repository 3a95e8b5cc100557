// Batches of stored images for training and evaluation.
//
// Order: a permutation of the split seeded from (seed, epoch) (rng.ts), cut into
// batches; the same seed and epoch give the same batches whatever the worker count.
// Reading: Web Workers read shards with positioned reads and transfer the buffers
// back; up to `prefetch` batches are in flight, so the next batches are on their way
// while the GPU trains on the current one. Batches are yielded in order.
//
// Augmentation draws (crop offsets, mirror, PCA lighting coefficients) are made here,
// per image, as a pure function of (seed, epoch, dataset index) — so a resumed run draws
// exactly what an uninterrupted one would. The GPU kernel (kernels/augment.ts) applies
// them; its host helpers turn the draws into its params rows.

import { DataError } from "../errors.ts";
import type { Dataset, Split } from "./dataset.ts";
import { type ShardLayout, ShardReader } from "./_shard_reader.ts";
import { type Batch, BatchOrder } from "./batch.ts";

export { augmentParams, type Batch, type BatchAugment } from "./batch.ts";

/** Loader options. */
export interface LoaderOptions {
  /** Images per batch. */
  batch: number;
  /** Seed of the order and of the augmentation draws. */
  seed: number;
  /** Epoch to iterate (settable later through `loader.epoch`). Default 0. */
  epoch?: number;
  /** Shuffle per epoch (default true for train, false for val). */
  shuffle?: boolean;
  /** Drop a short last batch (default true for train, false for val). */
  dropLast?: boolean;
  /** Batches in flight ahead of the consumer (default 3). */
  prefetch?: number;
  /** Reader workers (default 2); 0 reads on the calling thread. */
  workers?: number;
  /** Draw training augmentation for a crop of this size (paper: random crop, flip, PCA). */
  augment?: { cropSize: number; alphaStd?: number };
}

interface Pending {
  resolve(images: Uint8Array): void;
  reject(e: Error): void;
}

/**
 * Iterates batches of one split; iterate again (after setting `epoch`) for the next epoch.
 * Call `close()` (or use `using`) to stop the workers.
 *
 * @example
 * ```ts ignore
 * using loader = new Loader(ds, "train", { batch: 128, seed: 1, augment: { cropSize: 224 } });
 * for (let epoch = 0; epoch < 90; epoch++) {
 *   loader.epoch = epoch;
 *   for await (const b of loader) train(b.images, b.labels, b.augment);
 * }
 * ```
 */
export class Loader implements AsyncIterable<Batch> {
  /** The split iterated. */
  readonly split: Split;
  /** Stored image side. */
  readonly imageSize: number;
  /** Epoch of the next iteration. */
  epoch: number;
  readonly #order: BatchOrder;
  readonly #prefetch: number;
  readonly #workerCount: number;
  #workers: Worker[] = [];
  #local: ShardReader | null = null;
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;

  /** Starts the reader workers; validates the options (errors name the option). */
  constructor(dataset: Dataset, split: "train" | "val", options: LoaderOptions) {
    const bad = (p: string, v: unknown) => new RangeError(`Loader: ${p} must be ${v}`);
    if (!Number.isInteger(options.batch) || options.batch < 1) {
      throw bad("batch", `a positive integer, got ${options.batch}`);
    }
    this.split = dataset[split];
    if (!this.split) throw bad("split", `"train" or "val", got ${split}`);
    this.imageSize = dataset.imageSize;
    this.epoch = options.epoch ?? 0;
    const train = split === "train";
    this.#order = new BatchOrder("Loader", this.split.count, this.imageSize, {
      batch: options.batch,
      seed: options.seed,
      shuffle: options.shuffle ?? train,
      dropLast: options.dropLast ?? train,
      augment: options.augment,
    });
    this.#prefetch = Math.max(1, options.prefetch ?? 3);
    this.#workerCount = Math.max(0, options.workers ?? 2);
    const layout: ShardLayout = {
      dir: this.split.dir,
      shards: this.split.shards,
      imageBytes: this.split.imageBytes,
    };
    if (this.#workerCount === 0) this.#local = new ShardReader(layout);
    for (let w = 0; w < this.#workerCount; w++) {
      const worker = new Worker(new URL("./_loader_worker.ts", import.meta.url), {
        type: "module",
        name: `loader-${split}-${w}`,
      });
      worker.onmessage = (e: MessageEvent) => this.#onReply(e.data);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#failAll(new DataError(`loader worker failed: ${e.message}`));
      };
      worker.postMessage({ type: "init", layout });
      this.#workers.push(worker);
    }
  }

  /** Batches per epoch. */
  get batchCount(): number {
    return this.#order.batchCount;
  }

  /** The dataset indices of an epoch, in visiting order. */
  order(epoch: number = this.epoch): Int32Array {
    return this.#order.order(epoch);
  }

  /** Iterates the batches of `this.epoch`. */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.#iterate(this.epoch);
  }

  async *#iterate(epoch: number): AsyncGenerator<Batch> {
    if (this.#closed) throw new Error("Loader: iterated after close()");
    const order = this.order(epoch), steps = this.batchCount;
    const inflight: Promise<Uint8Array>[] = [];
    const slice = (step: number) => this.#order.indices(order, step);
    let issued = 0;
    for (let step = 0; step < steps; step++) {
      while (issued < steps && issued < step + this.#prefetch) {
        inflight.push(this.#read(slice(issued), issued));
        issued++;
      }
      const images = await inflight.shift()!;
      yield this.#order.batch(images, slice(step), this.split.labels, epoch, step);
    }
  }

  #read(indices: Int32Array, step: number): Promise<Uint8Array> {
    if (this.#local) {
      try {
        return Promise.resolve(this.#local.read(indices));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const id = this.#nextId++;
    const promise = new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    // Avoid unhandled rejections for batches the consumer stops waiting for.
    promise.catch(() => {});
    this.#workers[step % this.#workers.length].postMessage({
      type: "read",
      id,
      indices: Int32Array.from(indices),
    });
    return promise;
  }

  #onReply(msg: { id: number; images?: Uint8Array; error?: string }): void {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new DataError(`Loader: ${msg.error}`));
    else p.resolve(msg.images!);
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  /** Stops the workers and closes files. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#local?.close();
    this.#failAll(new Error("Loader: closed"));
  }

  /** Same as {@link Loader.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
