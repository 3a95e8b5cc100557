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
// Tiling (register blocking; no workgroup memory, no barriers, no atomics): an invocation
// loads the input region under a block of windows into registers once (unrolled for the
// static shape), so overlapping windows share loads instead of re-reading x.
// - forward: a block of forwardBlock = [rows, cols] outputs.
// - backward GATHERS: an invocation owns backwardBlock = [rows, cols] tiles of
//   stride x stride inputs, finds the first-maximum position of every window that touches
//   them (from x, with branch-free selects), and sums into each input the dY of the windows
//   whose choice it is. It reads x, dY and writes dX; y is not needed.
// Out-of-range loads are clamped into the input. In the forward that is exact even with
// padding: a window's clamped positions repeat real elements of the same window. The
// backward masks padded positions so they can never be a window's choice.
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
  /**
   * [rows, cols] of outputs per forward invocation (default [2, 4] on the software
   * profile, where sharing loads and fewer invocations pay; [1, 2] on GPUs, where
   * parallelism does).
   */
  forwardBlock?: readonly [number, number];
  /**
   * [rows, cols] of stride x stride input tiles per backward invocation (default [2, 2]
   * on the software profile, [1, 1] on GPUs). Larger blocks share more loads but the
   * unrolled shader grows fast: lavapipe's first-use compile of [2, 4] takes ~3 s.
   */
  backwardBlock?: readonly [number, number];
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

/** Register blocks: outputs per forward invocation, stride x stride tiles per backward one. */
export interface MaxPoolBlocks {
  /** [rows, cols] of outputs per forward invocation. */
  forwardBlock: readonly [number, number];
  /** [rows, cols] of stride x stride input tiles per backward invocation. */
  backwardBlock: readonly [number, number];
}

// Invocations of each pass: (n, c) planes times blocks per plane.
function forwardCount(s: MaxPoolShape, [bh, bw]: readonly [number, number]): number {
  return s.batch * s.channels * ceilDiv(s.outHeight, bh) * ceilDiv(s.outWidth, bw);
}
function backwardCount(s: MaxPoolShape, [bh, bw]: readonly [number, number]): number {
  return s.batch * s.channels * ceilDiv(s.height, bh * s.stride) * ceilDiv(s.width, bw * s.stride);
}

function preamble(s: MaxPoolShape, wg: number, count: number, extra: Record<string, number>) {
  return [
    constants({
      WG: wg,
      COUNT: count,
      NUM_WG_X: foldWorkgroups(ceilDiv(count, wg))[0],
      H: s.height,
      W: s.width,
      OH: s.outHeight,
      OW: s.outWidth,
      ...extra,
    }),
    constants({ PAD: s.padding, IH: s.height, IW: s.width }, "i32"),
    `@compute @workgroup_size(WG)`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    `  let i = (wid.y * NUM_WG_X + wid.x) * WG + lid;`,
    `  if (i >= COUNT) { return; }`,
    `  let bw = i % NBW;`,
    `  let bh = (i / NBW) % NBH;`,
    `  let nc = i / (NBW * NBH);`,
    `  let base = nc * H * W;`,
  ];
}

// `let v{i}_{j} = x[...]` for a rows x cols region at (r0, c0) (WGSL i32 expressions),
// coordinates clamped into the input so every load is in bounds.
function loadRegion(rows: number, cols: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    out.push(`  let row${r} = base + u32(clamp(r0 + ${r}, 0, IH - 1)) * W;`);
  }
  for (let c = 0; c < cols; c++) out.push(`  let col${c} = u32(clamp(c0 + ${c}, 0, IW - 1));`);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out.push(`  let v${r}_${c} = x[row${r} + col${c}];`);
  }
  return out;
}

/** WGSL of the forward pass: one invocation per block of outputs (pure; exported for tests). */
export function maxpoolForwardWgsl(
  s: MaxPoolShape,
  workgroupSize = 64,
  block: readonly [number, number] = [1, 1],
): string {
  const [bh, bw] = block, k = s.size, st = s.stride;
  const nbh = ceilDiv(s.outHeight, bh), nbw = ceilDiv(s.outWidth, bw);
  const lines = [
    ...preamble(s, workgroupSize, forwardCount(s, block), { NBH: nbh, NBW: nbw }),
    `  let r0 = i32(bh * ${bh * st}u) - PAD;`,
    `  let c0 = i32(bw * ${bw * st}u) - PAD;`,
    ...loadRegion((bh - 1) * st + k, (bw - 1) * st + k),
  ];
  for (let u = 0; u < bh; u++) {
    for (let v = 0; v < bw; v++) {
      const terms: string[] = [];
      for (let kh = 0; kh < k; kh++) {
        for (let kw = 0; kw < k; kw++) terms.push(`v${u * st + kh}_${v * st + kw}`);
      }
      const max = terms.slice(1).reduce((acc, t) => `max(${acc}, ${t})`, terms[0]);
      lines.push(
        `  if (bh * ${bh}u + ${u}u < OH && bw * ${bw}u + ${v}u < OW) {`,
        `    y[(nc * OH + bh * ${bh}u + ${u}u) * OW + bw * ${bw}u + ${v}u] = ${max};`,
        `  }`,
      );
    }
  }
  return [
    storage(0, "x", "array<f32>", "read"),
    storage(1, "y", "array<f32>", "read_write"),
    ...lines,
    `}`,
  ].join("\n");
}

