// Counts the non-finite values (NaN, +Inf, -Inf) of f32 tensors: the cheap check a
// trainer runs over every parameter before it evaluates or writes a checkpoint, since
// weights can go NaN while the loss stays finite.
//
//   counts[slot] += #{ i : x[i] is NaN or ±Inf }        (accumulates; clear it first)
//
// A value is non-finite when all eight exponent bits are set; the test is done on the
// bits (bitcast to u32) because compilers may fold `x != x` away under fast-math.
// Layout: flat. Tiling: a fixed grid of GRID workgroups strides over the tensor, so one
// pipeline serves every size (the size is a per-call uniform); each invocation counts
// in a register and adds to the slot's atomic counter once. Tensors larger than the
// column's maxStorageBufferBindingSize are bound in aligned chunks.

import type { Column } from "./columns.ts";
import { Encoder } from "./encoder.ts";
import { Tensor } from "./tensor.ts";
import { CallUniforms } from "./_call_uniforms.ts";
import {
  chunkElements,
  chunks,
  constants,
  requirePositiveInt,
  storage,
  uniform,
  type UniformLayout,
  uniformLayout,
} from "./_wgsl.ts";

/** The per-call uniforms: the chunk's element count and the counter slot it adds to. */
export const FINITE_UNIFORMS: UniformLayout<{ size: "u32"; slot: "u32" }> = uniformLayout(
  "FiniteUniforms",
  { size: "u32", slot: "u32" },
);

/** Builds the counting WGSL (pure; exported for tests). */
export function nonFiniteWgsl(workgroupSize = 256, grid = 64): string {
  return [
    constants({ THREADS: workgroupSize * grid }),
    FINITE_UNIFORMS.wgsl,
    storage(0, "x", "array<u32>", "read"),
    storage(1, "counts", "array<atomic<u32>>", "read_write"),
    uniform(2, "u", FINITE_UNIFORMS),
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(global_invocation_id) gid: vec3u) {`,
    `  var n = 0u;`,
    `  for (var i = gid.x; i < u.size; i += THREADS) {`,
    `    n += select(0u, 1u, (x[i] & 0x7f800000u) == 0x7f800000u);`,
    `  }`,
    `  if (n > 0u) { atomicAdd(&counts[u.slot], n); }`,
    `}`,
  ].join("\n");
}

/** Static parameters of {@link NonFinite}. */
export interface NonFiniteParams {
  /** Threads per workgroup (default 256). */
  workgroupSize?: number;
  /** Workgroups of the grid-stride loop (default 64). */
  grid?: number;
  /** Largest bytes bound at once (default: the column's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
}

/**
 * Counts NaN and infinite values in f32 tensors on one column.
 *
 * @example
 * ```ts ignore
 * const check = await NonFinite.create(column);
 * const counts = await check.count([weights, bias]); // e.g. [0, 0]
 * ```
 */
export class NonFinite {
  /** The column it runs on. */
  readonly column: Column;
  #pipeline: GPUComputePipeline;
  #uniforms: CallUniforms<typeof FINITE_UNIFORMS.fields>;
  #grid: number;
  #maxElems: number;

  private constructor(
    column: Column,
    pipeline: GPUComputePipeline,
    grid: number,
    maxElems: number,
  ) {
    this.column = column;
    this.#pipeline = pipeline;
    this.#grid = grid;
    this.#maxElems = maxElems;
    this.#uniforms = new CallUniforms(column, FINITE_UNIFORMS, "nonFinite");
  }

  /** Compiles (or fetches from the column's cache) the one pipeline. */
  static async create(
    column: Column,
    params: NonFiniteParams = {},
  ): Promise<NonFinite> {
    const wg = requirePositiveInt("nonFinite", "workgroupSize", params.workgroupSize ?? 256);
    const grid = requirePositiveInt("nonFinite", "grid", params.grid ?? 64);
    const maxBytes = requirePositiveInt(
      "nonFinite",
      "maxBindingBytes",
      params.maxBindingBytes ?? column.limits.maxStorageBufferBindingSize,
    );
    const maxElems = chunkElements(
      "nonFinite",
      maxBytes,
      column.limits.minStorageBufferOffsetAlignment,
    );
    const pipeline = await column.pipeline("nonFinite", nonFiniteWgsl(wg, grid));
    return new NonFinite(column, pipeline, grid, maxElems);
  }

  /** Records `counts[i] += non-finite values of tensors[i]`; `counts` is u32 [tensors.length]. */
  record(enc: Encoder, tensors: readonly Tensor[], counts: Tensor<"u32">): void {
    if (counts.dtype !== "u32" || counts.size < tensors.length) {
      throw new RangeError(
        `nonFinite: counts (${counts.label}) must be u32 with >= ${tensors.length} elements`,
      );
    }
    tensors.forEach((t, slot) => {
      if (t.dtype !== "f32") {
        throw new RangeError(`nonFinite: ${t.label} must be f32, got ${t.dtype}`);
      }
      for (const [off, n] of chunks(t.size, this.#maxElems)) {
        const x = n === t.size ? t : { tensor: t, offset: off * 4, size: n * 4 };
        const u = this.#uniforms.write(enc, { size: n, slot });
        enc.dispatch(this.#pipeline, [x, counts, u], [this.#grid]);
      }
    });
  }

  /** The number of non-finite values in each tensor (all on this column). */
  async count(tensors: readonly Tensor[]): Promise<number[]> {
    if (tensors.length === 0) return [];
    using counts = Tensor.zeros(this.column, [tensors.length], "nonFinite.counts", "u32");
    const enc = new Encoder(this.column, "nonFinite");
    this.record(enc, tensors, counts);
    enc.submit();
    return Array.from(await counts.read());
  }
}
