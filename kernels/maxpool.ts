// Overlapping max pooling over NCHW f32 tensors (the paper's 3x3 stride 2 windows).
//
//   forward:  y[n,c,oh,ow] = max_{kh,kw < size} x[n,c, oh*stride - pad + kh, ow*stride - pad + kw]
//             OH = floor((H + 2 pad - size) / stride) + 1 (PyTorch, ceil_mode false);
//             padded positions are -inf, i.e. never chosen.             (overwrites y)
//             It also records each window's choice: the first maximum in row-major order
//             (PyTorch's tie rule), as kh * size + kw, packed `perWord` windows of an output
//             row to a u32 (`bits` each, window ow in word ow / perWord).  (overwrites argmax)
//   backward: each window passes dY to exactly the ONE input it chose. An input chosen by
//             several overlapping windows receives the sum of their gradients.  (overwrites dX)
//
// Layouts: x, dX [N, C, H, W]; y, dY [N, C, OH, OW]; argmax u32 [N, C, OH, ceil(OW / perWord)].
// Tiling (register blocking; no workgroup memory, no barriers, no atomics): every loop is
// unrolled for the static shape, because on software adapters each buffer access costs per
// lane and the count of loads and stores is the cost.
// - forward: an invocation owns forwardBlock = [rows, cols] outputs, cols a whole number of
//   argmax words (so no two invocations share a word). It loads the input region under its
//   windows once, so overlapping windows share loads instead of re-reading x.
// - backward GATHERS: an invocation owns backwardBlock = [rows, cols] tiles of
//   stride x stride inputs, cols again whole words. It loads the dY and argmax words of the
//   windows touching them (x is not read: the choices were stored by the forward) and sums
//   into each input the dY of the windows that chose it.
// Out-of-range loads are clamped into the input. In the forward that is exact even with
// padding: a window's clamped positions repeat real elements of the same window; the choice
// masks padded positions so they can never be chosen.
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
   * [rows, cols] of outputs per forward invocation. cols is rounded up to whole argmax
   * words (8 windows for 3x3) and both are capped at the output size. Default on GPUs
   * [1, 1] (i.e. [1, 8]), where parallelism pays; on the software profile, where every
   * buffer access costs per lane, the block with the fewest accesses in total among
   * blocks of at most 40 (lavapipe compiles the unrolled shader at its first dispatch, in
   * time that grows with the block).
   */
  forwardBlock?: readonly [number, number];
  /**
   * [rows, cols] of stride x stride input tiles per backward invocation, rounded and
   * capped like forwardBlock. Default [1, 1] on GPUs; on the software profile chosen like
   * the forward's, among blocks of at most 60 accesses.
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
  /** Bits of one window's choice (kh * size + kw) in the argmax words. */
  argmaxBits: number;
  /** Windows per argmax word. */
  argmaxPerWord: number;
  /** Argmax words per output row: ceil(outWidth / argmaxPerWord). */
  argmaxWords: number;
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
  const argmaxBits = Math.max(1, Math.ceil(Math.log2(size * size)));
  if (argmaxBits > 32) throw new RangeError(`${k}: size must be at most 65536, got ${size}`);
  const argmaxPerWord = Math.floor(32 / argmaxBits);
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
    argmaxBits,
    argmaxPerWord,
    argmaxWords: Math.ceil(out(width) / argmaxPerWord),
  };
}

/** Shape of the packed argmax tensor (u32): [N, C, OH, ceil(OW / perWord)]. */
export function maxPoolArgmaxShape(s: MaxPoolShape): number[] {
  return [s.batch, s.channels, s.outHeight, s.argmaxWords];
}

/** Register blocks: outputs per forward invocation, stride x stride tiles per backward one. */
export interface MaxPoolBlocks {
  /** [rows, cols] of outputs per forward invocation. */
  forwardBlock: readonly [number, number];
  /** [rows, cols] of stride x stride input tiles per backward invocation. */
  backwardBlock: readonly [number, number];
}

// Effective register blocks: cols a whole number of argmax words (so no two invocations
// share a word), both sides at most what the shape holds (a single block per row needs no
// alignment, and clamped loads past the edge would cost without computing anything).
function wordBlock(rows: number, cols: number, maxRows: number, maxCols: number, per: number) {
  const whole = Math.ceil(cols / per) * per;
  return [Math.min(rows, maxRows), Math.min(whole, maxCols)] as const;
}
function forwardBlockOf(s: MaxPoolShape, [bh, bw]: readonly [number, number]) {
  return wordBlock(bh, bw, s.outHeight, s.outWidth, s.argmaxPerWord);
}
function backwardBlockOf(s: MaxPoolShape, [bh, bw]: readonly [number, number]) {
  const st = s.stride;
  return wordBlock(bh, bw, Math.ceil(s.height / st), Math.ceil(s.width / st), s.argmaxPerWord);
}

