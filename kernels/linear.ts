// Fully-connected layer on the GEMM core.
//
//   forward:  y[B, out] = relu?( x[B, in] · w[out, in]^T + b[out] )
//   backward: g = dY * (y > 0) when relu, else dY        (mask applied inside the reads)
//             dX[B, in]  = g · w                          (GEMM M=B, N=in, K=out)
//             dW[out, in] = g^T · x,  db[out] = sum_B g   (one GEMM M=out, N=in+1, K=B:
//                                                          column `in` of x reads as 1.0,
//                                                          so its output is the bias grad)
// Gradients overwrite dX, dW, db. Weight layout is PyTorch's [out, in].

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { constants, requirePositiveInt, storage } from "./_wgsl.ts";
import {
  DEFAULT_TILES,
  fitTile,
  gemmCoreWgsl,
  gemmGrid,
  type GemmOperand,
  type GemmPipeline,
  type GemmTile,
} from "./_gemm_core.ts";
import { Gemm, matrixAddress, matrixOperand } from "./gemm.ts";

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
  /** Tile shape; default from column.profile. */
  tile?: Partial<GemmTile>;
}

/**
 * dY [B, OUT] read as A (rows = batch, or rows = features when `transposed`), masked by
 * y > 0 at the same address when `relu`.
 */
function gradOperand(extent: number, K: number, transposed: boolean, relu: boolean): GemmOperand {
  const m = matrixAddress("dY", "a", extent, K, transposed);
  return {
    line: m.line,
    read: (s, k) =>
      relu ? `select(0.0, dY[${m.at(s, k)}], y[${m.at(s, k)}] > 0.0)` : `dY[${m.at(s, k)}]`,
  };
}

/** WGSL of dX = g · w (pure; exported for tests). */
export function linearBackwardDataWgsl(p: LinearParams & { tile: GemmTile }): string {
  const { batch: B, inFeatures: IN, outFeatures: OUT } = p;
  return gemmCoreWgsl({
    M: B,
    N: IN,
    KO: 1,
    KI: OUT,
    decls: [
      storage(0, "w", "array<f32>", "read"),
      storage(1, "dY", "array<f32>", "read"),
      storage(2, "dX", "array<f32>", "read_write"),
      ...(p.relu ? [storage(3, "y", "array<f32>", "read")] : []),
    ],
    a: gradOperand(B, OUT, false, !!p.relu),
    b: matrixOperand("w", "b", IN, OUT, false),
    write: (row, col, v) => [`dX[${row} * GN + ${col}] = ${v};`],
    tile: p.tile,
  });
}

/** WGSL of dW = g^T · x with db in the extra column (pure; exported for tests). */
export function linearBackwardWeightsWgsl(p: LinearParams & { tile: GemmTile }): string {
  const { batch: B, inFeatures: IN, outFeatures: OUT } = p;
  const ones: GemmOperand = {
    line: (s, index) => [
      `let xC${s} = min(${index}, IN - 1u);`,
      `let xOne${s} = ${index} >= IN;`,
    ],
    read: (s, k) => `select(x[${k} * IN + xC${s}], 1.0, xOne${s})`,
  };
  return gemmCoreWgsl({
    M: OUT,
    N: IN + 1,
    KO: 1,
    KI: B,
    decls: [
      constants({ IN }),
      storage(0, "x", "array<f32>", "read"),
      storage(1, "dY", "array<f32>", "read"),
      storage(2, "dW", "array<f32>", "read_write"),
      storage(3, "db", "array<f32>", "read_write"),
      ...(p.relu ? [storage(4, "y", "array<f32>", "read")] : []),
    ],
    a: gradOperand(OUT, B, true, !!p.relu),
    b: ones,
    write: (row, col, v) => [
      `if (${col} == IN) { db[${row}] = ${v}; } else { dW[${row} * IN + ${col}] = ${v}; }`,
    ],
    tile: p.tile,
  });
}

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
  #forward: Gemm;
  #data: GemmPipeline;
  #weights: GemmPipeline;

  private constructor(
    params: LinearParams,
    forward: Gemm,
    data: GemmPipeline,
    weights: GemmPipeline,
  ) {
    this.params = params;
    this.#forward = forward;
    this.#data = data;
    this.#weights = weights;
  }

  /** Validates `params` and compiles (or fetches from the column's cache) the pipelines. */
  static async create(column: Column, params: LinearParams): Promise<Linear> {
    const B = requirePositiveInt("linear", "batch", params.batch);
    const IN = requirePositiveInt("linear", "inFeatures", params.inFeatures);
    const OUT = requirePositiveInt("linear", "outFeatures", params.outFeatures);
    const tile = { ...DEFAULT_TILES[column.profile], ...params.tile };
    const dataTile = fitTile("linear", tile, IN, B);
    const weightsTile = fitTile("linear", tile, IN + 1, OUT);
    const [forward, data, weights] = await Promise.all([
      Gemm.create(column, {
        M: B,
        N: OUT,
        K: IN,
        transB: true,
        bias: true,
        relu: params.relu,
        tile,
      }),
      column.pipeline("linear.backwardData", linearBackwardDataWgsl({ ...params, tile: dataTile })),
      column.pipeline(
        "linear.backwardWeights",
        linearBackwardWeightsWgsl({ ...params, tile: weightsTile }),
      ),
    ]);
    return new Linear(
      { ...params },
      forward,
      { pipeline: data, grid: gemmGrid(B, IN, 1, dataTile) },
      { pipeline: weights, grid: gemmGrid(OUT, IN + 1, 1, weightsTile) },
    );
  }

  /** y = relu?(x · w^T + b). Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; w: Tensor; b: Tensor; y: Tensor }): void {
    const { batch: B, inFeatures: IN, outFeatures: OUT } = this.params;
    t.x.expectShape("linear.forward", "x", [B, IN]);
    t.w.expectShape("linear.forward", "w", [OUT, IN]);
    t.b.expectShape("linear.forward", "b", [OUT]);
    t.y.expectShape("linear.forward", "y", [B, OUT]);
    this.#forward.run(enc, { a: t.x, b: t.w, c: t.y, bias: t.b });
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
    if (t.dX) {
      t.dX.expectShape(k, "dX", [B, IN]);
      enc.dispatch(this.#data.pipeline, [t.w, t.dY, t.dX, ...mask], this.#data.grid);
    }
    enc.dispatch(this.#weights.pipeline, [t.x, t.dY, t.dW, t.db, ...mask], this.#weights.grid);
  }
}
