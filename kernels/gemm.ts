// General matrix product on the GEMM core.
//
//   C[M, N] (+)= relu?( op(A) · op(B) + bias[N] )
//
// Layouts (row-major f32): A is [M, K], or [K, M] when transA; B is [K, N], or [N, K]
// when transB; bias is [N]; C is [M, N]. Overwrites C unless `accumulate`, in which case
// the (biased, rectified) product is added to C. Tiling: see kernels/_gemm_core.ts; the
// default tile follows column.profile.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { constants, requirePositiveInt, storage } from "./_wgsl.ts";
import {
  DEFAULT_TILES,
  dispatchGemm,
  fitTile,
  gemmCoreWgsl,
  gemmGrid,
  type GemmOperand,
  type GemmPipeline,
  gemmPipeline,
  type GemmSpec,
  type GemmTile,
} from "./_gemm_core.ts";

export { DEFAULT_TILES, type GemmOperand, type GemmTile } from "./_gemm_core.ts";

/** Static parameters of a {@link Gemm}. */
export interface GemmParams {
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Reduction length. */
  K: number;
  /** A is stored [K, M]. */
  transA?: boolean;
  /** B is stored [N, K]. */
  transB?: boolean;
  /** Add bias[N] to every row. */
  bias?: boolean;
  /** Apply ReLU after the bias. */
  relu?: boolean;
  /** C += result instead of C = result. */
  accumulate?: boolean;
  /** C is a column block of a wider row-major matrix (default: C is [M, N] itself). */
  cWindow?: MatrixWindow;
  /** Tile shape; default from column.profile. */
  tile?: Partial<GemmTile>;
}

/**
 * Address arithmetic of a row-major matrix read as A[m, k] (role "a", extent M) or
 * B[k, n] (role "b", extent N); `transposed` means stored [K, M] / [N, K].
 */
export interface MatrixAddress {
  /** Per-slot statements (clamp the line index). */
  line(slot: string, index: string): string[];
  /** u32 element offset of (slot's line, k). */
  at(slot: string, k: string): string;
}

/**
 * Where a matrix sits inside a larger row-major one: `ld` elements per stored row
 * (default: the matrix's own row length) and `offset` elements before its first one
 * (default 0) — e.g. a column block of an [M, OUT] matrix.
 */
export interface MatrixWindow {
  /** Elements per stored row. */
  ld?: number;
  /** Elements before the first one. */
  offset?: number;
}

/** A u32 size in WGSL: a number (compiled in) or the name of a run-time size. */
export type Size = number | string;

const u32 = (v: Size) => typeof v === "number" ? `${v}u` : v;

/**
 * See {@link MatrixAddress}; `prefix` names the per-slot variables. `extent`, `K` and a
 * window's `ld` may name run-time sizes (e.g. "GM", "KI") instead of numbers.
 */
export function matrixAddress(
  prefix: string,
  role: "a" | "b",
  extent: Size,
  K: Size,
  transposed: boolean,
  window: MatrixWindow = {},
): MatrixAddress {
  // A [M,K] / B^T [N,K]: the line index strides by K; A^T [K,M] / B [K,N]: k strides.
  const lineMajor = (role === "a") !== transposed;
  const ld = u32(window.ld ?? (lineMajor ? K : extent));
  const last = typeof extent === "number" ? `${extent - 1}u` : `${extent} - 1u`;
  const off = window.offset ? ` + ${window.offset}u` : "";
  return {
    line: (s, index) => [
      `let ${prefix}L${s} = min(${index}, ${last})${lineMajor ? ` * ${ld}` : ""}${off};`,
    ],
    at: (s, k) => lineMajor ? `${prefix}L${s} + ${k}` : `${k} * ${ld} + ${prefix}L${s}`,
  };
}

/** Operand reading the row-major matrix bound as `name` (see {@link matrixAddress}). */
export function matrixOperand(
  name: string,
  role: "a" | "b",
  extent: Size,
  K: Size,
  transposed: boolean,
): GemmOperand {
  const m = matrixAddress(name, role, extent, K, transposed);
  return { line: m.line, read: (s, k) => `${name}[${m.at(s, k)}]` };
}

