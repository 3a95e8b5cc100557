// Concatenation along axis 1 and its inverse (torch.cat(dim=1) / slicing), for tensors
// viewed as [outer, inner]: NCHW channel concatenation is outer = N, inner = C*H*W, and
// flattening a concatenation of [N,C,H,W] maps gives PyTorch's `view(N, -1)` order too.
//
//   place:  y[o, offset + i] = x[o, i]            (overwrites that slice of y)
//   take:   x[o, i]  = y[o, offset + i]           (overwrites x)
//   take, accumulate:  x[o, i] += y[o, offset + i]
//
// A concatenation of k parts is k `place` calls into one y; its backward is k `take`
// calls (the gradient of a concatenation is the slices of the output gradient). The
// accumulating take sums the partial input gradients of layers that read the same
// concatenated input (the two columns' conv3, fc6, fc7, fc8 halves).
//
// Layout: x [outer, part], y [outer, total], part + offset <= total. Tiling: one
// invocation per element of x, elements of a row along the grid's x and rows along y
// (then z), so no index is divided. The sizes come from a uniform: three shaders serve
// every slice (on software adapters each distinct shader costs a compile at its first
// dispatch).

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import {
  ceilDiv,
  MAX_WORKGROUPS_PER_DIM,
  requireNonNegativeInt,
  requirePositiveInt,
  runtimeDims,
  storage,
} from "./_wgsl.ts";

/** Static parameters of a {@link Slice}: where a [outer, part] block sits in [outer, total]. */
export interface SliceParams {
  /** Rows: the batch N. */
  outer: number;
  /** Elements per row of the small tensor x (e.g. C*H*W of one part). */
  part: number;
  /** Elements per row of the big tensor y. */
  total: number;
  /** Where the part starts within a row of y. */
  offset: number;
  /** Threads per workgroup (default 256). */
  workgroupSize?: number;
}

/** The three data movements of a {@link Slice}. */
export type SliceOp = "place" | "take" | "takeAdd";

/**
 * Builds the WGSL of one slice movement, for any shape: outer, part, total and offset
 * are read from a uniform (binding 2) laid out as {@link sliceDims} packs it, so one
 * shader per movement serves every slice (pure; exported for tests).
 */
export function sliceWgsl(op: SliceOp, workgroupSize = 256): string {
  const dims = runtimeDims(2, { OUTER: 0, PART: 0, TOTAL: 0, OFFSET: 0 });
  const [from, to] = op === "place" ? ["x", "y"] : ["y", "x"];
  const line = {
    place: `y[o * TOTAL + OFFSET + i] = x[o * PART + i];`,
    take: `x[o * PART + i] = y[o * TOTAL + OFFSET + i];`,
    takeAdd: `x[o * PART + i] = x[o * PART + i] + y[o * TOTAL + OFFSET + i];`,
  }[op];
  return [
    ...dims.decls,
    storage(0, from, "array<f32>", "read"),
    storage(1, to, "array<f32>", "read_write"),
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    ...dims.lets,
    // Element i of row o: x along the grid's x, rows along y (and z past 65535 rows).
    `  let i = wid.x * ${workgroupSize}u + lid;`,
    `  let o = wid.z * ${MAX_WORKGROUPS_PER_DIM}u + wid.y;`,
    `  if (i >= PART || o >= OUTER) { return; }`,
    `  ${line}`,
    `}`,
  ].join("\n");
}

/** The contents of a slice shader's sizes uniform (see {@link sliceWgsl}). */
export function sliceDims(p: Required<SliceParams>): ArrayBuffer {
  return runtimeDims(2, { OUTER: p.outer, PART: p.part, TOTAL: p.total, OFFSET: p.offset })
    .bytes;
}

