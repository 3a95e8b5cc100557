// On-GPU augmentation: uint8 HWC source images -> f32 NCHW crops (the paper's section 4.1).
//
//   out[i, c, y, x] = (img[s, oy + y, sx, c] - mean[c, oy + y, sx] + light[c]) * scale
//   sx = flip ? ox + cropSize - 1 - x : ox + x                      (overwrites out)
//
// with, per output crop i, params[i] = [s, oy, ox, flip, light0, light1, light2, light3]
// (f32 [count, 8]; light_c is the PCA lighting offset of channel c, computed on the
// host by `pcaLighting`; unused slots are 0). Pixel values, mean and lighting are in
// the 0..255 units of the source bytes; `scale` maps the result (e.g. 1/255, or 1 as
// in the paper, which only subtracts the mean).
//
// images: u8 [numImages, srcSize, srcSize, channels] (packed 4 bytes per u32 word on the
// GPU, so a pixel may straddle two words); mean: f32 [channels, srcSize, srcSize].
// The GPU cannot throw: a crop whose params are out of range (source index >= numImages,
// negative values, or a window past the image) is written as zeros. The host helpers
// below only produce valid params.
//
// Tiling: one invocation per output pixel (all channels), grid folded past 65535.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { CallUniforms } from "./_call_uniforms.ts";
import {
  ceilDiv,
  constants,
  foldWorkgroups,
  requirePositiveInt,
  storage,
  uniform,
  type UniformLayout,
  uniformLayout,
} from "./_wgsl.ts";

/** Floats per crop in the params tensor: [src, oy, ox, flip, light0..light3]. */
export const PARAMS_PER_CROP = 8;

/** Static parameters of {@link Augment}. */
export interface AugmentParams {
  /** Output crops per run. */
  count: number;
  /** Side of the square source images (256 in the paper). */
  srcSize: number;
  /** Side of the square crops (224). */
  cropSize: number;
  /** Channels, 1 to 4 (default 3, RGB). */
  channels?: number;
  /**
   * Multiplies the result (default 1); one number per channel gives a per-channel
   * scale, e.g. torchvision's 1 / (255 std_c) after subtracting 255 mean_c.
   */
  scale?: number | readonly number[];
  /** Threads per workgroup (default 64). */
  workgroupSize?: number;
}

/** The per-call uniforms: how many images the bound source tensor holds. */
export const AUGMENT_UNIFORMS: UniformLayout<{ numImages: "u32" }> = uniformLayout(
  "AugmentUniforms",
  { numImages: "u32" },
);

/** Builds the WGSL of the crop kernel (pure; exported for tests). */
export function augmentWgsl(
  p: Required<Omit<AugmentParams, "workgroupSize">>,
  workgroupSize = 64,
): string {
  const total = p.count * p.cropSize * p.cropSize;
  const [nx] = foldWorkgroups(ceilDiv(total, workgroupSize));
  return [
    constants({
      TOTAL: total,
      CROP: p.cropSize,
      S: p.srcSize,
      C: p.channels,
      NUM_WG_X: nx,
      P: PARAMS_PER_CROP,
    }),
    typeof p.scale === "number"
      ? constants({ SCALE: Math.fround(p.scale) }, "f32")
      : `const SCALES = array<f32, ${p.scale.length}>(${
        p.scale.map((v) => `${Math.fround(v)}f`).join(", ")
      });`,
    AUGMENT_UNIFORMS.wgsl,
    storage(0, "images", "array<u32>", "read"),
    storage(1, "mean", "array<f32>", "read"),
    storage(2, "params", "array<f32>", "read"),
    storage(3, "out", "array<f32>", "read_write"),
    uniform(4, "u", AUGMENT_UNIFORMS),
    `fn image_byte(i: u32) -> u32 { return (images[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu; }`,
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    `  let t = (wid.y * NUM_WG_X + wid.x) * ${workgroupSize}u + lid;`,
    `  if (t >= TOTAL) { return; }`,
    `  let n = t / (CROP * CROP);`,
    `  let y = (t / CROP) % CROP;`,
    `  let x = t % CROP;`,
    `  let pb = n * P;`,
    `  let fs = params[pb]; let fy = params[pb + 1u]; let fx = params[pb + 2u];`,
    // f32 -> u32 saturates negatives to 0, so test the floats for >= 0 first.
    `  let valid = fs >= 0.0 && fy >= 0.0 && fx >= 0.0 && u32(fs) < u.numImages &&`,
    `    u32(fy) + CROP <= S && u32(fx) + CROP <= S;`,
    `  let src = select(0u, u32(fs), valid);`,
    `  let oy = select(0u, u32(fy), valid);`,
    `  let ox = select(0u, u32(fx), valid);`,
    `  let sx = ox + select(x, CROP - 1u - x, params[pb + 3u] != 0.0);`,
    `  let sy = oy + y;`,
    `  let pix = (src * S + sy) * S + sx;`,
    `  for (var c = 0u; c < C; c++) {`,
    `    let v = f32(image_byte(pix * C + c)) - mean[(c * S + sy) * S + sx] + params[pb + 4u + c];`,
    `    out[((n * C + c) * CROP + y) * CROP + x] = select(0.0, v * ${
      typeof p.scale === "number" ? "SCALE" : "SCALES[c]"
    }, valid);`,
    `  }`,
    `}`,
  ].join("\n");
}

