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
// dispatch's z. Square kernels of 3x3 to 5x5 (after folding a stride s into s^2 times the
// channels: conv1's 11x11/4 is a 3x3 over 48 channels) run forward, and for stride 1
// backward-data, by Winograd F(4x4, 3x3) / F(3x3, 5x5) instead (kernels/_winograd.ts: 2.25-4x fewer
// multiplies, four dispatches, scratch in a ConvWorkspace); `algorithm` overrides. Gradients overwrite dX, dW, db (and dY is masked in place when relu).
// Tiles per direction from column.profile (DEFAULT_CONV_TILES).

import type { Column, Profile } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { ceilDiv, foldWorkgroups, requireNonNegativeInt, requirePositiveInt } from "./_wgsl.ts";
import {
  DEFAULT_TILES,
  dispatchGemm,
  fitTile,
  gemmGrid,
  type GemmPipeline,
  gemmPipeline,
  type GemmSpec,
  type GemmTile,
} from "./_gemm_core.ts";
import {
  ConvWorkspace,
  WINOGRAD_CHUNK_BYTES,
  winogradChunk,
  WinogradConv,
  winogradMatrices,
  type WinogradShape,
  winogradSizes,
  type WorkspaceSizes,
} from "./_winograd.ts";
import {
  conv2dBackwardDataSpec,
  conv2dBackwardWeightsSpec,
  conv2dForwardSpec,
  conv2dMaskWgsl,
  type ConvGeometry,
} from "./_conv2d_wgsl.ts";

export type { ConvGeometry } from "./_conv2d_wgsl.ts";
export { ConvWorkspace, type WorkspaceSizes } from "./_winograd.ts";
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
  /**
   * Forward / backward-data algorithm: "direct" implicit GEMM, "winograd" F(m x m, r x r)
   * (square kernel, equal padding < kernel, r = kernel / stride rounded up from 2 to 7;
   * throws otherwise; a strided conv's backward-data stays direct), or "auto"
   * (default: Winograd for 3x3 to 5x5 kernels where it applies and in x out channels per
   * group reach 1536, else direct).
   */
  algorithm?: ConvAlgorithm;
  /**
   * Winograd output tile side m, m + r - 1 <= 8 (default 4 for 3x3, 3 for 5x5; larger
   * tiles do fewer multiplies but round more).
   */
  winogradTile?: number;
  /**
   * "auto" runs Winograd from this many in x out channels per group (default 1536, the
   * crossover measured on lavapipe; 0 = wherever it applies).
   */
  winogradMinPairs?: number;
  /** Winograd scratch budget per buffer in bytes (images are processed in chunks). */
  winogradChunkBytes?: number;
  /**
   * Whether dX will be asked for (default true). False skips compiling and planning the
   * backward-data pass (a first layer, whose input is the image).
   */
  inputGrad?: boolean;
  /**
   * Scratch shared with other convs on the column (they run one after another); default:
   * a private one. The model passes one per column, sized by its memory plan.
   */
  workspace?: ConvWorkspace;
}

/** How conv2d computes forward and backward-data (backward-weights is always direct). */
export type ConvAlgorithm = "auto" | "direct" | "winograd";

/** "auto" runs Winograd only from this many (in x out channels per group) up. */
const WINOGRAD_MIN_CHANNEL_PAIRS = 1536;