// Buffer accesses per invocation (loads + stores of the unrolled shader), the cost that
// matters on software adapters, where each one is done lane by lane.
function forwardAccesses(s: MaxPoolShape, block: readonly [number, number]): number {
  const [bh, bw] = forwardBlockOf(s, block);
  const loads = ((bh - 1) * s.stride + s.size) * ((bw - 1) * s.stride + s.size);
  return loads + bh * bw + bh * Math.ceil(bw / s.argmaxPerWord);
}
function backwardAccesses(s: MaxPoolShape, block: readonly [number, number]): number {
  const [bh, bw] = backwardBlockOf(s, block), k = s.size, st = s.stride, p = s.padding;
  const first = Math.ceil((p - k + 1) / st), last = Math.floor((st - 1 + p) / st);
  const nwh = bh + last - first, nww = bw + last - first, per = s.argmaxPerWord;
  const words = Math.floor((bw - 1 + last) / per) - Math.floor(first / per) + 1;
  return nwh * nww + nwh * words + bh * st * bw * st;
}

// Largest unrolled block of the software profile, in buffer accesses per invocation.
// lavapipe compiles a pipeline at its first dispatch, in time that grows with the
// unrolled body: at tiny's shapes, limits of 160 / 240 cost 9.4 s of compile for its three
// pools against 3.0 s at 40 / 60, while the paper-shape kernel bench was a wash (pool1-5
// forward + backward 5.83 vs 5.92 ms a batch of 4), so the smaller bodies are the default.
const SOFTWARE_FORWARD_ACCESSES = 40;
const SOFTWARE_BACKWARD_ACCESSES = 60;

// Software default: among blocks whose unrolled shader stays small (lavapipe compiles it on
// first use; `limit` accesses per invocation), the one with the fewest accesses in total,
// counting the clamped, wasted ones of ragged edge blocks and a few per invocation for
// its setup. E.g. pool2 (13x13 outputs) gets whole rows instead of 8 + 5 columns.
function softwareBlock(
  s: MaxPoolShape,
  accesses: (s: MaxPoolShape, b: readonly [number, number]) => number,
  count: (s: MaxPoolShape, b: readonly [number, number]) => number,
  [rows, cols]: readonly [number, number],
  limit: number,
): [number, number] {
  let best: [number, number] = [1, 1], bestCost = Infinity;
  for (let bh = 1; bh <= Math.min(rows, 8); bh++) {
    for (let words = 1; words <= Math.min(Math.ceil(cols / s.argmaxPerWord), 4); words++) {
      const b: [number, number] = [bh, words * s.argmaxPerWord];
      const a = accesses(s, b);
      if (a > limit && !(bh === 1 && words === 1)) continue;
      const cost = count(s, b) * (a + 8);
      if (cost < bestCost) [best, bestCost] = [b, cost];
    }
  }
  return best;
}