/**
 * The GEMM core spec of a plain GEMM. Without a `cWindow` the sizes are read at run time
 * (a uniform at the binding after the tensors), so GEMMs that differ only in M, N or K
 * share one shader; a windowed C (blocks of a layer too large for one binding) compiles
 * them in.
 */
function gemmSpec(p: GemmParams & { tile: GemmTile }): GemmSpec {
  const decls = [
    storage(0, "A", "array<f32>", "read"),
    storage(1, "B", "array<f32>", "read"),
    storage(2, "C", "array<f32>", "read_write"),
  ];
  if (p.bias) decls.push(storage(3, "bias", "array<f32>", "read"));
  decls.push(constants({ RELU: p.relu ? 1 : 0 }));
  const runtime = p.cWindow === undefined;
  const [M, N, K] = runtime ? ["GM", "GN", "KI"] : [p.M, p.N, p.K];
  return {
    M: p.M,
    N: p.N,
    KO: 1,
    KI: p.K,
    decls,
    a: matrixOperand("A", "a", M, K, !!p.transA),
    b: matrixOperand("B", "b", N, K, !!p.transB),
    tile: p.tile,
    write: (row, col, v) => {
      let e = p.bias ? `${v} + bias[${col}]` : v;
      if (p.relu) e = `max(${e}, 0.0)`;
      const w = p.cWindow;
      const at = w?.ld === undefined
        ? `${row} * GN + ${col}`
        : `${row} * ${w.ld}u + ${col}${w.offset ? ` + ${w.offset}u` : ""}`;
      return [`C[${at}] = ${p.accumulate ? `C[${at}] + ` : ""}${e};`];
    },
    ...(runtime ? { runtimeDims: { binding: p.bias ? 4 : 3, extra: {} } } : {}),
  };
}

/** Builds the WGSL of a plain GEMM (pure; exported for tests). */
export function gemmWgsl(p: GemmParams & { tile: GemmTile }): string {
  return gemmCoreWgsl(gemmSpec(p));
}

/**
 * A compiled GEMM for static shapes.
 *
 * @example
 * ```ts ignore
 * const gemm = await Gemm.create(column, { M: 64, N: 32, K: 16, bias: true, relu: true });
 * const enc = new Encoder(column);
 * gemm.run(enc, { a, b, c, bias });
 * enc.submit();
 * ```
 */
export class Gemm {
  /** The static parameters (tile resolved). */
  readonly params: Readonly<GemmParams & { tile: GemmTile }>;
  #pipeline: GemmPipeline;

  private constructor(params: GemmParams & { tile: GemmTile }, pipeline: GemmPipeline) {
    this.params = params;
    this.#pipeline = pipeline;
  }

  /** Validates `params` and compiles (or fetches from the column's cache) the pipeline. */
  static async create(column: Column, params: GemmParams): Promise<Gemm> {
    const M = requirePositiveInt("gemm", "M", params.M);
    const N = requirePositiveInt("gemm", "N", params.N);
    requirePositiveInt("gemm", "K", params.K);
    const tile = fitTile("gemm", { ...DEFAULT_TILES[column.profile], ...params.tile }, N, M);
    const p = { ...params, tile };
    const grid = gemmGrid(M, N, 1, tile);
    return new Gemm(p, await gemmPipeline(column, "gemm", gemmSpec(p), grid));
  }

  /** Records C (+)= relu?(op(A)·op(B) + bias). */
  run(enc: Encoder, t: { a: Tensor; b: Tensor; c: Tensor; bias?: Tensor }): void {
    const { M, N, K, transA, transB } = this.params;
    t.a.expectShape("gemm", "a", transA ? [K, M] : [M, K]);
    t.b.expectShape("gemm", "b", transB ? [N, K] : [K, N]);
    if (this.params.cWindow?.ld === undefined) t.c.expectShape("gemm", "c", [M, N]);
    const bindings = [t.a, t.b, t.c];
    if (this.params.bias) {
      if (!t.bias) throw new RangeError("gemm: bias tensor required (created with bias: true)");
      bindings.push(t.bias.expectShape("gemm", "bias", [N]));
    }
    dispatchGemm(enc, this.#pipeline, bindings);
  }
}