/**
 * Crops, flips, subtracts the mean image and adds PCA lighting, from uint8 images to
 * f32 NCHW network inputs, on the GPU.
 *
 * @example
 * ```ts ignore
 * const aug = await Augment.create(column, { count: 128, srcSize: 256, cropSize: 224 });
 * const params = trainCropParams(rng, 128, indices, 256, 224, { flip: true, lighting });
 * paramsTensor.write(params);
 * const enc = new Encoder(column);
 * aug.run(enc, { images, mean, params: paramsTensor, out: input });
 * enc.submit();
 * ```
 */
export class Augment {
  /** Crops per run. */
  readonly count: number;
  /** Source side. */
  readonly srcSize: number;
  /** Crop side. */
  readonly cropSize: number;
  /** Channels. */
  readonly channels: number;
  #pipeline: GPUComputePipeline;
  #grid: [number, number];
  #uniforms: CallUniforms<typeof AUGMENT_UNIFORMS.fields>;

  private constructor(
    column: Column,
    p: Required<Omit<AugmentParams, "workgroupSize">>,
    pipeline: GPUComputePipeline,
    wg: number,
  ) {
    this.count = p.count;
    this.srcSize = p.srcSize;
    this.cropSize = p.cropSize;
    this.channels = p.channels;
    this.#pipeline = pipeline;
    this.#grid = foldWorkgroups(ceilDiv(p.count * p.cropSize * p.cropSize, wg));
    this.#uniforms = new CallUniforms(column, AUGMENT_UNIFORMS, "augment");
  }

  /** Validates `params` and compiles (or fetches from the column's cache) the pipeline. */
  static async create(column: Column, params: AugmentParams): Promise<Augment> {
    const count = requirePositiveInt("augment", "count", params.count);
    const srcSize = requirePositiveInt("augment", "srcSize", params.srcSize);
    const cropSize = requirePositiveInt("augment", "cropSize", params.cropSize);
    const channels = requirePositiveInt("augment", "channels", params.channels ?? 3);
    const wg = requirePositiveInt("augment", "workgroupSize", params.workgroupSize ?? 64);
    const scale = params.scale ?? 1;
    if (cropSize > srcSize) {
      throw new RangeError(`augment: cropSize ${cropSize} must be <= srcSize ${srcSize}`);
    }
    if (channels > 4) {
      throw new RangeError(`augment: channels must be 1 to 4, got ${channels}`);
    }
    const perChannel = Array.isArray(scale);
    if (
      perChannel
        ? scale.length !== channels || !scale.every((v) => Number.isFinite(v))
        : typeof scale !== "number" || !Number.isFinite(scale)
    ) {
      throw new RangeError(
        `augment: scale must be a finite number or ${channels} finite numbers (one per ` +
          `channel), got ${JSON.stringify(scale)}`,
      );
    }
    const p = { count, srcSize, cropSize, channels, scale };
    const pipeline = await column.pipeline("augment", augmentWgsl(p, wg));
    return new Augment(column, p, pipeline, wg);
  }

