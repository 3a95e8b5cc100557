// Adaptive average pooling, NCHW f32, as PyTorch's AdaptiveAvgPool2d: output cell
// (i, j) of an `out` x `out` map averages input rows floor(i H / out) .. ceil((i + 1)
// H / out) - 1 and the same columns of W. `out: 1` is the global average pool; `out`
// equal to the input side is the identity.
//
//   forward:   y[n, c, i, j] = mean of x over the cell's window         (overwrites y)
//   backward:  dX[n, c, h, w] = sum over the cells whose window holds (h, w) of
//              dY[n, c, i, j] / area(i, j)                               (overwrites dX)
//
// One invocation per output element forward and per input element backward (no atomics,
// no shared memory); the backward visits only the cells whose window can hold its row
// and column (one or two per axis).

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { ceilDiv, constants, foldWorkgroups, requirePositiveInt, storage } from "./_wgsl.ts";

/** Static parameters of an adaptive average pool. */
export interface AvgPoolParams {
  /** Images. */
  batch: number;
  /** Channels. */
  channels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Output side (1: global average pooling). */
  output: number;
  /** Threads per workgroup (default 64). */
  workgroupSize?: number;
}

/** First input index of output cell `i` when `size` is pooled to `out` cells. */
export function cellStart(i: number, size: number, out: number): number {
  return Math.floor((i * size) / out);
}

/** One past the last input index of output cell `i`. */
export function cellEnd(i: number, size: number, out: number): number {
  return Math.ceil(((i + 1) * size) / out);
}

