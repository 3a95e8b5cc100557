// Fully-connected layer on the GEMM core.
//
//   forward:  y[B, out] = relu?( x[B, in] · w[out, in]^T + b[out] )
//   backward: g = dY * (y > 0) when relu, else dY        (mask applied inside the reads)
//             dX[B, in]  = g · w                          (GEMM M=B, N=in, K=out)
//             dW[out, in] = g^T · x,  db[out] = sum_B g   (one GEMM M=out, N=in+1, K=B:
//                                                          column `in` of x reads as 1.0,
//                                                          so its output is the bias grad)
// Gradients overwrite dX, dW, db. Weight layout is PyTorch's [out, in].
//
// A weight larger than one storage binding (torchvision's fc6 is 151 MB; a software
// adapter binds 128 MiB) is processed in blocks of output rows, each bound as a byte
// range of w, b, dW and db: the forward writes each block's columns of y, the weight
// gradients are per block, and dX sums the blocks' contributions (the first overwrites,
// the rest accumulate).

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import type { Binding } from "./encoder.ts";
import { chunks, constants, requirePositiveInt, storage } from "./_wgsl.ts";
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
import {
  Gemm,
  gemmWgsl,
  matrixAddress,
  matrixOperand,
  type MatrixWindow,
  type Size,
} from "./gemm.ts";

/** Static parameters of a {@link Linear} layer. */
export interface LinearParams {
  /** Rows of x (batch size). */
  batch: number;
  /** Input features. */
  inFeatures: number;
  /** Output features. */
  outFeatures: number;
  /** Fuse ReLU into the forward write and the backward reads. */
  relu?: boolean;
  /**
   * Tile shape; default from column.profile, and on the software profile a 4x4 block for
   * a layer of at most {@link SMALL_LINEAR_MACS} multiply-adds per direction.
   */
  tile?: Partial<GemmTile>;
  /**
   * Largest storage binding in bytes (default: the column's maxStorageBufferBindingSize);
   * a larger weight is processed in blocks of output rows.
   */
  maxBindingBytes?: number;
}

/**
 * Multiply-adds per direction (batch x in x out) up to which a Linear on the software
 * profile defaults to 4x4 register blocks instead of 8x8. lavapipe compiles a pipeline at
 * its first dispatch, in time that grows faster than the block: tiny's three fc layers
 * compiled in 19 s with 8x8 blocks and 3.2 s with 4x4, while their step time rose by about
 * 2 ms of 125 (measured on 2 shared cores). At this size a layer's three products take a
 * few milliseconds either way; the paper's fc layers (hundreds of millions) keep 8x8.
 *
 * @example
 * ```ts
 * import { SMALL_LINEAR_MACS } from "./linear.ts";
 * const tiny = 32 * 288 * 64; // tiny's fc6 on one column at batch 32
 * console.log(tiny <= SMALL_LINEAR_MACS); // true
 * ```
 */
export const SMALL_LINEAR_MACS: number = 1 << 22;

/** A block of output rows of a chunked layer (see the file header). */
export interface LinearBlock {
  /** First output row. */
  offset: number;
  /** Rows in the block. */
  rows: number;
}

/**
 * dY [B, OUT] read as A (rows = batch, or rows = features when `transposed`), masked by
 * y > 0 at the same address when `relu`.
 */
function gradOperand(
  extent: Size,
  K: Size,
  transposed: boolean,
  relu: boolean,
  window?: MatrixWindow,
): GemmOperand {
  const m = matrixAddress("dY", "a", extent, K, transposed, window);
  return {
    line: m.line,
    read: (s, k) =>
      relu ? `select(0.0, dY[${m.at(s, k)}], y[${m.at(s, k)}] > 0.0)` : `dY[${m.at(s, k)}]`,
  };
}

/**
 * WGSL of dX = g · w (pure; exported for tests); for a `block` of output rows, that
 * block's contribution, accumulated into dX unless it is the first.
 */