/**
 * Moves a [outer, part] block into or out of columns [offset, offset + part) of a
 * [outer, total] tensor: the building block of concatenation along axis 1.
 *
 * @example
 * ```ts ignore
 * // y [N, 256*13*13] = cat(a [N, 128*13*13], b [N, 128*13*13]) along channels
 * const inner = 128 * 13 * 13;
 * const first = await Slice.create(column, { outer: n, part: inner, total: 2 * inner, offset: 0 });
 * const second = await Slice.create(column, { outer: n, part: inner, total: 2 * inner, offset: inner });
 * const enc = new Encoder(column);
 * first.place(enc, { x: a, y });
 * second.place(enc, { x: b, y });
 * enc.submit();
 * ```
 */
export class Slice {
  /** The validated static parameters. */
  readonly params: Readonly<Required<SliceParams>>;
  #pipelines: Record<SliceOp, GPUComputePipeline>;
  #grid: [number, number, number];
  #sizes: GPUBuffer;

  private constructor(
    p: Required<SliceParams>,
    pipelines: Record<SliceOp, GPUComputePipeline>,
    sizes: GPUBuffer,
  ) {
    this.params = Object.freeze(p);
    this.#pipelines = pipelines;
    this.#sizes = sizes;
    const rows = MAX_WORKGROUPS_PER_DIM;
    this.#grid = [
      ceilDiv(p.part, p.workgroupSize),
      Math.min(p.outer, rows),
      ceilDiv(p.outer, rows),
    ];
  }

  /** Validates `params` and compiles (or fetches from the column's cache) the pipelines. */
  static async create(column: Column, params: SliceParams): Promise<Slice> {
    const k = "slice";
    const p: Required<SliceParams> = {
      outer: requirePositiveInt(k, "outer", params.outer),
      part: requirePositiveInt(k, "part", params.part),
      total: requirePositiveInt(k, "total", params.total),
      offset: requireNonNegativeInt(k, "offset", params.offset),
      workgroupSize: requirePositiveInt(k, "workgroupSize", params.workgroupSize ?? 256),
    };
    if (p.offset + p.part > p.total) {
      throw new RangeError(
        `${k}: offset + part must be at most total, got ${p.offset} + ${p.part} > ${p.total}`,
      );
    }
    if (ceilDiv(p.part, p.workgroupSize) > MAX_WORKGROUPS_PER_DIM) {
      throw new RangeError(
        `${k}: part must be at most ${MAX_WORKGROUPS_PER_DIM} workgroups of ` +
          `${p.workgroupSize} elements, got ${p.part}`,
      );
    }
    const ops: SliceOp[] = ["place", "take", "takeAdd"];
    const compiled = await Promise.all(
      ops.map((op) => column.pipeline(`slice.${op}`, sliceWgsl(op, p.workgroupSize))),
    );
    const sizes = column.uniformBuffer("slice sizes", sliceDims(p));
    return new Slice(
      p,
      Object.fromEntries(ops.map((op, i) => [op, compiled[i]])) as Record<
        SliceOp,
        GPUComputePipeline
      >,
      sizes,
    );
  }

  #check(name: string, x: Tensor, y: Tensor): void {
    const { outer, part, total } = this.params;
    for (const [param, t, n] of [["x", x, outer * part], ["y", y, outer * total]] as const) {
      if (t.size !== n || t.dtype !== "f32") {
        throw new RangeError(
          `slice.${name}: ${param} (${t.label}) must be f32 with ${n} elements, ` +
            `got ${t.dtype} with ${t.size}`,
        );
      }
    }
  }

  /** y[o, offset + i] = x[o, i]. Overwrites that slice of y only. */
  place(enc: Encoder, t: { x: Tensor; y: Tensor }): void {
    this.#check("place", t.x, t.y);
    enc.dispatch(this.#pipelines.place, [t.x, t.y, this.#sizes], this.#grid);
  }

  /** x[o, i] = y[o, offset + i], or += with `accumulate`. */
  take(enc: Encoder, t: { y: Tensor; x: Tensor; accumulate?: boolean }): void {
    this.#check("take", t.x, t.y);
    const op = t.accumulate ? "takeAdd" : "take";
    enc.dispatch(this.#pipelines[op], [t.y, t.x, this.#sizes], this.#grid);
  }
}
