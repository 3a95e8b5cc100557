// SGD with momentum and weight decay, the paper's exact update (section 5):
//
//   v = momentum * v - weightDecay * lr * w - lr * dW      (overwrites v)
//   w = w + v                                             (overwrites w)
//
// with momentum 0.9 and weightDecay 0.0005 by default. Note the paper applies weight
// decay scaled by lr inside the velocity (not PyTorch's `dW + wd * w` before momentum,
// which is the same thing with v scaled by -1/lr); checkpoints of v use this convention.
//
// lr, momentum and weightDecay are per-call scalars in a uniform. The uniform is written
// when `step` is RECORDED, once per call, so every param of one `step` call shares them;
// two `step` calls in one encoder get separate uniform slots (kernels/_call_uniforms.ts)
// and may use different values.
//
// Layout: flat. Tiling: one invocation per vec4 (sizes divisible by 4) or per scalar.
// Two pipelines serve every size: each tensor (or chunk) is bound as exactly its
// elements and the shader reads the count from arrayLength (a pipeline per size would
// cost a compile each at the first step on software adapters). A tensor larger than the
// column's maxStorageBufferBindingSize is updated in aligned chunks.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { CallUniforms } from "./_call_uniforms.ts";
import {
  ceilDiv,
  chunkElements,
  chunks,
  foldWorkgroups,
  requirePositiveInt,
  storage,
  uniform,
  type UniformLayout,
  uniformLayout,
} from "./_wgsl.ts";

