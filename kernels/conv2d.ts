// 2-D convolution (cross-correlation, as PyTorch), grouped, on the GEMM core.
//
//   forward:          y[n, oc, oy, ox] = relu?( b[oc] + sum_{ci, ky, kx}
//                       x[n, g*CG+ci, oy*sh-ph+ky, ox*sw-pw+kx] * w[oc, ci, ky, kx] ),  g = oc / OCG
//   backward-data:    dX = sum over the taps that hit each input pixel of g * w   (gather, no atomics)
//   backward-weights: dW[oc, ci, ky, kx] = sum_{n, oy, ox} g * x,  db[oc] = sum_{n, oy, ox} g
//   with g = dY * (y > 0) when relu: the backward calls first overwrite dY with g in place
//   (one elementwise pass, idempotent), so the GEMMs read one plain gradient per element.
//
// Layouts: x NCHW [N, inC, H, W]; w [outC, inC/groups, kh, kw]; b [outC]; y [N, outC, OH, OW].
// Each direction is one implicit-GEMM dispatch (see kernels/_conv2d_wgsl.ts), groups in the
// dispatch's z. Gradients overwrite dX, dW, db (and dY is masked in place when relu).
// Tiles per direction from column.profile (DEFAULT_CONV_TILES).

import type { Column, Profile } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { ceilDiv, foldWorkgroups, requireNonNegativeInt, requirePositiveInt } from "./_wgsl.ts";
import {
  DEFAULT_TILES,
  fitTile,
  gemmGrid,
  type GemmPipeline,
  type GemmTile,
} from "./_gemm_core.ts";
import {
  conv2dBackwardDataWgsl,
  conv2dBackwardWeightsWgsl,
  conv2dForwardWgsl,
  conv2dMaskWgsl,
  type ConvGeometry,
} from "./_conv2d_wgsl.ts";

export type { ConvGeometry } from "./_conv2d_wgsl.ts";
export type { GemmTile } from "./_gemm_core.ts";
export type { Profile } from "./columns.ts";

/** The three conv2d directions, as named in per-direction tile choices. */
export type ConvDirection = "forward" | "backwardData" | "backwardWeights";

/**
 * Default tiles per profile and direction (each direction is a different GEMM: forward
 * M = N*OH*OW, N = outC/groups; backward-data M = N*H*W, N = inC/groups; backward-weights
 * M = inC/groups*kh*kw + 1, N = outC/groups). "software": barrier-free register blocks
 * (every storage load is a per-lane scalar load on lavapipe, so bigger blocks, fewer
 * loads per multiply-add); "gpu": shared-memory tiles as in DEFAULT_TILES.gpu.
 */
export const DEFAULT_CONV_TILES: Readonly<
  Record<Profile, Readonly<Record<ConvDirection, Readonly<GemmTile>>>>
> = {
  // Measured on lavapipe at the paper's conv2/3/5 shapes, batch 4, GFLOP per CPU-second
  // (bench/lab_gemm.ts --cpu): forward 16x8 3.3 -> 5.2 (conv3), backward-weights 16x8
  // 1.7 -> 2.9 (conv3), 1.5 -> 2.2 (conv5); backward-data showed no consistent winner.
  software: {
    forward: { wgN: 8, wgM: 1, tm: 16, tn: 8, tk: 0 },
    backwardData: { wgN: 16, wgM: 1, tm: 8, tn: 8, tk: 0 },
    backwardWeights: { wgN: 8, wgM: 1, tm: 16, tn: 8, tk: 0 },
  },
  gpu: {
    forward: DEFAULT_TILES.gpu,
    backwardData: DEFAULT_TILES.gpu,
    backwardWeights: DEFAULT_TILES.gpu,
  },
};

/** Static parameters of a {@link Conv2d}. */
export interface Conv2dParams {
  /** Images per batch (N). */
  batch: number;
  /** Input channels (all groups). */
  inChannels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Output channels (all groups). */
  outChannels: number;
  /** Kernel size, square or [kh, kw]. */
  kernel: number | [number, number];
  /** Stride (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side (default 0). */
  padding?: number | [number, number];
  /** Channel groups; must divide inChannels and outChannels (default 1). */
  groups?: number;
  /** Fuse ReLU into the forward write and mask the backward reads with y > 0. */
  relu?: boolean;
  /** Tile shape for all three directions; default from column.profile. */
  tile?: Partial<GemmTile>;
  /** Per-direction tile overrides, applied over `tile` (see {@link DEFAULT_CONV_TILES}). */
  tiles?: Partial<Record<ConvDirection, Partial<GemmTile>>>;
}

const pair = (v: number | [number, number]): [number, number] => typeof v === "number" ? [v, v] : v;