/** WGSL of the backward pass: one invocation per block of input tiles, gathering (pure). */
export function maxpoolBackwardWgsl(
  s: MaxPoolShape,
  workgroupSize = 64,
  block: readonly [number, number] = [1, 1],
): string {
  const [bh, bw] = block, k = s.size, st = s.stride, p = s.padding;
  // Windows touching input tile t along an axis: t + first .. t + last (static offsets).
  const first = Math.ceil((p - k + 1) / st), last = Math.floor((st - 1 + p) / st);
  const nwh = bh + last - first, nww = bw + last - first; // windows per block, per axis
  const rows = (nwh - 1) * st + k, cols = (nww - 1) * st + k; // region under them
  const nbh = ceilDiv(s.height, bh * st), nbw = ceilDiv(s.width, bw * st);
  const lines = [
    ...preamble(s, workgroupSize, backwardCount(s, block), { NBH: nbh, NBW: nbw }),
    `  let oh0 = i32(bh * ${bh}u) + ${first};`,
    `  let ow0 = i32(bw * ${bw}u) + ${first};`,
    `  let r0 = oh0 * ${st} - PAD;`,
    `  let c0 = ow0 * ${st} - PAD;`,
    ...loadRegion(rows, cols),
  ];
  if (p > 0) {
    for (let r = 0; r < rows; r++) lines.push(`  let inR${r} = r0 + ${r} >= 0 && r0 + ${r} < IH;`);
    for (let c = 0; c < cols; c++) lines.push(`  let inC${c} = c0 + ${c} >= 0 && c0 + ${c} < IW;`);
  }
  // Per window (a, b): its dY (0 outside the output) and the position q of its first max.
  for (let a = 0; a < nwh; a++) {
    for (let b = 0; b < nww; b++) {
      const w = `${a}_${b}`;
      lines.push(
        `  let oh${w} = oh0 + ${a}; let ow${w} = ow0 + ${b};`,
        `  let g${w} = select(0.0, dY[(nc * OH + u32(clamp(oh${w}, 0, i32(OH) - 1))) * OW + ` +
          `u32(clamp(ow${w}, 0, i32(OW) - 1))], oh${w} >= 0 && oh${w} < i32(OH) && ` +
          `ow${w} >= 0 && ow${w} < i32(OW));`,
      );
      for (let q = 0; q < k * k; q++) {
        const r = a * st + Math.floor(q / k), c = b * st + (q % k), v = `v${r}_${c}`;
        if (p === 0) {
          // Strict > keeps the first maximum in row-major order.
          if (q === 0) lines.push(`  var m${w} = ${v}; var q${w} = 0u;`);
          else {
            lines.push(
              `  { let t = ${v} > m${w}; m${w} = select(m${w}, ${v}, t); ` +
                `q${w} = select(q${w}, ${q}u, t); }`,
            );
          }
        } else {
          // Padded positions are -inf: never taken. The first real one seeds the max.
          if (q === 0) lines.push(`  var m${w} = 0.0; var q${w} = 0u; var f${w} = false;`);
          lines.push(
            `  { let ok = inR${r} && inC${c}; let t = ok && (!f${w} || ${v} > m${w}); ` +
              `m${w} = select(m${w}, ${v}, t); q${w} = select(q${w}, ${q}u, t); f${w} = f${w} || ok; }`,
          );
        }
      }
    }
  }
  // Each input of the block sums the dY of the windows that chose it.
  for (let ei = 0; ei < bh * st; ei++) {
    for (let ej = 0; ej < bw * st; ej++) {
      const r = ei - first * st + p, c = ej - first * st + p; // region coordinates
      const terms: string[] = [];
      for (let a = 0; a < nwh; a++) {
        const kh = r - a * st;
        if (kh < 0 || kh >= k) continue;
        for (let b = 0; b < nww; b++) {
          const kw = c - b * st;
          if (kw < 0 || kw >= k) continue;
          terms.push(`select(0.0, g${a}_${b}, q${a}_${b} == ${kh * k + kw}u)`);
        }
      }
      lines.push(
        `  if (bh * ${bh * st}u + ${ei}u < H && bw * ${bw * st}u + ${ej}u < W) {`,
        `    dX[base + (bh * ${bh * st}u + ${ei}u) * W + bw * ${bw * st}u + ${ej}u] = ` +
          `${terms.length ? terms.join(" + ") : "0.0"};`,
        `  }`,
      );
    }
  }
  return [
    storage(0, "x", "array<f32>", "read"),
    storage(1, "dY", "array<f32>", "read"),
    storage(2, "dX", "array<f32>", "read_write"),
    ...lines,
    `}`,
  ].join("\n");
}