// Invocations of each pass: (n, c) planes times blocks per plane.
function forwardCount(s: MaxPoolShape, block: readonly [number, number]): number {
  const [bh, bw] = forwardBlockOf(s, block);
  return s.batch * s.channels * ceilDiv(s.outHeight, bh) * ceilDiv(s.outWidth, bw);
}
function backwardCount(s: MaxPoolShape, block: readonly [number, number]): number {
  const [bh, bw] = backwardBlockOf(s, block);
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
      WORDS: s.argmaxWords,
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
  const [bh, bw] = forwardBlockOf(s, block), k = s.size, st = s.stride, p = s.padding;
  const per = s.argmaxPerWord;
  const nbh = ceilDiv(s.outHeight, bh), nbw = ceilDiv(s.outWidth, bw);
  const rows = (bh - 1) * st + k, cols = (bw - 1) * st + k;
  const lines = [
    ...preamble(s, workgroupSize, forwardCount(s, block), { NBH: nbh, NBW: nbw }),
    `  let r0 = i32(bh * ${bh * st}u) - PAD;`,
    `  let c0 = i32(bw * ${bw * st}u) - PAD;`,
    ...loadRegion(rows, cols),
  ];
  if (p > 0) {
    for (let r = 0; r < rows; r++) lines.push(`  let inR${r} = r0 + ${r} >= 0 && r0 + ${r} < IH;`);
    for (let c = 0; c < cols; c++) lines.push(`  let inC${c} = c0 + ${c} >= 0 && c0 + ${c} < IW;`);
  }
  for (let u = 0; u < bh; u++) {
    const oh = `bh * ${bh}u + ${u}u`;
    for (let v = 0; v < bw; v++) {
      // The first maximum in row-major order (strict >) and its position q = kh * k + kw.
      const w = `${u}_${v}`;
      for (let q = 0; q < k * k; q++) {
        const val = `v${u * st + Math.floor(q / k)}_${v * st + (q % k)}`;
        if (p === 0) {
          if (q === 0) lines.push(`  var m${w} = ${val}; var q${w} = 0u;`);
          else {
            lines.push(
              `  { let t = ${val} > m${w}; m${w} = select(m${w}, ${val}, t); ` +
                `q${w} = select(q${w}, ${q}u, t); }`,
            );
          }
        } else {
          // Padded positions are -inf: never taken. The first real one seeds the max.
          if (q === 0) lines.push(`  var m${w} = 0.0; var q${w} = 0u; var f${w} = false;`);
          const r = u * st + Math.floor(q / k), c = v * st + (q % k);
          lines.push(
            `  { let ok = inR${r} && inC${c}; let t = ok && (!f${w} || ${val} > m${w}); ` +
              `m${w} = select(m${w}, ${val}, t); q${w} = select(q${w}, ${q}u, t); ` +
              `f${w} = f${w} || ok; }`,
          );
        }
      }
      lines.push(
        `  if (${oh} < OH && bw * ${bw}u + ${v}u < OW) {`,
        `    y[(nc * OH + ${oh}) * OW + bw * ${bw}u + ${v}u] = m${w};`,
        `  }`,
      );
    }
    // bw * bw_ is a multiple of per (or 0 when one block spans the row): whole words.
    for (let wd = 0; wd * per < bw; wd++) {
      const terms: string[] = [];
      for (let v = wd * per; v < Math.min(bw, (wd + 1) * per); v++) {
        const shift = (v - wd * per) * s.argmaxBits;
        terms.push(shift ? `(q${u}_${v} << ${shift}u)` : `q${u}_${v}`);
      }
      const word = `bw * ${Math.floor(bw / per)}u + ${wd}u`;
      lines.push(
        `  if (${oh} < OH && ${word} < WORDS) {`,
        `    argmax[(nc * OH + ${oh}) * WORDS + ${word}] = ${terms.join(" | ")};`,
        `  }`,
      );
    }
  }
  return [
    storage(0, "x", "array<f32>", "read"),
    storage(1, "y", "array<f32>", "read_write"),
    storage(2, "argmax", "array<u32>", "read_write"),
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
  const [bh, bw] = backwardBlockOf(s, block), k = s.size, st = s.stride, p = s.padding;
  const per = s.argmaxPerWord, bits = s.argmaxBits;
  // Windows touching input tile t along an axis: t + first .. t + last (static offsets).
  const first = Math.ceil((p - k + 1) / st), last = Math.floor((st - 1 + p) / st);
  const nwh = bh + last - first, nww = bw + last - first; // windows per block, per axis
  const nbh = ceilDiv(s.height, bh * st), nbw = ceilDiv(s.width, bw * st);
  // Argmax words of those windows, relative to the block's first word (static, as bw is
  // whole words or the block spans the row).
  const wlo = Math.floor(first / per), whi = Math.floor((bw - 1 + last) / per);
  const lines = [
    ...preamble(s, workgroupSize, backwardCount(s, block), { NBH: nbh, NBW: nbw }),
    `  let ohs = i32(bh * ${bh}u) + ${first};`,
    `  let ows = i32(bw * ${bw}u) + ${first};`,
    `  let word0 = i32(bw * ${Math.floor(bw / per)}u);`,
  ];
  const mask = 2 ** bits - 1;
  // Per window (a, b): its dY (0 outside the output) and its choice q.
  for (let a = 0; a < nwh; a++) {
    lines.push(
      `  let oh${a} = ohs + ${a};`,
      `  let okR${a} = oh${a} >= 0 && oh${a} < i32(OH);`,
      `  let orow${a} = nc * OH + u32(clamp(oh${a}, 0, i32(OH) - 1));`,
    );
    for (let wd = wlo; wd <= whi; wd++) {
      lines.push(
        `  let w${a}_${wd - wlo} = argmax[orow${a} * WORDS + ` +
          `u32(clamp(word0 + ${wd}, 0, i32(WORDS) - 1))];`,
      );
    }
    for (let b = 0; b < nww; b++) {
      const rel = first + b, wd = Math.floor(rel / per), slot = rel - wd * per;
      const w = `${a}_${b}`;
      lines.push(
        `  let ow${w} = ows + ${b};`,
        `  let g${w} = select(0.0, dY[orow${a} * OW + u32(clamp(ow${w}, 0, i32(OW) - 1))], ` +
          `okR${a} && ow${w} >= 0 && ow${w} < i32(OW));`,
        `  let q${w} = (w${a}_${wd - wlo} >> ${slot * bits}u) & ${mask}u;`,
      );
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
    storage(0, "argmax", "array<u32>", "read"),
    storage(1, "dY", "array<f32>", "read"),
    storage(2, "dX", "array<f32>", "read_write"),
    ...lines,
    `}`,
  ].join("\n");
}

/**
 * Overlapping max pooling (NCHW, f32). The forward also records each window's choice in a
 * packed u32 `argmax` tensor ({@link maxPoolArgmaxShape}); the backward gathers through it
 * (no atomics, x not read). The window, stride, padding, shapes and register blocks are
 * static (baked into the WGSL).
 *
 * @example
 * ```ts ignore
 * const pool = await MaxPool.create(column, { batch: 4, channels: 48, height: 55, width: 55 });
 * using y = Tensor.empty(column, [4, 48, pool.outHeight, pool.outWidth], "pool1.y");
 * using argmax = Tensor.empty(column, pool.argmaxShape, "pool1.argmax", "u32");
 * const enc = new Encoder(column, "pool1");
 * pool.forward(enc, { x, y, argmax });
 * pool.backward(enc, { argmax, dY, dX }); // overwrites dX
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
  /** Shape of the u32 argmax tensor the forward writes and the backward reads. */
  readonly argmaxShape: readonly number[];
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
    this.argmaxShape = maxPoolArgmaxShape(shape);
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
    const st = shape.stride;
    const fb = block(
      "forwardBlock",
      params.forwardBlock ??
        (software
          ? softwareBlock(
            shape,
            forwardAccesses,
            forwardCount,
            [shape.outHeight, shape.outWidth],
            SOFTWARE_FORWARD_ACCESSES,
          )
          : [1, 1]),
    );
    const bb = block(
      "backwardBlock",
      params.backwardBlock ?? (software
        ? softwareBlock(shape, backwardAccesses, backwardCount, [
          Math.ceil(shape.height / st),
          Math.ceil(shape.width / st),
        ], SOFTWARE_BACKWARD_ACCESSES)
        : [1, 1]),
    );
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

  /** y = max over each window of x; argmax = each window's first maximum, packed. Overwrites both. */
  forward(enc: Encoder, t: { x: Tensor; y: Tensor; argmax: Tensor }): void {
    t.x.expectShape("maxpool.forward", "x", this.#inShape);
    t.y.expectShape("maxpool.forward", "y", this.#outShape);
    t.argmax.expectShape("maxpool.forward", "argmax", this.argmaxShape);
    requireDType("maxpool.forward", { x: t.x, y: t.y }, "f32");
    requireDType("maxpool.forward", { argmax: t.argmax }, "u32");
    enc.dispatch(this.#forward, [t.x, t.y, t.argmax], this.#forwardGrid);
  }

  /**
   * dX = the sum of dY over the windows that chose each input, as the forward recorded in
   * `argmax` (so the forward must have run on the same x). Overwrites dX.
   */
  backward(enc: Encoder, t: { argmax: Tensor; dY: Tensor; dX: Tensor }): void {
    t.argmax.expectShape("maxpool.backward", "argmax", this.argmaxShape);
    t.dY.expectShape("maxpool.backward", "dY", this.#outShape);
    t.dX.expectShape("maxpool.backward", "dX", this.#inShape);
    requireDType("maxpool.backward", { dY: t.dY, dX: t.dX }, "f32");
    requireDType("maxpool.backward", { argmax: t.argmax }, "u32");
    enc.dispatch(this.#backward, [t.argmax, t.dY, t.dX], this.#backwardGrid);
  }
}

function requireDType(kernel: string, tensors: Record<string, Tensor>, dtype: string): void {
  for (const [param, t] of Object.entries(tensors)) {
    if (t.dtype !== dtype) {
      throw new RangeError(`${kernel}: ${param} (${t.label}) must be ${dtype}, got ${t.dtype}`);
    }
  }
}
