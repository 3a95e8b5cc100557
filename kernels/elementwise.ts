// Elementwise ops over flat f32 tensors (one size per instance, one shader per op for all).
//
//   relu forward:   y = max(x, 0)                      (overwrites y)
//   relu backward:  dX = dY * (y > 0)                  (overwrites dX; uses the output y)
//   add:            dst += src                         (accumulates into dst)
//
// Layout: any (flat). Tiling: one invocation per element; the grid is folded into 2-D
// when it exceeds 65535 workgroups. One shader per op serves every size: the Encoder
// binds a tensor as exactly its elements and the shader reads the count from arrayLength
// (on software adapters every distinct shader costs a compile at its first dispatch).
// The ReLU mask is usually fused into the neighbouring GEMM/conv epilogue; these
// standalone kernels serve the places where it is not (and are the reference pattern
// for a kernel module).

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { ceilDiv, foldWorkgroups, requirePositiveInt, storage } from "./_wgsl.ts";

/** Static parameters of an elementwise op. */
export interface ElementwiseParams {
  /** Number of f32 elements. */
  size: number;
  /** Threads per workgroup (default 256). */
  workgroupSize?: number;
}

/** The elementwise operations. */
export type Expr = "relu" | "reluBackward" | "add";

const BODY: Record<
  Expr,
  { inputs: string[]; out: string; access: "write" | "accumulate"; expr: string }
> = {
  relu: { inputs: ["x"], out: "y", access: "write", expr: "max(x[i], 0.0)" },
  reluBackward: {
    inputs: ["y", "dY"],
    out: "dX",
    access: "write",
    expr: "select(0.0, dY[i], y[i] > 0.0)",
  },
  add: { inputs: ["src"], out: "dst", access: "accumulate", expr: "dst[i] + src[i]" },
};

/**
 * Builds the WGSL of one elementwise op, for any size: the element count is the bound
 * output's arrayLength (pure; exported for tests).
 */
export function elementwiseWgsl(op: Expr, workgroupSize = 256): string {
  const b = BODY[op];
  return [
    ...b.inputs.map((name, i) => storage(i, name, "array<f32>", "read")),
    storage(b.inputs.length, b.out, "array<f32>", "read_write"),
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,`,
    `        @builtin(local_invocation_index) lid: u32) {`,
    `  let i = (wid.y * nwg.x + wid.x) * ${workgroupSize}u + lid;`,
    `  if (i >= arrayLength(&${b.out})) { return; }`,
    `  ${b.out}[i] = ${b.expr};`,
    `}`,
  ].join("\n");
}

/**
 * ReLU forward/backward and in-place add for flat f32 tensors of one size.
 *
 * @example
 * ```ts ignore
 * const ew = await Elementwise.create(column, { size: 1024 });
 * const enc = new Encoder(column);
 * ew.reluBackward(enc, { y, dY, dX });
 * enc.submit();
 * ```
 */
export class Elementwise {
  /** The static size. */
  readonly size: number;
  #pipelines: Record<Expr, GPUComputePipeline>;
  #grid: [number, number];

  private constructor(size: number, pipelines: Record<Expr, GPUComputePipeline>, wg: number) {
    this.size = size;
    this.#pipelines = pipelines;
    this.#grid = foldWorkgroups(ceilDiv(size, wg));
  }

  /** Compiles (or fetches from the column's cache) the pipelines for `params`. */
  static async create(column: Column, params: ElementwiseParams): Promise<Elementwise> {
    const size = requirePositiveInt("elementwise", "size", params.size);
    const wg = requirePositiveInt("elementwise", "workgroupSize", params.workgroupSize ?? 256);
    const names: Expr[] = ["relu", "reluBackward", "add"];
    const compiled = await Promise.all(
      names.map((n) => column.pipeline(`elementwise.${n}`, elementwiseWgsl(n, wg))),
    );
    return new Elementwise(
      size,
      Object.fromEntries(names.map((n, i) => [n, compiled[i]])) as Record<Expr, GPUComputePipeline>,
      wg,
    );
  }

  #check(name: string, tensors: Record<string, Tensor>): void {
    for (const [param, t] of Object.entries(tensors)) {
      if (t.size !== this.size || t.dtype !== "f32") {
        throw new RangeError(
          `elementwise.${name}: ${param} (${t.label}) must be f32 with ${this.size} elements, ` +
            `got ${t.dtype} with ${t.size}`,
        );
      }
    }
  }

  /** y = max(x, 0). Overwrites y. */
  relu(enc: Encoder, t: { x: Tensor; y: Tensor }): void {
    this.#check("relu", t);
    enc.dispatch(this.#pipelines.relu, [t.x, t.y], this.#grid);
  }

  /** dX = dY where y > 0, else 0. Overwrites dX. */
  reluBackward(enc: Encoder, t: { y: Tensor; dY: Tensor; dX: Tensor }): void {
    this.#check("reluBackward", t);
    enc.dispatch(this.#pipelines.reluBackward, [t.y, t.dY, t.dX], this.#grid);
  }

  /** dst += src. Accumulates into dst. */
  add(enc: Encoder, t: { src: Tensor; dst: Tensor }): void {
    this.#check("add", t);
    enc.dispatch(this.#pipelines.add, [t.src, t.dst], this.#grid);
  }
}