/**
 * Overlapping max pooling (NCHW, f32) with a gather backward: no atomics, no argmax
 * buffer. The window, stride, padding, shapes and register blocks are static (baked into
 * the WGSL).
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
  #forwardGrid: [number, number];
  #backwardGrid: [number, number];

  private constructor(
    shape: MaxPoolShape,
    forward: GPUComputePipeline,
    backward: GPUComputePipeline,
    grids: [number, number][],
  ) {
    this.shape = shape;
    this.outHeight = shape.outHeight;
    this.outWidth = shape.outWidth;
    this.#forward = forward;
    this.#backward = backward;
    [this.#forwardGrid, this.#backwardGrid] = grids;
  }

  /** Validates `params` and compiles (or fetches from the column's cache) both pipelines. */
  static async create(column: Column, params: MaxPoolParams): Promise<MaxPool> {
    const shape = maxPoolShape(params);
    const software = column.profile === "software";
    const wg = requirePositiveInt(
      "maxpool",
      "workgroupSize",
      params.workgroupSize ?? (software ? 64 : 256),
    );
    const block = (name: string, v: readonly [number, number]): [number, number] => {
      if (!Array.isArray(v) || v.length !== 2) {
        throw new RangeError(`maxpool: ${name} must be [rows, cols], got ${String(v)}`);
      }
      return [
        requirePositiveInt("maxpool", `${name}[0]`, v[0]),
        requirePositiveInt("maxpool", `${name}[1]`, v[1]),
      ];
    };
    const fb = block("forwardBlock", params.forwardBlock ?? (software ? [2, 4] : [1, 2]));
    const bb = block("backwardBlock", params.backwardBlock ?? (software ? [2, 2] : [1, 1]));
    const [forward, backward] = await Promise.all([
      column.pipeline("maxpool.forward", maxpoolForwardWgsl(shape, wg, fb)),
      column.pipeline("maxpool.backward", maxpoolBackwardWgsl(shape, wg, bb)),
    ]);
    return new MaxPool(shape, forward, backward, [
      foldWorkgroups(ceilDiv(forwardCount(shape, fb), wg)),
      foldWorkgroups(ceilDiv(backwardCount(shape, bb), wg)),
    ]);
  }

  get #inShape(): number[] {
    const s = this.shape;
    return [s.batch, s.channels, s.height, s.width];
  }

  get #outShape(): number[] {
    const s = this.shape;
    return [s.batch, s.channels, s.outHeight, s.outWidth];
  }

  /** y = max over each window of x. Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; y: Tensor }): void {
    t.x.expectShape("maxpool.forward", "x", this.#inShape);
    t.y.expectShape("maxpool.forward", "y", this.#outShape);
    requireF32("maxpool.forward", t);
    enc.dispatch(this.#forward, [t.x, t.y], this.#forwardGrid);
  }

  /**
   * dX = the sum of dY over the windows whose first maximum is each input. The choice is
   * recomputed from x, so `y` (the forward's output) is shape-checked but not read.
   * Overwrites dX.
   */
  backward(enc: Encoder, t: { x: Tensor; y: Tensor; dY: Tensor; dX: Tensor }): void {
    t.x.expectShape("maxpool.backward", "x", this.#inShape);
    t.y.expectShape("maxpool.backward", "y", this.#outShape);
    t.dY.expectShape("maxpool.backward", "dY", this.#outShape);
    t.dX.expectShape("maxpool.backward", "dX", this.#inShape);
    requireF32("maxpool.backward", t);
    enc.dispatch(this.#backward, [t.x, t.dY, t.dX], this.#backwardGrid);
  }
}

function requireF32(kernel: string, tensors: Record<string, Tensor>): void {
  for (const [param, t] of Object.entries(tensors)) {
    if (t.dtype !== "f32") {
      throw new RangeError(`${kernel}: ${param} (${t.label}) must be f32, got ${t.dtype}`);
    }
  }
}