/** Validates `p` and derives the output size; errors name "conv2d" and the parameter. */
export function convGeometry(p: Conv2dParams): ConvGeometry {
  const k = "conv2d";
  const batch = requirePositiveInt(k, "batch", p.batch);
  const inChannels = requirePositiveInt(k, "inChannels", p.inChannels);
  const height = requirePositiveInt(k, "height", p.height);
  const width = requirePositiveInt(k, "width", p.width);
  const outChannels = requirePositiveInt(k, "outChannels", p.outChannels);
  const [kh, kw] = pair(p.kernel).map((v, i) => requirePositiveInt(k, `kernel[${i}]`, v));
  const [sh, sw] = pair(p.stride ?? 1).map((v, i) => requirePositiveInt(k, `stride[${i}]`, v));
  const [ph, pw] = pair(p.padding ?? 0).map((v, i) => requireNonNegativeInt(k, `padding[${i}]`, v));
  const groups = requirePositiveInt(k, "groups", p.groups ?? 1);
  if (inChannels % groups || outChannels % groups) {
    throw new RangeError(
      `${k}: groups (${groups}) must divide inChannels (${inChannels}) and outChannels ` +
        `(${outChannels})`,
    );
  }
  if (kh > height + 2 * ph || kw > width + 2 * pw) {
    throw new RangeError(
      `${k}: kernel [${kh}, ${kw}] is larger than the padded input ` +
        `[${height + 2 * ph}, ${width + 2 * pw}]`,
    );
  }
  return {
    batch,
    inChannels,
    height,
    width,
    outChannels,
    kh,
    kw,
    sh,
    sw,
    ph,
    pw,
    groups,
    outHeight: Math.floor((height + 2 * ph - kh) / sh) + 1,
    outWidth: Math.floor((width + 2 * pw - kw) / sw) + 1,
    relu: !!p.relu,
  };
}

/**
 * A grouped 2-D convolution with fused bias/ReLU and implicit-GEMM backward passes.
 *
 * @example
 * ```ts ignore
 * const conv = await Conv2d.create(column, {
 *   batch: 4, inChannels: 48, height: 27, width: 27, outChannels: 128,
 *   kernel: 5, padding: 2, relu: true,
 * });
 * const enc = new Encoder(column);
 * conv.forward(enc, { x, w, b, y });
 * conv.backward(enc, { x, w, y, dY, dX, dW, db });
 * enc.submit();
 * ```
 */
export class Conv2d {
  /** The resolved geometry. */
  readonly params: Readonly<ConvGeometry>;
  /** Output height. */
  readonly outHeight: number;
  /** Output width. */
  readonly outWidth: number;
  #forward: GemmPipeline;
  #data: GemmPipeline;
  #weights: GemmPipeline;
  #mask: GemmPipeline | null;

  private constructor(
    g: ConvGeometry,
    f: GemmPipeline,
    d: GemmPipeline,
    w: GemmPipeline,
    mask: GemmPipeline | null,
  ) {
    this.params = Object.freeze({ ...g });
    this.outHeight = g.outHeight;
    this.outWidth = g.outWidth;
    this.#forward = f;
    this.#data = d;
    this.#weights = w;
    this.#mask = mask;
  }

  /** Validates `params` and compiles (or fetches from the column's cache) the pipelines. */
  static async create(column: Column, params: Conv2dParams): Promise<Conv2d> {
    const g = convGeometry(params);
    const tile = (d: ConvDirection): GemmTile => ({
      ...DEFAULT_CONV_TILES[column.profile][d],
      ...params.tile,
      ...params.tiles?.[d],
    });
    const CG = g.inChannels / g.groups, OCG = g.outChannels / g.groups;
    const dims = {
      forward: [g.batch * g.outHeight * g.outWidth, OCG],
      data: [g.batch * g.height * g.width, CG],
      weights: [CG * g.kh * g.kw + 1, OCG],
    } as const;
    const tiles = {
      forward: fitTile("conv2d", tile("forward"), dims.forward[1], dims.forward[0]),
      data: fitTile("conv2d", tile("backwardData"), dims.data[1], dims.data[0]),
      weights: fitTile("conv2d", tile("backwardWeights"), dims.weights[1], dims.weights[0]),
    };
    // The backward GEMMs read a gradient that is already masked (see #maskGrad).
    const plain = { ...g, relu: false };
    const ySize = g.batch * g.outChannels * g.outHeight * g.outWidth;
    const [f, d, w, m] = await Promise.all([
      column.pipeline("conv2d.forward", conv2dForwardWgsl(g, tiles.forward)),
      column.pipeline("conv2d.backwardData", conv2dBackwardDataWgsl(plain, tiles.data)),
      column.pipeline("conv2d.backwardWeights", conv2dBackwardWeightsWgsl(plain, tiles.weights)),
      g.relu ? column.pipeline("conv2d.reluMask", conv2dMaskWgsl(ySize)) : null,
    ]);
    const grid = (which: keyof typeof dims) =>
      gemmGrid(dims[which][0], dims[which][1], g.groups, tiles[which]);
    return new Conv2d(
      g,
      { pipeline: f, grid: grid("forward") },
      { pipeline: d, grid: grid("data") },
      { pipeline: w, grid: grid("weights") },
      m && { pipeline: m, grid: [...foldWorkgroups(ceilDiv(ySize, 256)), 1] },
    );
  }

