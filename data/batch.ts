// One batch of stored images as the loader yields it, and the host side of the GPU
// augmentation: turning a batch's draws into the kernel's params rows. No file or
// worker access here, so the model's training step (and a browser) can use it.

import { PARAMS_PER_CROP, pcaLighting } from "../kernels/augment.ts";
import { augmentDraw, epochPermutation } from "./rng.ts";

/** Per-image augmentation draws of one batch (present when the loader was asked). */
export interface BatchAugment {
  /** Crop offsets, [B], in 0..S-cropSize. */
  oy: Int32Array;
  /** Horizontal crop offsets, [B]. */
  ox: Int32Array;
  /** 1 = mirror horizontally, [B]. */
  flip: Uint8Array;
  /** PCA lighting coefficients a_i ~ N(0, alphaStd^2), [B, 3]. */
  alpha: Float32Array;
}

/** One batch. */
export interface Batch {
  /** Packed images [size, S, S, 3] uint8 HWC. */
  images: Uint8Array;
  /** Class of each image, [size]. */
  labels: Int32Array;
  /** Dataset index of each image, [size]. */
  indices: Int32Array;
  /** Images in this batch (the last one may be short unless dropLast). */
  size: number;
  /** The epoch this batch belongs to. */
  epoch: number;
  /** Batch number within the epoch. */
  step: number;
  /** Training augmentation draws, when `augment` was given. */
  augment?: BatchAugment;
}

/**
 * The augmentation draws of a batch of dataset `indices` in `epoch`: each image's
 * {@link augmentDraw}, so they depend on (seed, epoch, index) only, not on the batch.
 *
 * @example
 * ```ts
 * import { drawAugment } from "./batch.ts";
 * const a = drawAugment(Int32Array.of(7, 3), 1, 0, { srcSize: 36, cropSize: 32 });
 * a.oy.length; // 2
 * ```
 */
export function drawAugment(
  indices: Int32Array,
  seed: number,
  epoch: number,
  opts: { srcSize: number; cropSize: number; alphaStd?: number },
): BatchAugment {
  const n = indices.length;
  const out: BatchAugment = {
    oy: new Int32Array(n),
    ox: new Int32Array(n),
    flip: new Uint8Array(n),
    alpha: new Float32Array(3 * n),
  };
  indices.forEach((index, b) => {
    const d = augmentDraw(seed, epoch, index, opts);
    out.oy[b] = d.oy, out.ox[b] = d.ox, out.flip[b] = d.flip;
    out.alpha.set(d.alpha, 3 * b);
  });
  return out;
}

/**
 * The GPU augmentation kernel's params rows (f32 [size, 8]: srcIndex, oy, ox, flip,
 * r, g, b, 0) for a batch drawn with `augment`; crop b reads image b of the batch.
 * `lighting` gives the PCA to perturb along (none: no lighting noise). Its `eigvals`
 * go into the paper's `[p1 p2 p3][a1 l1, a2 l2, a3 l3]` as given: pass a dataset's
 * `pca` for the literal formula on the 0..255 scale, or square roots of the
 * eigenvalues for the common (fb.resnet.torch) scaling of the noise.
 *
 * @example
 * ```ts ignore
 * const params = augmentParams(batch, dataset.pca); // upload as the kernel's params
 * ```
 */
export function augmentParams(
  batch: Batch,
  lighting?: { eigvecs: Float32Array; eigvals: Float32Array } | null,
): Float32Array {
  const a = batch.augment;
  if (!a) throw new Error("augmentParams: the batch has no draws (create the Loader with augment)");
  const out = new Float32Array(batch.size * PARAMS_PER_CROP);
  for (let b = 0; b < batch.size; b++) {
    const o = b * PARAMS_PER_CROP;
    out[o] = b, out[o + 1] = a.oy[b], out[o + 2] = a.ox[b], out[o + 3] = a.flip[b];
    if (lighting) {
      const alpha = [a.alpha[3 * b], a.alpha[3 * b + 1], a.alpha[3 * b + 2]] as const;
      out.set(pcaLighting(lighting.eigvecs, lighting.eigvals, alpha), o + 4);
    }
  }
  return out;
}

/** How a split is cut into batches: {@link BatchOrder}'s options. */
export interface BatchOrderOptions {
  /** Images per batch. */
  batch: number;
  /** Seed of the order and of the augmentation draws. */
  seed: number;
  /** Shuffle per epoch. */
  shuffle: boolean;
  /** Drop a short last batch. */
  dropLast: boolean;
  /** Draw training augmentation for a crop of this size. */
  augment?: { cropSize: number; alphaStd?: number };
}

/**
 * The order, the batch boundaries and the augmentation draws of a split of `count`
 * images of side `imageSize`: what the Deno Loader (reading shards) and MemoryBatches
 * (a split in memory) share, so both yield the same batches. `who` names the owner in
 * errors.
 *
 * @example
 * ```ts
 * import { BatchOrder } from "./batch.ts";
 * const o = new BatchOrder("demo", 10, 36, { batch: 4, seed: 1, shuffle: true, dropLast: true });
 * console.assert(o.batchCount === 2 && o.indices(o.order(0), 1).length === 4);
 * ```
 */
export class BatchOrder {
  /** Images in the split. */
  readonly count: number;
  /** Stored image side. */
  readonly imageSize: number;
  /** The options. */
  readonly options: Readonly<BatchOrderOptions>;

  /** Checks `augment.cropSize` against the image side (a RangeError naming `who`). */
  constructor(who: string, count: number, imageSize: number, options: BatchOrderOptions) {
    const crop = options.augment?.cropSize;
    if (crop !== undefined && !(Number.isInteger(crop) && crop >= 1 && crop <= imageSize)) {
      throw new RangeError(
        `${who}: augment.cropSize must be an integer in 1..${imageSize}, got ${crop}`,
      );
    }
    this.count = count;
    this.imageSize = imageSize;
    this.options = options;
  }

  /** Batches per epoch. */
  get batchCount(): number {
    const { batch, dropLast } = this.options;
    return dropLast ? Math.floor(this.count / batch) : Math.ceil(this.count / batch);
  }

  /** The dataset indices of an epoch, in visiting order. */
  order(epoch: number): Int32Array {
    return this.options.shuffle
      ? epochPermutation(this.count, this.options.seed, epoch)
      : Int32Array.from({ length: this.count }, (_, i) => i);
  }

  /** The dataset indices of batch `step` of an epoch's `order` (a view). */
  indices(order: Int32Array, step: number): Int32Array {
    const B = this.options.batch;
    return order.subarray(step * B, Math.min((step + 1) * B, order.length));
  }

  /** Batch `step` of `epoch`: its images (read by the owner), labels and draws. */
  batch(
    images: Uint8Array,
    indices: Int32Array,
    labels: ArrayLike<number>,
    epoch: number,
    step: number,
  ): Batch {
    const own = Int32Array.from(indices);
    const batch: Batch = {
      images,
      labels: Int32Array.from(own, (i) => labels[i]),
      indices: own,
      size: own.length,
      epoch,
      step,
    };
    const a = this.options.augment;
    if (a) {
      batch.augment = drawAugment(own, this.options.seed, epoch, {
        srcSize: this.imageSize,
        cropSize: a.cropSize,
        alphaStd: a.alphaStd,
      });
    }
    return batch;
  }
}
