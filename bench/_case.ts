// The contract between kernel modules and the benchmark runner: each
// `bench/cases/<op>.ts` exports `cases: KernelBenchCase[]` at the paper's layer shapes.

import type { Column } from "../kernels/columns.ts";
import type { Encoder } from "../kernels/encoder.ts";

/** A prepared benchmark: records one run, checks its output, frees its tensors. */
export interface PreparedCase {
  /** Records one execution of the kernel(s) into `enc` (the runner submits and awaits). */
  run(enc: Encoder): void;
  /**
   * Runs once and compares the result with a CPU reference (or a cheap invariant for
   * shapes too large for the CPU reference); throws on mismatch. Called before timing.
   */
  validate(): Promise<void>;
  /** Releases tensors. */
  dispose(): void;
}

/** One kernel at one shape. */
export interface KernelBenchCase {
  /** Row name, e.g. "conv2 forward" (the layer and the direction). */
  name: string;
  /** The op, e.g. "conv2d.forward", "maxpool.backward". */
  op: string;
  /** Human-readable shape, e.g. "N=4 48x27x27 -> 128x27x27 k5 p2". */
  shape: string;
  /**
   * The shape as numbers, read by the peer matcher in preference to parsing `shape`.
   * Keys by family: conv2d `n c h w k kh kw stride pad groups`; maxpool `n c h w size
   * stride`; lrn `n c h w size`; gemm/linear `m k n` (+ `relu` 0/1); relu backward and
   * dropout `size`; softmaxXent `n classes`; sgd `size`.
   */
  dims?: Record<string, number>;
  /** Floating-point operations per run (conv/GEMM: 2*MACs), for GFLOP/s. */
  flops?: number;
  /** Bytes read + written per run (pool, LRN, elementwise), for GB/s. */
  bytes?: number;
  /** Builds tensors and pipelines on `column`. */
  prepare(column: Column): Promise<PreparedCase>;
}