export function linearBackwardDataWgsl(
  p: LinearParams & { tile: GemmTile; block?: LinearBlock },
): string {
  return gemmCoreWgsl(backwardDataSpec(p));
}

// Without a block the sizes are read at run time (a uniform after the tensors), so layers
// that differ only in sizes share one shader; a block compiles them in.
function backwardDataSpec(p: LinearParams & { tile: GemmTile; block?: LinearBlock }): GemmSpec {
  const { batch: B, inFeatures: IN, outFeatures: OUT, block } = p;
  const rows = block?.rows ?? OUT;
  const add = block !== undefined && block.offset > 0;
  const window = block ? { ld: OUT, offset: block.offset } : undefined;
  const [b, k, n] = block ? [B, rows, IN] : ["GM", "KI", "GN"];
  return {
    M: B,
    N: IN,
    KO: 1,
    KI: rows,
    decls: [
      storage(0, "w", "array<f32>", "read"),
      storage(1, "dY", "array<f32>", "read"),
      storage(2, "dX", "array<f32>", "read_write"),
      ...(p.relu ? [storage(3, "y", "array<f32>", "read")] : []),
    ],
    a: gradOperand(b, k, false, !!p.relu, window),
    b: matrixOperand("w", "b", n, k, false),
    write: (row, col, v) => {
      const at = `${row} * GN + ${col}`;
      return [`dX[${at}] = ${add ? `dX[${at}] + ` : ""}${v};`];
    },
    tile: p.tile,
    ...(block ? {} : { runtimeDims: { binding: p.relu ? 4 : 3, extra: {} } }),
  };
}

/**
 * WGSL of dW = g^T · x with db in the extra column (pure; exported for tests); for a
 * `block`, that block's rows of dW and db (bound as ranges).
 */
export function linearBackwardWeightsWgsl(
  p: LinearParams & { tile: GemmTile; block?: LinearBlock },
): string {
  return gemmCoreWgsl(backwardWeightsSpec(p));
}

function backwardWeightsSpec(
  p: LinearParams & { tile: GemmTile; block?: LinearBlock },
): GemmSpec {
  const { batch: B, inFeatures: IN, outFeatures: OUT, block } = p;
  const rows = block?.rows ?? OUT;
  const window = block ? { ld: OUT, offset: block.offset } : undefined;
  const ones: GemmOperand = {
    line: (s, index) => [
      `let xC${s} = min(${index}, IN - 1u);`,
      `let xOne${s} = ${index} >= IN;`,
    ],
    read: (s, k) => `select(x[${k} * IN + xC${s}], 1.0, xOne${s})`,
  };
  const [r, b] = block ? [rows, B] : ["GM", "KI"];
  return {
    M: rows,
    N: IN + 1,
    KO: 1,
    KI: B,
    decls: [
      ...(block ? [constants({ IN })] : []),
      storage(0, "x", "array<f32>", "read"),
      storage(1, "dY", "array<f32>", "read"),
      storage(2, "dW", "array<f32>", "read_write"),
      storage(3, "db", "array<f32>", "read_write"),
      ...(p.relu ? [storage(4, "y", "array<f32>", "read")] : []),
    ],
    a: gradOperand(r, b, true, !!p.relu, window),
    b: ones,
    write: (row, col, v) => [
      `if (${col} == IN) { db[${row}] = ${v}; } else { dW[${row} * IN + ${col}] = ${v}; }`,
    ],
    tile: p.tile,
    ...(block ? {} : { runtimeDims: { binding: p.relu ? 5 : 4, extra: { IN } } }),
  };
}

// One block's pipelines.
type LinearPipelines = { forward: GemmPipeline; data: GemmPipeline; weights: GemmPipeline };

