// Inverted dropout over a flat f32 tensor of a static size.
//
//   forward:   y_i  = x_i  * m_i / (1 - p)          (overwrites y)
//   backward:  dX_i = dY_i * m_i / (1 - p)          (overwrites dX; regenerates the mask)
//   mask:      m_i  = (bits(seed, step, i) >= floor(p * 2^32))
//
// bits() is Philox4x32-10 (kernels/_rng.ts): counter (floor(i/4), 0, 0, 0), key
// (seed, step), word i % 4. The keep decision is an integer compare, so the mask is
// bit-identical on every adapter and on the host (`Dropout.mask`), and backward needs
// no stored mask: it recomputes it from the same (seed, step). Use a distinct seed per
// layer and column (fc6/fc7, column 0/1) and a new step every iteration.
//
// Scaling by 1/(1-p) at train time ("inverted" dropout) makes the identity the test-time
// op. It is equivalent in expectation to the paper's recipe (drop with p = 0.5 while
// training, multiply the outputs by 0.5 at test time): E[y_i] = x_i either way.
//
// Layout: any (flat). Tiling: one invocation per Philox counter, i.e. four consecutive
// elements; 2-D grid folding beyond 65535 workgroups.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { CallUniforms } from "./_call_uniforms.ts";
import { philox4x32, philoxWgsl, requireU32 } from "./_rng.ts";
import {
  ceilDiv,
  constants,
  foldWorkgroups,
  requirePositiveInt,
  storage,
  uniform,
  type UniformLayout,
  uniformLayout,
} from "./_wgsl.ts";

/** Static parameters of {@link Dropout}. */
export interface DropoutParams {
  /** Number of f32 elements (e.g. N * 2048 for fc6 of one column). */
  size: number;
  /** Drop probability in [0, 1); default 0.5 (the paper's). */
  p?: number;
  /** Threads per workgroup (default 64; each thread handles 4 elements). */
  workgroupSize?: number;
}

/** The per-call uniforms: which random stream to use. */
export const DROPOUT_UNIFORMS: UniformLayout<{ seed: "u32"; step: "u32" }> = uniformLayout(
  "DropoutUniforms",
  { seed: "u32", step: "u32" },
);

/** floor(p * 2^32): elements whose 32 random bits are below it are dropped. */
export function dropoutThreshold(p: number): number {
  return Math.floor(p * 4294967296);
}

function checkP(p: unknown): number {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new RangeError(`dropout: p must be in [0, 1), got ${String(p)}`);
  }
  return p;
}

/** Builds the WGSL of dropout forward (x -> y) or backward (dY -> dX) (pure; for tests). */
export function dropoutWgsl(size: number, p: number, workgroupSize = 64): string {
  const groups = ceilDiv(size, 4 * workgroupSize);
  const [nx] = foldWorkgroups(groups);
  const scale = Math.fround(1 / (1 - p));
  return [
    constants({ SIZE: size, NUM_WG_X: nx, THRESHOLD: dropoutThreshold(p) }),
    constants({ SCALE: scale }, "f32"),
    DROPOUT_UNIFORMS.wgsl,
    storage(0, "src", "array<f32>", "read"),
    storage(1, "dst", "array<f32>", "read_write"),
    uniform(2, "u", DROPOUT_UNIFORMS),
    philoxWgsl(),
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    `  let t = (wid.y * NUM_WG_X + wid.x) * ${workgroupSize}u + lid;`,
    `  if (t * 4u >= SIZE) { return; }`,
    `  let bits = philox4x32(vec4u(t, 0u, 0u, 0u), vec2u(u.seed, u.step));`,
    `  for (var j = 0u; j < 4u; j++) {`,
    `    let i = t * 4u + j;`,
    `    if (i < SIZE) { dst[i] = select(0.0, src[i] * SCALE, bits[j] >= THRESHOLD); }`,
    `  }`,
    `}`,
  ].join("\n");
}

/**
 * Inverted dropout with a counter-based mask that forward, backward and the host agree on.
 *
 * @example
 * ```ts ignore
 * const drop = await Dropout.create(column, { size: n * 2048, p: 0.5 });
 * const enc = new Encoder(column);
 * drop.forward(enc, { x, y, seed: 6, step });
 * drop.backward(enc, { dY, dX, seed: 6, step });
 * enc.submit();
 * ```
 */