  /** Writes `count` crops into out (f32 [count, channels, cropSize, cropSize]). Overwrites out. */
  run(enc: Encoder, t: { images: Tensor; mean: Tensor; params: Tensor; out: Tensor }): void {
    const { srcSize: s, cropSize: k, channels: c, count } = this;
    const { images, mean, params, out } = t;
    const numImages = images.shape[0];
    images.expectShape("augment.run", "images", [numImages, s, s, c]);
    if (images.dtype !== "u8") {
      throw new TypeError(`augment.run: images (${images.label}) must be u8, got ${images.dtype}`);
    }
    if (!(numImages >= 1)) throw new RangeError(`augment.run: images (${images.label}) is empty`);
    mean.expectShape("augment.run", "mean", [c, s, s]);
    params.expectShape("augment.run", "params", [count, PARAMS_PER_CROP]);
    out.expectShape("augment.run", "out", [count, c, k, k]);
    for (const [name, x] of [["mean", mean], ["params", params], ["out", out]] as const) {
      if (x.dtype !== "f32") {
        throw new TypeError(`augment.run: ${name} (${x.label}) must be f32, got ${x.dtype}`);
      }
    }
    const u = this.#uniforms.write(enc, { numImages });
    enc.dispatch(this.#pipeline, [images, mean, params, out, u], this.#grid);
  }
}

// ---- Host helpers: the params each crop needs (pure TypeScript) ----

/** The training set's RGB PCA, for the paper's "fancy PCA" lighting. */
export interface LightingOptions {
  /** 3x3 row-major; column i is eigenvector p_i (as numpy's `eigh` returns them). */
  eigvecs: Float32Array;
  /** The eigenvalues l_1..l_3 of the RGB covariance (pixel units, 0..255 scale). */
  eigvals: Float32Array;
  /** Standard deviation of the alphas (default 0.1, the paper's). */
  std?: number;
}

/** Options of {@link trainCropParams}. */
export interface TrainCropOptions {
  /** Random horizontal flips with probability 1/2 (default true). */
  flip?: boolean;
  /** PCA lighting noise; none when absent. */
  lighting?: LightingOptions;
}

/**
 * The paper's lighting offset `[p1 p2 p3][a1 l1, a2 l2, a3 l3]^T`, added to every pixel
 * of one image.
 *
 * @example
 * ```ts
 * import { pcaLighting } from "./augment.ts";
 * const I = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
 * pcaLighting(I, new Float32Array([4, 2, 1]), [0.5, 1, -1]); // [2, 2, -1]
 * ```
 */
export function pcaLighting(
  eigvecs: Float32Array,
  eigvals: Float32Array,
  alphas: readonly [number, number, number],
): [number, number, number] {
  if (eigvecs.length !== 9 || eigvals.length !== 3) {
    throw new RangeError(
      `augment.pcaLighting: expected 9 eigvecs and 3 eigvals, got ${eigvecs.length} and ` +
        `${eigvals.length}`,
    );
  }
  const out: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 3; i++) out[c] += eigvecs[c * 3 + i] * alphas[i] * eigvals[i];
  }
  if (!out.every(Number.isFinite)) {
    throw new RangeError(
      `augment.pcaLighting: the lighting offset is not finite (eigvals [${eigvals.join(", ")}], ` +
        `alphas [${alphas.join(", ")}]); expected finite eigenvalues and alphas`,
    );
  }
  return out;
}

function checkSizes(fn: string, srcIndices: ArrayLike<number>, srcSize: number, crop: number) {
  requirePositiveInt(`augment.${fn}`, "srcSize", srcSize);
  requirePositiveInt(`augment.${fn}`, "cropSize", crop);
  if (crop > srcSize) {
    throw new RangeError(`augment.${fn}: cropSize ${crop} must be <= srcSize ${srcSize}`);
  }
  for (let i = 0; i < srcIndices.length; i++) {
    const s = srcIndices[i];
    if (!Number.isInteger(s) || s < 0 || s >= 2 ** 24) {
      throw new RangeError(
        `augment.${fn}: srcIndices[${i}] must be an integer in [0, 2^24), got ${s}`,
      );
    }
  }
}