/**
 * A fully-connected layer with fused bias, ReLU and ReLU-masked gradients.
 *
 * @example
 * ```ts ignore
 * const fc = await Linear.create(column, { batch: 16, inFeatures: 4096, outFeatures: 2048, relu: true });
 * const enc = new Encoder(column);
 * fc.forward(enc, { x, w, b, y });
 * fc.backward(enc, { x, w, y, dY, dX, dW, db });
 * enc.submit();
 * ```
 */
export class Linear {
  /** The static parameters (tile resolved per direction). */
  readonly params: Readonly<LinearParams>;
  /** Blocks of output rows when the weight is over a binding (one block otherwise). */
  readonly blocks: readonly LinearBlock[];
  #forward: Gemm | null;
  #blocks: LinearPipelines[];

  private constructor(
    params: LinearParams,
    blocks: LinearBlock[],
    forward: Gemm | null,
    pipelines: LinearPipelines[],
  ) {
    this.params = params;
    this.blocks = blocks;
    this.#forward = forward;
    this.#blocks = pipelines;
  }

  /** Validates `params` and compiles (or fetches from the column's cache) the pipelines. */
  static async create(column: Column, params: LinearParams): Promise<Linear> {
    const B = requirePositiveInt("linear", "batch", params.batch);
    const IN = requirePositiveInt("linear", "inFeatures", params.inFeatures);
    const OUT = requirePositiveInt("linear", "outFeatures", params.outFeatures);
    const maxBytes = requirePositiveInt(
      "linear",
      "maxBindingBytes",
      params.maxBindingBytes ?? column.limits.maxStorageBufferBindingSize,
    );
    const small = column.profile === "software" && B * IN * OUT <= SMALL_LINEAR_MACS;
    const tile = {
      ...DEFAULT_TILES[column.profile],
      ...(small ? { tm: 4, tn: 4 } : {}),
      ...params.tile,
    };
    const blocks = linearBlocks(
      OUT,
      IN,
      maxBytes,
      column.limits.minStorageBufferOffsetAlignment,
    );
    const whole = blocks.length === 1;
    const forward = whole
      ? await Gemm.create(column, {
        M: B,
        N: OUT,
        K: IN,
        transB: true,
        bias: true,
        relu: params.relu,
        tile,
      })
      : null;
    const pipelines = await Promise.all(blocks.map(async (block) => {
      const rows = block.rows;
      const at = whole ? {} : { block };
      const forwardTile = fitTile("linear", tile, rows, B);
      const dataTile = fitTile("linear", tile, IN, B);
      const weightsTile = fitTile("linear", tile, IN + 1, rows);
      const dataSpec = backwardDataSpec({ ...params, tile: dataTile, ...at });
      const weightsSpec = backwardWeightsSpec({ ...params, tile: weightsTile, ...at });
      const [f, data, weights] = await Promise.all([
        whole ? null : column.pipeline(
          "linear.forward",
          gemmWgsl({
            M: B,
            N: rows,
            K: IN,
            transB: true,
            bias: true,
            relu: params.relu,
            cWindow: { ld: OUT, offset: block.offset },
            tile: forwardTile,
          }),
        ),
        gemmPipeline(column, "linear.backwardData", dataSpec, gemmGrid(B, IN, 1, dataTile)),
        gemmPipeline(
          column,
          "linear.backwardWeights",
          weightsSpec,
          gemmGrid(rows, IN + 1, 1, weightsTile),
        ),
      ]);
      return { forward: { pipeline: f!, grid: gemmGrid(B, rows, 1, forwardTile) }, data, weights };
    }));
    return new Linear({ ...params }, blocks, forward, pipelines);
  }