/** Why `g` cannot use Winograd, or null when it can. */
function winogradBlocker(g: ConvGeometry): string | null {
  if (g.kh !== g.kw) return `a square kernel (got ${g.kh}x${g.kw})`;
  if (g.sh !== g.sw) return `equal strides (got ${g.sh}x${g.sw})`;
  const r = Math.ceil(g.kh / g.sh);
  if (r < 2 || r > 7) return `a kernel side / stride of 2 to 7 (got ${g.kh}/${g.sh})`;
  if (g.ph !== g.pw) return `equal padding (got ${g.ph}, ${g.pw})`;
  if (g.ph > g.kh - 1) return `padding below the kernel side (got ${g.ph})`;
  return null;
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
 * The Winograd shapes conv2d picks for `g` (null where it runs direct), with the output
 * tile m. Pure: the model's memory plan uses it to size the shared workspace. Throws for
 * an impossible explicit "winograd" request.
 */
function winogradPlan(g: ConvGeometry, params: Conv2dParams, budget: number): {
  m: number;
  r: number;
  forward: WinogradShape | null;
  data: WinogradShape | null;
} {
  const algorithm = params.algorithm ?? "auto";
  if (!["auto", "direct", "winograd"].includes(algorithm)) {
    throw new RangeError(
      `conv2d: algorithm must be "auto", "direct" or "winograd", got ${String(algorithm)}`,
    );
  }
  const none = { m: 0, r: 0, forward: null, data: null };
  const blocker = winogradBlocker(g);
  if (algorithm === "winograd" && blocker) {
    throw new RangeError(`conv2d: algorithm "winograd" needs ${blocker}`);
  }
  // A stride-s conv runs as a stride-1 one with a ceil(k/s) kernel over s^2 times the
  // channels (space-to-depth, read in place; see WinogradShape.stride): forward only.
  const st = g.sh, r = Math.ceil(g.kh / st);
  if (algorithm === "direct" || blocker) return none;
  // "auto": Winograd's transforms cost per channel and its GEMMs per channel pair, so it
  // pays only with enough of both; measured crossover on lavapipe (tiny/small/paper conv
  // shapes, bench/lab_gemm.ts --algos): in x out channels per group of about 1536.
  const pairs = (g.inChannels / g.groups) * st * st * (g.outChannels / g.groups);
  const minPairs = params.winogradMinPairs ?? WINOGRAD_MIN_CHANNEL_PAIRS;
  if (algorithm === "auto" && (r < 3 || r > 5 || pairs < minPairs)) return none;
  // Default F(4x4, 3x3) (alpha 6) and F(3x3, 5x5) (alpha 7). F(4x4, 5x5) (alpha 8, points
  // +-1/2) was faster still on lavapipe, but its rounding broke the PyTorch parity of
  // conv1's gradient in the wide fixture (2.5e-2 relative against 1e-3 allowed); F(3x3,
  // 5x5) passes it (tests/model_parity_test.ts runs every eligible conv by Winograd).
  const m = requirePositiveInt(
    "conv2d",
    "winogradTile",
    params.winogradTile ?? (r === 5 ? 3 : Math.max(2, 7 - r)),
  );
  if (m + r - 1 > 8) {
    throw new RangeError(`conv2d: winogradTile ${m} with a ${r}x${r} kernel needs m + r - 1 <= 8`);
  }
  const f = winogradMatrices(m, r);
  const base = { batch: g.batch, groups: g.groups };
  const fwd = {
    ...base,
    inC: g.inChannels,
    H: g.height,
    W: g.width,
    outC: g.outChannels,
    OH: g.outHeight,
    OW: g.outWidth,
    pad: g.ph,
    stride: st,
    kernel: g.kh,
    bias: true,
    relu: g.relu,
  };
  const data = {
    ...base,
    inC: g.outChannels,
    H: g.outHeight,
    W: g.outWidth,
    outC: g.inChannels,
    OH: g.height,
    OW: g.width,
    pad: r - 1 - g.ph,
    bias: false,
    relu: false,
  };
  const chunked = (s: Omit<WinogradShape, "chunk">): WinogradShape | null => {
    const chunk = winogradChunk(s, f, budget);
    if (chunk >= 1) return { ...s, chunk };
    if (algorithm === "winograd") {
      throw new RangeError(
        `conv2d: one image's Winograd scratch exceeds winogradChunkBytes (${budget})`,
      );
    }
    return null;
  };
  const noData = params.inputGrad === false || st > 1;
  return { m, r, forward: chunked(fwd), data: noData ? null : chunked(data) };
}

/**
 * Floats of Winograd scratch (U, M, V) a conv2d with `params` needs, the largest of its
 * two directions; zeros when it runs direct. The model plans its shared workspace with it.
 *
 * @example
 * ```ts
 * import { conv2dWorkspace } from "./conv2d.ts";
 * const s = conv2dWorkspace({
 *   batch: 4, inChannels: 256, height: 13, width: 13, outChannels: 384, kernel: 3, padding: 1,
 * });
 * console.log(s.U + s.M + s.V > 0); // true: 3x3 stride 1 runs Winograd F(4x4, 3x3)
 * ```
 */
export function conv2dWorkspace(params: Conv2dParams): WorkspaceSizes {
  const g = convGeometry(params);
  const budget = params.winogradChunkBytes ?? WINOGRAD_CHUNK_BYTES;
  const plan = winogradPlan(g, params, budget);
  const out = { U: 0, M: 0, V: 0 };
  for (const s of [plan.forward, plan.data]) {
    if (!s) continue;
    const z = winogradSizes(s, winogradMatrices(plan.m, plan.r));
    out.U = Math.max(out.U, z.uSize);
    out.M = Math.max(out.M, z.mSize);
    out.V = Math.max(out.V, z.vSize);
  }
  return out;
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
  #forward: GemmPipeline | null;
  #data: GemmPipeline | null;
  #weights: GemmPipeline;
  #mask: GemmPipeline | null;
  #wino: { forward: WinogradConv | null; data: WinogradConv | null };

  private constructor(
    g: ConvGeometry,
    f: GemmPipeline | null,
    d: GemmPipeline | null,
    w: GemmPipeline,
    mask: GemmPipeline | null,
    wino: { forward: WinogradConv | null; data: WinogradConv | null },
  ) {
    this.params = Object.freeze({ ...g });
    this.outHeight = g.outHeight;
    this.outWidth = g.outWidth;
    this.#forward = f;
    this.#data = d;
    this.#weights = w;
    this.#mask = mask;
    this.#wino = wino;
  }

  /** Which algorithm each direction runs (after "auto" was resolved). */
  get algorithms(): Record<ConvDirection, "direct" | "winograd"> {
    return {
      forward: this.#wino.forward ? "winograd" : "direct",
      backwardData: this.#wino.data ? "winograd" : "direct",
      backwardWeights: "direct",
    };
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
    // A direction's tile the caller did not set follows the GEMM's shape (fitTile's rules).
    const defaultTile = (d: ConvDirection) =>
      params.tile === undefined && params.tiles?.[d] === undefined;
    const fit = (d: ConvDirection, [M, N]: readonly [number, number]): GemmTile =>
      fitTile("conv2d", tile(d), N, M, defaultTile(d));
    const tiles = {
      forward: fit("forward", dims.forward),
      data: fit("backwardData", dims.data),
      weights: fit("backwardWeights", dims.weights),
    };
    // The backward GEMMs read a gradient that is already masked (see #maskGrad).
    const plain = { ...g, relu: false };
    const ySize = g.batch * g.outChannels * g.outHeight * g.outWidth;
    // Only the directions that run are compiled (lavapipe's LLVM takes seconds per shader).
    // Winograd's GEMMs take the forward tile; when it is the default, it may widen there.
    const wino = await Conv2d.#winograd(column, g, params, tile("forward"), defaultTile("forward"));
    const direct = (name: string, which: keyof typeof dims, spec: GemmSpec) =>
      gemmPipeline(
        column,
        name,
        spec,
        gemmGrid(dims[which][0], dims[which][1], g.groups, tiles[which]),
      );
    const [f, d, w, m] = await Promise.all([
      wino.forward
        ? null
        : direct("conv2d.forward", "forward", conv2dForwardSpec(g, tiles.forward)),
      wino.data || params.inputGrad === false
        ? null
        : direct("conv2d.backwardData", "data", conv2dBackwardDataSpec(plain, tiles.data)),
      direct("conv2d.backwardWeights", "weights", conv2dBackwardWeightsSpec(plain, tiles.weights)),
      g.relu ? column.pipeline("conv2d.reluMask", conv2dMaskWgsl()) : null,
    ]);
    return new Conv2d(
      g,
      f,
      d,
      w,
      m && { pipeline: m, grid: [...foldWorkgroups(ceilDiv(ySize, 256)), 1] },
      wino,
    );
  }

  /** The Winograd correlations for forward and backward-data, where chosen. */
  static async #winograd(
    column: Column,
    g: ConvGeometry,
    params: Conv2dParams,
    tile: GemmTile,
    widen: boolean,
  ): Promise<{ forward: WinogradConv | null; data: WinogradConv | null }> {
    const budget = Math.min(
      params.winogradChunkBytes ?? WINOGRAD_CHUNK_BYTES,
      column.limits.maxStorageBufferBindingSize,
    );
    const plan = winogradPlan(g, params, budget);
    const workspace = params.workspace ?? new ConvWorkspace(column);
    const make = (mode: "forward" | "data") => {
      const s = plan[mode];
      return s &&
        WinogradConv.create(
          column,
          `conv2d.${mode}`,
          s,
          plan.m,
          plan.r,
          mode,
          tile,
          workspace,
          widen,
        );
    };
    const [forward, data] = await Promise.all([make("forward"), make("data")]);
    return { forward, data };
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
    if (this.#wino.forward) this.#wino.forward.record(enc, t.x, t.w, t.y, t.b);
    else dispatchGemm(enc, this.#forward!, [t.x, t.w, t.b, t.y]);
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
    this.#recordData(enc, t.w, t.dY, t.dX);
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
    dispatchGemm(enc, this.#weights, [t.x, t.dY, t.dW, t.db]);
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
    if (dX) this.#recordData(enc, t.w, t.dY, dX);
    dispatchGemm(enc, this.#weights, [t.x, t.dY, t.dW, t.db]);
  }

  #recordData(enc: Encoder, w: Tensor, dY: Tensor, dX: Tensor): void {
    if (this.#wino.data) this.#wino.data.record(enc, dY, w, dX);
    else dispatchGemm(enc, this.#data!, [w, dY, dX]);
  }

  #checkData(k: string, t: { w: Tensor; dX: Tensor }): void {
    if (!this.#wino.data && !this.#data) {
      throw new RangeError(
        `${k}: dX was asked for, but the conv was created with inputGrad: false`,
      );
    }
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