/**
 * Training params: a uniform random crop position, a random flip, and per-image
 * lighting alphas ~ N(0, std^2) (drawn with Box-Muller from `rng`, uniform in [0, 1)).
 * Crop i uses source image `srcIndices[i]`.
 *
 * @example
 * ```ts
 * import { trainCropParams } from "./augment.ts";
 * const p = trainCropParams(Math.random, 2, [7, 3], 256, 224); // Float32Array(16)
 * ```
 */
export function trainCropParams(
  rng: () => number,
  count: number,
  srcIndices: ArrayLike<number>,
  srcSize: number,
  cropSize: number,
  options: TrainCropOptions = {},
): Float32Array {
  requirePositiveInt("augment.trainCropParams", "count", count);
  checkSizes("trainCropParams", srcIndices, srcSize, cropSize);
  if (srcIndices.length !== count) {
    throw new RangeError(
      `augment.trainCropParams: srcIndices has ${srcIndices.length} entries, expected count ${count}`,
    );
  }
  const { flip = true, lighting } = options;
  const std = lighting?.std ?? 0.1;
  const gauss = () => {
    const u = Math.max(rng(), 1e-12), v = rng();
    return std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const span = srcSize - cropSize + 1;
  const out = new Float32Array(count * PARAMS_PER_CROP);
  for (let i = 0; i < count; i++) {
    const o = i * PARAMS_PER_CROP;
    out[o] = srcIndices[i];
    out[o + 1] = Math.min(span - 1, Math.floor(rng() * span));
    out[o + 2] = Math.min(span - 1, Math.floor(rng() * span));
    out[o + 3] = flip && rng() < 0.5 ? 1 : 0;
    if (lighting) {
      const rgb = pcaLighting(lighting.eigvecs, lighting.eigvals, [gauss(), gauss(), gauss()]);
      out.set(rgb, o + 4);
    }
  }
  return out;
}

/** Python's round(): half to even, as torchvision's center_crop uses. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/** The centre crop's offset: torchvision's `int(round((srcSize - cropSize) / 2))`. */
export function centreOffset(srcSize: number, cropSize: number): number {
  return roundHalfEven((srcSize - cropSize) / 2);
}

/**
 * One centre crop per image, no flip, no lighting (validation).
 *
 * @example
 * ```ts
 * import { centreCropParams } from "./augment.ts";
 * centreCropParams([5], 256, 224); // [5, 16, 16, 0, 0, 0, 0, 0]
 * ```
 */
export function centreCropParams(
  srcIndices: ArrayLike<number>,
  srcSize: number,
  cropSize: number,
): Float32Array {
  checkSizes("centreCropParams", srcIndices, srcSize, cropSize);
  const c = centreOffset(srcSize, cropSize);
  const out = new Float32Array(srcIndices.length * PARAMS_PER_CROP);
  for (let i = 0; i < srcIndices.length; i++) out.set([srcIndices[i], c, c], i * PARAMS_PER_CROP);
  return out;
}

/**
 * The paper's 10 test crops per image, image-major: crops 10k..10k+9 are image k's
 * top-left, top-right, bottom-left, bottom-right, centre, then the same five flipped
 * (torchvision's TenCrop order). Average the 10 softmaxes per image.
 *
 * @example
 * ```ts
 * import { tenCropParams } from "./augment.ts";
 * tenCropParams([0, 1], 256, 224).length; // 2 images * 10 crops * 8
 * ```
 */
export function tenCropParams(
  srcIndices: ArrayLike<number>,
  srcSize: number,
  cropSize: number,
): Float32Array {
  checkSizes("tenCropParams", srcIndices, srcSize, cropSize);
  const e = srcSize - cropSize, c = centreOffset(srcSize, cropSize);
  const corners = [[0, 0], [0, e], [e, 0], [e, e], [c, c]];
  const out = new Float32Array(srcIndices.length * 10 * PARAMS_PER_CROP);
  for (let i = 0; i < srcIndices.length; i++) {
    for (let f = 0; f < 2; f++) {
      corners.forEach(([oy, ox], j) => {
        out.set([srcIndices[i], oy, ox, f], (i * 10 + f * 5 + j) * PARAMS_PER_CROP);
      });
    }
  }
  return out;
}