/** WGSL of the forward pass (pure; exported for tests). */
export function avgPoolForwardWgsl(p: Required<AvgPoolParams>): string {
  const o = p.output;
  const count = p.batch * p.channels * o * o;
  const [nx] = foldWorkgroups(ceilDiv(count, p.workgroupSize));
  return [
    constants({ COUNT: count, H: p.height, W: p.width, O: o, NUM_WG_X: nx }),
    storage(0, "x", "array<f32>", "read"),
    storage(1, "y", "array<f32>", "read_write"),
    `@compute @workgroup_size(${p.workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    `  let k = (wid.y * NUM_WG_X + wid.x) * ${p.workgroupSize}u + lid;`,
    `  if (k >= COUNT) { return; }`,
    `  let j = k % O;`,
    `  let i = (k / O) % O;`,
    `  let plane = (k / (O * O)) * H * W;`,
    `  let h0 = (i * H) / O;`,
    `  let h1 = ((i + 1u) * H + O - 1u) / O;`,
    `  let w0 = (j * W) / O;`,
    `  let w1 = ((j + 1u) * W + O - 1u) / O;`,
    `  var sum = 0.0;`,
    `  for (var h = h0; h < h1; h++) {`,
    `    for (var w = w0; w < w1; w++) { sum += x[plane + h * W + w]; }`,
    `  }`,
    `  y[k] = sum / f32((h1 - h0) * (w1 - w0));`,
    `}`,
  ].join("\n");
}

/** WGSL of the backward pass (pure; exported for tests). */
export function avgPoolBackwardWgsl(p: Required<AvgPoolParams>): string {
  const o = p.output;
  const count = p.batch * p.channels * p.height * p.width;
  const [nx] = foldWorkgroups(ceilDiv(count, p.workgroupSize));
  return [
    constants({ COUNT: count, H: p.height, W: p.width, O: o, NUM_WG_X: nx }),
    storage(0, "dY", "array<f32>", "read"),
    storage(1, "dX", "array<f32>", "read_write"),
    `@compute @workgroup_size(${p.workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    `  let k = (wid.y * NUM_WG_X + wid.x) * ${p.workgroupSize}u + lid;`,
    `  if (k >= COUNT) { return; }`,
    `  let w = k % W;`,
    `  let h = (k / W) % H;`,
    `  let plane = (k / (H * W)) * O * O;`,
    // Cells holding row h: i with floor(i H / O) <= h < ceil((i + 1) H / O), i.e. from
    // floor(h O / H) (the cell whose start is at or before h) while the start is <= h.
    `  var sum = 0.0;`,
    `  for (var i = (h * O) / H; i < O && (i * H) / O <= h; i++) {`,
    `    if (h >= ((i + 1u) * H + O - 1u) / O) { continue; }`,
    `    let rows = f32(((i + 1u) * H + O - 1u) / O - (i * H) / O);`,
    `    for (var j = (w * O) / W; j < O && (j * W) / O <= w; j++) {`,
    `      if (w >= ((j + 1u) * W + O - 1u) / O) { continue; }`,
    `      let cols = f32(((j + 1u) * W + O - 1u) / O - (j * W) / O);`,
    `      sum += dY[plane + i * O + j] / (rows * cols);`,
    `    }`,
    `  }`,
    `  dX[k] = sum;`,
    `}`,
  ].join("\n");
}

/**
 * Adaptive average pooling forward and backward for one static shape.
 *
 * @example
 * ```ts ignore
 * const pool = await AvgPool.create(column, { batch: 8, channels: 256, height: 6, width: 6, output: 1 });
 * const enc = new Encoder(column);
 * pool.forward(enc, { x, y }); // y: [8, 256, 1, 1]
 * enc.submit();
 * ```
 */
export class AvgPool {
  /** The validated parameters. */
  readonly params: Readonly<Required<AvgPoolParams>>;
  #forward: GPUComputePipeline;
  #backward: GPUComputePipeline;

  private constructor(
    params: Required<AvgPoolParams>,
    forward: GPUComputePipeline,
    backward: GPUComputePipeline,
  ) {
    this.params = params;
    this.#forward = forward;
    this.#backward = backward;
  }

  /** Compiles (or fetches from the column's cache) the pipelines for `params`. */
  static async create(column: Column, params: AvgPoolParams): Promise<AvgPool> {
    const p: Required<AvgPoolParams> = {
      batch: requirePositiveInt("avgpool", "batch", params.batch),
      channels: requirePositiveInt("avgpool", "channels", params.channels),
      height: requirePositiveInt("avgpool", "height", params.height),
      width: requirePositiveInt("avgpool", "width", params.width),
      output: requirePositiveInt("avgpool", "output", params.output),
      workgroupSize: requirePositiveInt("avgpool", "workgroupSize", params.workgroupSize ?? 64),
    };
    const [forward, backward] = await Promise.all([
      column.pipeline("avgpool.forward", avgPoolForwardWgsl(p)),
      column.pipeline("avgpool.backward", avgPoolBackwardWgsl(p)),
    ]);
    return new AvgPool(p, forward, backward);
  }

  /** Input shape [N, C, H, W]. */
  get inShape(): number[] {
    const p = this.params;
    return [p.batch, p.channels, p.height, p.width];
  }

  /** Output shape [N, C, out, out]. */
  get outShape(): number[] {
    const p = this.params;
    return [p.batch, p.channels, p.output, p.output];
  }

  /** y = the cell averages of x. Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; y: Tensor }): void {
    t.x.expectShape("avgpool.forward", "x", this.inShape);
    t.y.expectShape("avgpool.forward", "y", this.outShape);
    const count = this.outShape.reduce((a, b) => a * b, 1);
    enc.dispatch(
      this.#forward,
      [t.x, t.y],
      foldWorkgroups(ceilDiv(count, this.params.workgroupSize)),
    );
  }

  /** dX = dY spread evenly over each cell's window. Overwrites dX. */
  backward(enc: Encoder, t: { dY: Tensor; dX: Tensor }): void {
    t.dY.expectShape("avgpool.backward", "dY", this.outShape);
    t.dX.expectShape("avgpool.backward", "dX", this.inShape);
    const count = this.inShape.reduce((a, b) => a * b, 1);
    enc.dispatch(
      this.#backward,
      [t.dY, t.dX],
      foldWorkgroups(ceilDiv(count, this.params.workgroupSize)),
    );
  }
}