/** Static parameters of {@link Sgd}. */
export interface SgdParams {
  /** Element counts of the parameters this instance updates (duplicates are fine). */
  sizes: number[];
  /** Threads per workgroup (default 256). */
  workgroupSize?: number;
  /** Largest bytes bound at once (default: the column's maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
}

/** One parameter's tensors, all f32 of one size. */
export interface SgdParam {
  /** The weights, updated in place. */
  w: Tensor;
  /** Their gradient (read only). */
  dW: Tensor;
  /** The momentum buffer, updated in place (start at zero). */
  v: Tensor;
}

/** The per-call uniforms. */
export const SGD_UNIFORMS: UniformLayout<{ lr: "f32"; momentum: "f32"; weightDecay: "f32" }> =
  uniformLayout("SgdUniforms", { lr: "f32", momentum: "f32", weightDecay: "f32" });

/**
 * Builds the WGSL of the update over vec4s (`vec4`) or scalars (pure; exported for tests).
 * The element count is the bound range's length (`arrayLength`), so one pipeline serves
 * every tensor: each range must be bound with its exact size.
 */
export function sgdWgsl(vec4: boolean, workgroupSize = 256): string {
  const type = vec4 ? "vec4<f32>" : "f32";
  return [
    SGD_UNIFORMS.wgsl,
    storage(0, "w", `array<${type}>`, "read_write"),
    storage(1, "dW", `array<${type}>`, "read"),
    storage(2, "v", `array<${type}>`, "read_write"),
    uniform(3, "u", SGD_UNIFORMS),
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,`,
    `        @builtin(local_invocation_index) lid: u32) {`,
    `  let i = (wid.y * nwg.x + wid.x) * ${workgroupSize}u + lid;`,
    `  if (i >= arrayLength(&w)) { return; }`,
    `  let wi = w[i];`,
    `  let vi = u.momentum * v[i] - (u.weightDecay * u.lr) * wi - u.lr * dW[i];`,
    `  v[i] = vi;`,
    `  w[i] = wi + vi;`,
    `}`,
  ].join("\n");
}

/**
 * Momentum SGD with the paper's weight decay, over many parameters in one call.
 *
 * @example
 * ```ts ignore
 * const sgd = await Sgd.create(column, { sizes: params.map((p) => p.w.size) });
 * const enc = new Encoder(column);
 * sgd.step(enc, { params, lr: 0.01 }); // momentum 0.9, weightDecay 0.0005
 * enc.submit();
 * ```
 */
export class Sgd {
  #vec4: GPUComputePipeline;
  #scalar: GPUComputePipeline;
  #sizes: Set<number>;
  #maxElems: number;
  #wg: number;
  #uniforms: CallUniforms<typeof SGD_UNIFORMS.fields>;

  private constructor(
    column: Column,
    sizes: Set<number>,
    [vec4, scalar]: GPUComputePipeline[],
    maxElems: number,
    wg: number,
  ) {
    this.#sizes = sizes;
    this.#vec4 = vec4;
    this.#scalar = scalar;
    this.#maxElems = maxElems;
    this.#wg = wg;
    this.#uniforms = new CallUniforms(column, SGD_UNIFORMS, "sgd");
  }

  /** Compiles (or fetches from the column's cache) its two pipelines, vec4 and scalar. */
  static async create(column: Column, params: SgdParams): Promise<Sgd> {
    if (!Array.isArray(params.sizes) || params.sizes.length === 0) {
      throw new RangeError(`sgd: sizes must be a non-empty array of element counts`);
    }
    const sizes = new Set(params.sizes.map((s, i) => requirePositiveInt("sgd", `sizes[${i}]`, s)));
    const wg = requirePositiveInt("sgd", "workgroupSize", params.workgroupSize ?? 256);
    const maxBytes = requirePositiveInt(
      "sgd",
      "maxBindingBytes",
      params.maxBindingBytes ?? column.limits.maxStorageBufferBindingSize,
    );
    // Chunks start at multiples of the offset alignment and stay vec4-divisible.
    const maxElems = chunkElements(
      "sgd",
      maxBytes,
      column.limits.minStorageBufferOffsetAlignment,
      16,
    );
    const pipelines = await Promise.all(
      [true, false].map((vec4) => column.pipeline("sgd", sgdWgsl(vec4, wg))),
    );
    return new Sgd(column, sizes, pipelines, maxElems, wg);
  }

  /**
   * One update of every param with shared lr, momentum (default 0.9) and weightDecay
   * (default 0.0005). Overwrites each w and v.
   */
  step(
    enc: Encoder,
    t: { params: SgdParam[]; lr: number; momentum?: number; weightDecay?: number },
  ): void {
    const momentum = t.momentum ?? 0.9, weightDecay = t.weightDecay ?? 0.0005;
    for (const [name, x] of [["lr", t.lr], ["momentum", momentum], ["weightDecay", weightDecay]]) {
      if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
        throw new RangeError(`sgd.step: ${name} must be a finite number >= 0, got ${String(x)}`);
      }
    }
    t.params.forEach((p, i) => {
      const size = p.w.size;
      if (!this.#sizes.has(size)) {
        throw new RangeError(
          `sgd.step: params[${i}].w (${p.w.label}) has ${size} elements, not one of the sizes ` +
            `this Sgd was created for (${[...this.#sizes].join(", ")})`,
        );
      }
      for (const [name, x] of [["w", p.w], ["dW", p.dW], ["v", p.v]] as const) {
        if (x.dtype !== "f32" || x.size !== size) {
          throw new RangeError(
            `sgd.step: params[${i}].${name} (${x.label}) must be f32 with ${size} elements, ` +
              `got ${x.dtype} with ${x.size}`,
          );
        }
      }
    });
    const u = this.#uniforms.write(enc, { lr: t.lr, momentum, weightDecay });
    for (const { w, dW, v } of t.params) {
      const pieces = chunks(w.size, this.#maxElems);
      for (const [off, n] of pieces) {
        const vec4 = n % 4 === 0;
        const grid = foldWorkgroups(ceilDiv(vec4 ? n / 4 : n, this.#wg));
        // The shader takes the element count from arrayLength: a whole tensor is bound as
        // exactly its elements (Encoder), a chunk as its range.
        const bind = (x: Tensor) =>
          pieces.length === 1 ? x : { tensor: x, offset: off * 4, size: n * 4 };
        enc.dispatch(vec4 ? this.#vec4 : this.#scalar, [bind(w), bind(dW), bind(v), u], grid);
      }
    }
  }
}
