// Overlapping max pooling over NCHW f32 tensors (the paper's 3x3 stride 2 windows).
//
//   forward:  y[n,c,oh,ow] = max_{kh,kw < size} x[n,c, oh*stride - pad + kh, ow*stride - pad + kw]
//             OH = floor((H + 2 pad - size) / stride) + 1 (PyTorch, ceil_mode false);
//             padded positions are -inf, i.e. never chosen.             (overwrites y)
//   backward: each window passes dY to exactly ONE input: the first maximum of the window in
//             row-major order (PyTorch's tie rule). An input chosen by several overlapping
//             windows receives the sum of their gradients.              (overwrites dX)
//
// Layouts: x, dX [N, C, H, W]; y, dY [N, C, OH, OW].
// Tiling: forward runs one invocation per output element (the window loop is unrolled
// for static shapes, with no bounds checks when pad = 0). Backward GATHERS, so it needs
// no atomics: one invocation per input element visits the <= ceil(size/stride)^2 windows
// that contain it and adds dY of each window whose forward output y equals x here and
// that has no earlier element >= y (the first-maximum rule). The rare equal case scans
// the earlier window elements; the common case costs one read of y per window. Because
// y is recomputed from nothing, forward and backward need no argmax buffer; y must be the
// forward's own output (bit-exact copies of x, so the equality test is exact).
// NaN inputs are not propagated (PyTorch propagates them).

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import {
  ceilDiv,
  constants,
  foldWorkgroups,
  requireNonNegativeInt,
  requirePositiveInt,
  storage,
} from "./_wgsl.ts";

/** Static parameters of a max-pool op. */
export interface MaxPoolParams {
  /** Batch size N. */
  batch: number;
  /** Channels C. */
  channels: number;
  /** Input height H. */
  height: number;
  /** Input width W. */
  width: number;
  /** Window side (default 3). */
  size?: number;
  /** Step between windows (default 2). */
  stride?: number;
  /** Implicit -inf border on each side (default 0; at most size / 2, as in PyTorch). */
  padding?: number;
  /** Threads per workgroup (default 64 on the software profile, 256 on GPUs). */
  workgroupSize?: number;
}

/** Fully validated shape of a max-pool op, as the WGSL builders take it. */
export interface MaxPoolShape {
  /** Batch size N. */
  batch: number;
  /** Channels C. */
  channels: number;
  /** Input height H. */
  height: number;
  /** Input width W. */
  width: number;
  /** Window side. */
  size: number;
  /** Step between windows. */
  stride: number;
  /** Implicit -inf border on each side. */
  padding: number;
  /** Output height. */
  outHeight: number;
  /** Output width. */
  outWidth: number;
}

/**
 * Validates `params` and computes the output size. Throws a RangeError naming
 * `maxpool` and the parameter on zero sizes, padding over half the window, or a window
 * larger than the padded input.
 */
export function maxPoolShape(params: MaxPoolParams): MaxPoolShape {
  const k = "maxpool";
  const batch = requirePositiveInt(k, "batch", params.batch);
  const channels = requirePositiveInt(k, "channels", params.channels);
  const height = requirePositiveInt(k, "height", params.height);
  const width = requirePositiveInt(k, "width", params.width);
  const size = requirePositiveInt(k, "size", params.size ?? 3);
  const stride = requirePositiveInt(k, "stride", params.stride ?? 2);
  const padding = requireNonNegativeInt(k, "padding", params.padding ?? 0);
  // Every window then holds at least one real element, so y is never -inf.
  if (2 * padding > size) {
    throw new RangeError(`${k}: padding must be at most size / 2 = ${size / 2}, got ${padding}`);
  }
  for (const [name, v] of [["height", height], ["width", width]] as const) {
    if (v + 2 * padding < size) {
      throw new RangeError(
        `${k}: size ${size} is larger than the padded ${name} ${v} + 2 * ${padding}`,
      );
    }
  }
  const out = (v: number) => Math.floor((v + 2 * padding - size) / stride) + 1;
  return {
    batch,
    channels,
    height,
    width,
    size,
    stride,
    padding,
    outHeight: out(height),
    outWidth: out(width),
  };
}

function shapeConstants(s: MaxPoolShape, workgroupSize: number, count: number): string {
  return [
    constants({
      WG: workgroupSize,
      COUNT: count,
      NUM_WG_X: foldWorkgroups(ceilDiv(count, workgroupSize))[0],
      H: s.height,
      W: s.width,
      OH: s.outHeight,
      OW: s.outWidth,
      K: s.size,
      S: s.stride,
    }),
    constants({ PAD: s.padding, IH: s.height, IW: s.width }, "i32"),
  ].join("\n");
}