export class Dropout {
  /** The static size. */
  readonly size: number;
  /** The drop probability. */
  readonly p: number;
  #pipeline: GPUComputePipeline;
  #grid: [number, number];
  #uniforms: CallUniforms<typeof DROPOUT_UNIFORMS.fields>;

  private constructor(
    column: Column,
    size: number,
    p: number,
    pipeline: GPUComputePipeline,
    wg: number,
  ) {
    this.size = size;
    this.p = p;
    this.#pipeline = pipeline;
    this.#grid = foldWorkgroups(ceilDiv(size, 4 * wg));
    this.#uniforms = new CallUniforms(column, DROPOUT_UNIFORMS, "dropout");
  }

  /** Compiles (or fetches from the column's cache) the pipeline for `params`. */
  static async create(column: Column, params: DropoutParams): Promise<Dropout> {
    const size = requirePositiveInt("dropout", "size", params.size);
    if (size > 0xffffffff) throw new RangeError(`dropout: size must be < 2^32, got ${size}`);
    const p = checkP(params.p ?? 0.5);
    const wg = requirePositiveInt("dropout", "workgroupSize", params.workgroupSize ?? 64);
    const pipeline = await column.pipeline("dropout", dropoutWgsl(size, p, wg));
    return new Dropout(column, size, p, pipeline, wg);
  }

  #check(name: string, tensors: Record<string, Tensor>): void {
    for (const [param, t] of Object.entries(tensors)) {
      if (t.size !== this.size || t.dtype !== "f32") {
        throw new RangeError(
          `dropout.${name}: ${param} (${t.label}) must be f32 with ${this.size} elements, ` +
            `got ${t.dtype} with ${t.size}`,
        );
      }
    }
  }

  #record(enc: Encoder, src: Tensor, dst: Tensor, seed: number, step: number, name: string) {
    requireU32(`dropout.${name}`, "seed", seed);
    requireU32(`dropout.${name}`, "step", step);
    const u = this.#uniforms.write(enc, { seed, step });
    enc.dispatch(this.#pipeline, [src, dst, u], this.#grid);
  }

  /** y = x * mask / (1 - p). Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; y: Tensor; seed: number; step: number }): void {
    this.#check("forward", { x: t.x, y: t.y });
    this.#record(enc, t.x, t.y, t.seed, t.step, "forward");
  }

  /** dX = dY * mask / (1 - p) with the forward's mask. Overwrites dX. */
  backward(enc: Encoder, t: { dY: Tensor; dX: Tensor; seed: number; step: number }): void {
    this.#check("backward", { dY: t.dY, dX: t.dX });
    this.#record(enc, t.dY, t.dX, t.seed, t.step, "backward");
  }

  /** The keep mask (1 = kept) of this instance's p for (seed, step), on the host. */
  mask(seed: number, step: number, size: number = this.size): Uint8Array {
    return dropoutMask(this.p, seed, step, size);
  }
}

/**
 * The dropout keep mask (1 = kept) computed on the host with the GPU's generator:
 * bit-identical to what {@link Dropout} applies.
 *
 * @example
 * ```ts
 * import { dropoutMask } from "./dropout.ts";
 * const m = dropoutMask(0.5, 1, 0, 8); // Uint8Array of 0/1, about half ones
 * ```
 */
export function dropoutMask(p: number, seed: number, step: number, size: number): Uint8Array {
  checkP(p);
  requireU32("dropout.mask", "seed", seed);
  requireU32("dropout.mask", "step", step);
  requirePositiveInt("dropout.mask", "size", size);
  const threshold = dropoutThreshold(p);
  const out = new Uint8Array(size);
  for (let t = 0; t * 4 < size; t++) {
    const bits = philox4x32(t, 0, 0, 0, seed, step);
    for (let j = 0; j < 4 && t * 4 + j < size; j++) out[t * 4 + j] = bits[j] >= threshold ? 1 : 0;
  }
  return out;
}
