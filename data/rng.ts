// Counter-based randomness for the data pipeline. Every draw is a pure function of
// (seed, epoch, dataset index, slot), so an epoch's order and each image's crop, flip
// and lighting do not depend on batch size, worker count or where a run was resumed.

/** A 32-bit integer hash (murmur3's finaliser over a combined key). */
export function hash32(...keys: number[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) {
    let x = Math.imul((k >>> 0) ^ (Math.floor(k / 4294967296) >>> 0), 0xcc9e2d51);
    x = (x << 15) | (x >>> 17);
    h ^= Math.imul(x, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform [0, 1) from a key. */
export function uniformAt(...keys: number[]): number {
  return hash32(...keys) / 4294967296;
}

/** Standard normal from a key (Box-Muller over two hashed uniforms). */
export function normalAt(...keys: number[]): number {
  const u = Math.max(uniformAt(...keys, 0), 1e-12);
  const v = uniformAt(...keys, 1);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A sequential seeded uniform [0, 1) generator (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The order of an epoch: a Fisher-Yates permutation of 0..count-1 seeded from
 * (seed, epoch). The same seed and epoch always give the same order.
 *
 * @example
 * ```ts
 * import { epochPermutation } from "./rng.ts";
 * const order = epochPermutation(10, 42, 0); // Int32Array of 0..9, shuffled
 * ```
 */
export function epochPermutation(count: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const r = mulberry32(hash32(seed, epoch, 0x5eed));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** One image's training augmentation draw. */
export interface AugmentDraw {
  /** Crop offsets in [0, srcSize - cropSize]. */
  oy: number;
  /** Horizontal crop offset. */
  ox: number;
  /** 1 to mirror horizontally. */
  flip: number;
  /** PCA lighting coefficients a_i ~ N(0, alphaStd^2), one per eigenvector. */
  alpha: [number, number, number];
}

/**
 * The paper's per-image, per-epoch augmentation draw: a uniformly random crop position,
 * a coin-flip mirror and three N(0, alphaStd^2) lighting coefficients.
 *
 * @example
 * ```ts
 * import { augmentDraw } from "./rng.ts";
 * const d = augmentDraw(1, 0, 123, { srcSize: 36, cropSize: 32 }); // d.oy, d.ox in 0..4
 * ```
 */
export function augmentDraw(
  seed: number,
  epoch: number,
  index: number,
  opts: { srcSize: number; cropSize: number; alphaStd?: number },
): AugmentDraw {
  const span = opts.srcSize - opts.cropSize + 1;
  if (!(span >= 1)) {
    throw new RangeError(`augmentDraw: cropSize ${opts.cropSize} > srcSize ${opts.srcSize}`);
  }
  const std = opts.alphaStd ?? 0.1;
  const k = (slot: number) => [seed, epoch, index, slot] as const;
  return {
    oy: Math.floor(uniformAt(...k(1)) * span),
    ox: Math.floor(uniformAt(...k(2)) * span),
    flip: uniformAt(...k(3)) < 0.5 ? 1 : 0,
    alpha: [std * normalAt(...k(4)), std * normalAt(...k(5)), std * normalAt(...k(6))],
  };
}