  /** Block `i`'s rows of a [OUT, ...] tensor with `row` elements per output row, as a binding. */
  #range(t: Tensor, i: number, row: number): Binding {
    if (this.blocks.length === 1) return t;
    const { offset, rows } = this.blocks[i];
    return { tensor: t, offset: offset * row * 4, size: rows * row * 4 };
  }

  /** y = relu?(x · w^T + b). Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; w: Tensor; b: Tensor; y: Tensor }): void {
    const { batch: B, inFeatures: IN, outFeatures: OUT } = this.params;
    t.x.expectShape("linear.forward", "x", [B, IN]);
    t.w.expectShape("linear.forward", "w", [OUT, IN]);
    t.b.expectShape("linear.forward", "b", [OUT]);
    t.y.expectShape("linear.forward", "y", [B, OUT]);
    if (this.#forward) {
      this.#forward.run(enc, { a: t.x, b: t.w, c: t.y, bias: t.b });
      return;
    }
    for (const [i, p] of this.#blocks.entries()) {
      const bindings = [t.x, this.#range(t.w, i, IN), t.y, this.#range(t.b, i, 1)];
      enc.dispatch(p.forward.pipeline, bindings, p.forward.grid);
    }
  }

  /**
   * Overwrites dW, db and (if given) dX from dY; with relu, `y` (the forward output)
   * masks dY inside the reads.
   */
  backward(
    enc: Encoder,
    t: { x: Tensor; w: Tensor; y?: Tensor; dY: Tensor; dX?: Tensor; dW: Tensor; db: Tensor },
  ): void {
    const { batch: B, inFeatures: IN, outFeatures: OUT, relu } = this.params;
    const k = "linear.backward";
    t.x.expectShape(k, "x", [B, IN]);
    t.w.expectShape(k, "w", [OUT, IN]);
    t.dY.expectShape(k, "dY", [B, OUT]);
    t.dW.expectShape(k, "dW", [OUT, IN]);
    t.db.expectShape(k, "db", [OUT]);
    const mask: Tensor[] = [];
    if (relu) {
      if (!t.y) throw new RangeError(`${k}: y (the forward output) is required when relu is set`);
      mask.push(t.y.expectShape(k, "y", [B, OUT]));
    }
    for (const [i, p] of this.#blocks.entries()) {
      if (t.dX) {
        t.dX.expectShape(k, "dX", [B, IN]);
        dispatchGemm(enc, p.data, [this.#range(t.w, i, IN), t.dY, t.dX, ...mask]);
      }
      const bindings = [t.x, t.dY, this.#range(t.dW, i, IN), this.#range(t.db, i, 1), ...mask];
      dispatchGemm(enc, p.weights, bindings);
    }
  }
}

/**
 * Blocks of output rows for a [out, in] weight under a binding limit: one block when it
 * fits; otherwise the most rows per block whose weight and bias ranges both start at
 * multiples of the offset `alignment`.
 *
 * @example
 * ```ts
 * import { linearBlocks } from "./linear.ts";
 * // torchvision's fc6 under a 128 MiB binding: 3584 rows, then 512.
 * const b = linearBlocks(4096, 9216, 2 ** 27, 256);
 * console.assert(b.length === 2 && b[0].rows === 3584 && b[1].offset === 3584);
 * ```
 */
export function linearBlocks(
  out: number,
  inFeatures: number,
  maxBytes: number,
  alignment: number,
): LinearBlock[] {
  if (out * inFeatures * 4 <= maxBytes) return [{ offset: 0, rows: out }];
  // rows * in * 4 and rows * 4 must be multiples of the alignment.
  const gcd = (a: number, b: number): number => b === 0 ? a : gcd(b, a % b);
  const forBias = alignment / gcd(alignment, 4);
  const forWeight = alignment / gcd(alignment, inFeatures * 4);
  const step = forBias * forWeight / gcd(forBias, forWeight);
  const rows = Math.floor(maxBytes / (inFeatures * 4) / step) * step;
  if (rows < 1) {
    throw new RangeError(
      `linear: one block of ${step} output rows of ${inFeatures} inputs is over the ` +
        `${maxBytes}-byte binding limit`,
    );
  }
  return chunks(out, rows).map(([offset, n]) => ({ offset, rows: n }));
}