const HEADER = [
  `@compute @workgroup_size(WG)`,
  `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
  `  let i = (wid.y * NUM_WG_X + wid.x) * WG + lid;`,
  `  if (i >= COUNT) { return; }`,
];

/** WGSL of the forward pass: one invocation per output element (pure; exported for tests). */
export function maxpoolForwardWgsl(s: MaxPoolShape, workgroupSize = 64): string {
  const count = s.batch * s.channels * s.outHeight * s.outWidth;
  const window: string[] = [];
  if (s.padding === 0) {
    // Windows lie inside the input: a straight unrolled max, first load seeds it.
    window.push(`  let base = nc * H * W + (oh * S) * W + ow * S;`);
    for (let kh = 0; kh < s.size; kh++) {
      for (let kw = 0; kw < s.size; kw++) {
        const at = `x[base + ${kh * s.width + kw}u]`;
        window.push(kh + kw === 0 ? `  var best = ${at};` : `  best = max(best, ${at});`);
      }
    }
  } else {
    // Clip the window to the input; padding <= size / 2 keeps it non-empty.
    window.push(
      `  let h0 = i32(oh * S) - PAD;`,
      `  let w0 = i32(ow * S) - PAD;`,
      `  let khLo = max(0, -h0); let khHi = min(i32(K), IH - h0);`,
      `  let kwLo = max(0, -w0); let kwHi = min(i32(K), IW - w0);`,
      `  let base = nc * H * W;`,
      `  var best = x[base + u32(h0 + khLo) * W + u32(w0 + kwLo)];`,
      `  for (var kh = khLo; kh < khHi; kh++) {`,
      `    let row = base + u32(h0 + kh) * W;`,
      `    for (var kw = kwLo; kw < kwHi; kw++) { best = max(best, x[row + u32(w0 + kw)]); }`,
      `  }`,
    );
  }
  return [
    shapeConstants(s, workgroupSize, count),
    storage(0, "x", "array<f32>", "read"),
    storage(1, "y", "array<f32>", "read_write"),
    ...HEADER,
    `  let ow = i % OW;`,
    `  let oh = (i / OW) % OH;`,
    `  let nc = i / (OW * OH);`,
    ...window,
    `  y[i] = best;`,
    `}`,
  ].join("\n");
}

/** WGSL of the backward pass: one invocation per input element, gathering (pure). */
export function maxpoolBackwardWgsl(s: MaxPoolShape, workgroupSize = 64): string {
  const count = s.batch * s.channels * s.height * s.width;
  const reach = ceilDiv(s.size, s.stride); // windows per axis that can contain one input
  const inside = s.padding === 0 ? "true" : "h >= 0 && h < IH && w >= 0 && w < IW";
  const visits: string[] = [];
  for (let a = 0; a < reach; a++) {
    for (let b = 0; b < reach; b++) {
      visits.push(
        `  g += fromWindow(nc, v, ohTop - ${a}, owTop - ${b}, kh0 + ${a * s.stride}, ` +
          `kw0 + ${b * s.stride});`,
      );
    }
  }
  return [
    shapeConstants(s, workgroupSize, count),
    storage(0, "x", "array<f32>", "read"),
    storage(1, "y", "array<f32>", "read"),
    storage(2, "dY", "array<f32>", "read"),
    storage(3, "dX", "array<f32>", "read_write"),
    ``,
    `// True when no element before position q (row-major) of window (oh, ow) is >= m.`,
    `fn firstMax(nc: u32, oh: i32, ow: i32, q: i32, m: f32) -> bool {`,
    `  for (var p = 0; p < q; p++) {`,
    `    let h = oh * i32(S) - PAD + p / i32(K);`,
    `    let w = ow * i32(S) - PAD + p % i32(K);`,
    `    if (${inside}) {`,
    `      if (x[(nc * H + u32(h)) * W + u32(w)] >= m) { return false; }`,
    `    }`,
    `  }`,
    `  return true;`,
    `}`,
    ``,
    `// dY of window (oh, ow) if it chose the input with value v at window offset (kh, kw).`,
    `fn fromWindow(nc: u32, v: f32, oh: i32, ow: i32, kh: i32, kw: i32) -> f32 {`,
    `  if (oh < 0 || oh >= i32(OH) || ow < 0 || ow >= i32(OW) || kh >= i32(K) || kw >= i32(K)) {`,
    `    return 0.0;`,
    `  }`,
    `  let o = (nc * OH + u32(oh)) * OW + u32(ow);`,
    `  let m = y[o];`,
    `  if (v != m) { return 0.0; }`,
    `  if (!firstMax(nc, oh, ow, kh * i32(K) + kw, m)) { return 0.0; }`,
    `  return dY[o];`,
    `}`,
    ``,
    ...HEADER,
    `  let iw = i32(i % W);`,
    `  let ih = i32((i / W) % H);`,
    `  let nc = i / (W * H);`,
    `  let v = x[i];`,
    `  // The last window that can contain (ih, iw), and the input's offset inside it.`,
    `  let ohTop = (ih + PAD) / i32(S);`,
    `  let owTop = (iw + PAD) / i32(S);`,
    `  let kh0 = ih + PAD - ohTop * i32(S);`,
    `  let kw0 = iw + PAD - owTop * i32(S);`,
    `  var g = 0.0;`,
    ...visits,
    `  dX[i] = g;`,
    `}`,
  ].join("\n");
}