  #shapes() {
    const g = this.params;
    return {
      x: [g.batch, g.inChannels, g.height, g.width],
      w: [g.outChannels, g.inChannels / g.groups, g.kh, g.kw],
      b: [g.outChannels],
      y: [g.batch, g.outChannels, g.outHeight, g.outWidth],
    };
  }

  /** Checks y (required with relu) and dY; returns the mask dispatch to record, if any. */
  #checkGrad(kernel: string, y: Tensor | undefined, dY: Tensor): (enc: Encoder) => void {
    const s = this.#shapes();
    dY.expectShape(kernel, "dY", s.y);
    const mask = this.#mask;
    if (!mask) return () => {};
    if (!y) throw new RangeError(`${kernel}: y (the forward output) is required when relu is set`);
    y.expectShape(kernel, "y", s.y);
    // dY = dY * (y > 0) in place (idempotent, so separate backward calls may each do it).
    return (enc) => enc.dispatch(mask.pipeline, [y, dY], mask.grid);
  }

  /** y = relu?(conv(x, w) + b). Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; w: Tensor; b: Tensor; y: Tensor }): void {
    const s = this.#shapes(), k = "conv2d.forward";
    t.x.expectShape(k, "x", s.x);
    t.w.expectShape(k, "w", s.w);
    t.b.expectShape(k, "b", s.b);
    t.y.expectShape(k, "y", s.y);
    enc.dispatch(this.#forward.pipeline, [t.x, t.w, t.b, t.y], this.#forward.grid);
  }

  /**
   * dX from dY (masked by y > 0 when relu). Overwrites dX; with relu, also overwrites dY
   * with the masked gradient.
   */
  backwardData(enc: Encoder, t: { w: Tensor; y?: Tensor; dY: Tensor; dX: Tensor }): void {
    const k = "conv2d.backwardData";
    const mask = this.#checkGrad(k, t.y, t.dY);
    this.#checkData(k, t);
    mask(enc);
    enc.dispatch(this.#data.pipeline, [t.w, t.dY, t.dX], this.#data.grid);
  }

  /**
   * dW and db from x and dY (masked by y > 0 when relu). Overwrites dW and db; with relu,
   * also overwrites dY with the masked gradient.
   */
  backwardWeights(
    enc: Encoder,
    t: { x: Tensor; y?: Tensor; dY: Tensor; dW: Tensor; db: Tensor },
  ): void {
    const k = "conv2d.backwardWeights";
    const mask = this.#checkGrad(k, t.y, t.dY);
    this.#checkWeights(k, t);
    mask(enc);
    enc.dispatch(this.#weights.pipeline, [t.x, t.dY, t.dW, t.db], this.#weights.grid);
  }

  /**
   * Both backward directions; dX is skipped when absent (first layer). Overwrites dX, dW,
   * db, and with relu dY (masked once, shared by both directions).
   */
  backward(
    enc: Encoder,
    t: { x: Tensor; w: Tensor; y?: Tensor; dY: Tensor; dX?: Tensor; dW: Tensor; db: Tensor },
  ): void {
    const k = "conv2d.backward";
    const mask = this.#checkGrad(k, t.y, t.dY);
    const dX = t.dX;
    if (dX) this.#checkData(k, { w: t.w, dX });
    this.#checkWeights(k, t);
    mask(enc);
    if (dX) enc.dispatch(this.#data.pipeline, [t.w, t.dY, dX], this.#data.grid);
    enc.dispatch(this.#weights.pipeline, [t.x, t.dY, t.dW, t.db], this.#weights.grid);
  }

  #checkData(k: string, t: { w: Tensor; dX: Tensor }): void {
    const s = this.#shapes();
    t.w.expectShape(k, "w", s.w);
    t.dX.expectShape(k, "dX", s.x);
  }

  #checkWeights(k: string, t: { x: Tensor; dW: Tensor; db: Tensor }): void {
    const s = this.#shapes();
    t.x.expectShape(k, "x", s.x);
    t.dW.expectShape(k, "dW", s.w);
    t.db.expectShape(k, "db", s.b);
  }
}