/**
 * Overlapping max pooling (NCHW, f32) with a gather backward: no atomics, no argmax
 * buffer. The window, stride, padding and shapes are static (baked into the WGSL).
 *
 * @example
 * ```ts ignore
 * const pool = await MaxPool.create(column, { batch: 4, channels: 48, height: 55, width: 55 });
 * using y = Tensor.empty(column, [4, 48, pool.outHeight, pool.outWidth], "pool1.y");
 * const enc = new Encoder(column, "pool1");
 * pool.forward(enc, { x, y });
 * pool.backward(enc, { x, y, dY, dX }); // overwrites dX
 * enc.submit();
 * ```
 */
export class MaxPool {
  /** The validated static shape. */
  readonly shape: MaxPoolShape;
  /** Output height: floor((H + 2 padding - size) / stride) + 1. */
  readonly outHeight: number;
  /** Output width: floor((W + 2 padding - size) / stride) + 1. */
  readonly outWidth: number;
  #forward: GPUComputePipeline;
  #backward: GPUComputePipeline;
  #wg: number;

  private constructor(
    shape: MaxPoolShape,
    forward: GPUComputePipeline,
    backward: GPUComputePipeline,
    wg: number,
  ) {
    this.shape = shape;
    this.outHeight = shape.outHeight;
    this.outWidth = shape.outWidth;
    this.#forward = forward;
    this.#backward = backward;
    this.#wg = wg;
  }

  /** Validates `params` and compiles (or fetches from the column's cache) both pipelines. */
  static async create(column: Column, params: MaxPoolParams): Promise<MaxPool> {
    const shape = maxPoolShape(params);
    const wg = requirePositiveInt(
      "maxpool",
      "workgroupSize",
      params.workgroupSize ?? (column.profile === "software" ? 64 : 256),
    );
    const [forward, backward] = await Promise.all([
      column.pipeline("maxpool.forward", maxpoolForwardWgsl(shape, wg)),
      column.pipeline("maxpool.backward", maxpoolBackwardWgsl(shape, wg)),
    ]);
    return new MaxPool(shape, forward, backward, wg);
  }

  get #inShape(): number[] {
    const s = this.shape;
    return [s.batch, s.channels, s.height, s.width];
  }

  get #outShape(): number[] {
    const s = this.shape;
    return [s.batch, s.channels, s.outHeight, s.outWidth];
  }

  #grid(count: number): [number, number] {
    return foldWorkgroups(ceilDiv(count, this.#wg));
  }

  /** y = max over each window of x. Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; y: Tensor }): void {
    t.x.expectShape("maxpool.forward", "x", this.#inShape);
    t.y.expectShape("maxpool.forward", "y", this.#outShape);
    requireF32("maxpool.forward", t);
    enc.dispatch(this.#forward, [t.x, t.y], this.#grid(t.y.size));
  }

  /**
   * dX = the sum of dY over the windows whose first maximum is each input. `y` must be
   * this pool's forward output for `x`. Overwrites dX.
   */
  backward(enc: Encoder, t: { x: Tensor; y: Tensor; dY: Tensor; dX: Tensor }): void {
    t.x.expectShape("maxpool.backward", "x", this.#inShape);
    t.y.expectShape("maxpool.backward", "y", this.#outShape);
    t.dY.expectShape("maxpool.backward", "dY", this.#outShape);
    t.dX.expectShape("maxpool.backward", "dX", this.#inShape);
    requireF32("maxpool.backward", t);
    enc.dispatch(this.#backward, [t.x, t.y, t.dY, t.dX], this.#grid(t.dX.size));
  }
}

function requireF32(kernel: string, tensors: Record<string, Tensor>): void {
  for (const [param, t] of Object.entries(tensors)) {
    if (t.dtype !== "f32") {
      throw new RangeError(`${kernel}: ${param} (${t.label}) must be f32, got ${t.dtype}`);
    }
  }
}
