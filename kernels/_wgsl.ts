// Typed helpers that assemble WGSL. Kernels never build WGSL by text replacement:
// shapes become `const` declarations (or, with runtimeDims, uniform values read under
// the same names), uniforms come from one declared layout that also packs the bytes,
// and large 1-D grids fold into 2-D dispatches here.

/** A scalar type a uniform field may have. */
export type ScalarType = "u32" | "i32" | "f32";

/**
 * A uniform struct declared once: the WGSL text and the packing code both come from
 * `fields`, so the two can never drift apart.
 */
export interface UniformLayout<F extends Record<string, ScalarType>> {
  /** The WGSL struct name. */
  readonly name: string;
  /** The fields, in declaration order. */
  readonly fields: F;
  /** Byte size, padded to 16 as uniform buffers require. */
  readonly byteSize: number;
  /** `struct Name { a: u32, ... }` */
  readonly wgsl: string;
  /** Packs values into a buffer laid out as the struct. */
  pack(values: { [K in keyof F]: number }): ArrayBuffer;
}

/** Declares a uniform struct of 4-byte scalars. */
export function uniformLayout<F extends Record<string, ScalarType>>(
  name: string,
  fields: F,
): UniformLayout<F> {
  const keys = Object.keys(fields) as (keyof F & string)[];
  const byteSize = Math.max(16, Math.ceil((keys.length * 4) / 16) * 16);
  const wgsl = `struct ${name} {\n${keys.map((k) => `  ${k}: ${fields[k]},`).join("\n")}\n}`;
  return {
    name,
    fields,
    byteSize,
    wgsl,
    pack(values) {
      const buf = new ArrayBuffer(byteSize);
      const view = new DataView(buf);
      keys.forEach((k, i) => {
        const v = values[k];
        if (typeof v !== "number" || !Number.isFinite(v)) {
          throw new TypeError(`uniform ${name}.${k}: expected a finite number, got ${v}`);
        }
        if (fields[k] === "f32") view.setFloat32(i * 4, v, true);
        else if (fields[k] === "u32") view.setUint32(i * 4, v >>> 0, true);
        else view.setInt32(i * 4, v | 0, true);
      });
      return buf;
    },
  };
}

/** Sizes read at run time (see {@link runtimeDims}). */
export interface RuntimeDims {
  /** The uniform struct and its binding, for module scope. */
  decls: string[];
  /** `let NAME = dims.NAME;` for the top of `main`, so code uses the constants' names. */
  lets: string[];
  /** The uniform buffer's contents. */
  bytes: ArrayBuffer;
}

/**
 * Sizes passed in a uniform instead of compiled in as `const`s (u32 each). Two layers
 * whose shaders then differ only in these values share one WGSL text, so one pipeline:
 * fewer compiles where they are expensive (lavapipe compiles each at its first
 * dispatch). Code reads them by the same names, through `lets` at the top of `main`.
 *
 * @example
 * ```ts
 * import { runtimeDims } from "./_wgsl.ts";
 * const d = runtimeDims(3, { H: 13, W: 13 });
 * console.log(d.lets); // ["  let H = dims.H;", "  let W = dims.W;"]
 * console.log(new Uint32Array(d.bytes).slice(0, 2)); // Uint32Array(2) [ 13, 13 ]
 * ```
 */
export function runtimeDims(binding: number, values: Record<string, number>): RuntimeDims {
  const fields = Object.fromEntries(Object.keys(values).map((k) => [k, "u32" as const]));
  const layout = uniformLayout("Dims", fields);
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RangeError(`runtime dimension ${k} must be a u32, got ${v}`);
    }
  }
  return {
    decls: [layout.wgsl, `@group(0) @binding(${binding}) var<uniform> dims: Dims;`],
    lets: Object.keys(values).map((k) => `  let ${k} = dims.${k};`),
    bytes: layout.pack(values),
  };
}

/** `const NAME: u32 = 12u;` lines for static shape constants. */
export function constants(values: Record<string, number>, type: ScalarType = "u32"): string {
  return Object.entries(values).map(([k, v]) => {
    if (!Number.isFinite(v)) throw new TypeError(`WGSL constant ${k}: got ${v}`);
    const lit = type === "f32"
      ? (Number.isInteger(v) ? `${v}.0` : `${v}`)
      : `${Math.trunc(v)}${type === "u32" ? "u" : "i"}`;
    return `const ${k}: ${type} = ${lit};`;
  }).join("\n");
}

/** A storage binding declaration. */
export function storage(
  binding: number,
  name: string,
  type: string,
  access: "read" | "read_write",
  group = 0,
): string {
  return `@group(${group}) @binding(${binding}) var<storage, ${access}> ${name}: ${type};`;
}

/** A uniform binding declaration for a declared layout. */
export function uniform(
  binding: number,
  name: string,
  layout: UniformLayout<Record<string, ScalarType>>,
  group = 0,
): string {
  return `@group(${group}) @binding(${binding}) var<uniform> ${name}: ${layout.name};`;
}

/** Largest workgroup count WebGPU guarantees per dimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Folds `count` workgroups into an (x, y) grid within the per-dimension limit. Kernels
 * recover the linear index with {@link linearWorkgroupId}.
 */
export function foldWorkgroups(count: number, limit = MAX_WORKGROUPS_PER_DIM): [number, number] {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`workgroup count: expected a non-negative integer, got ${count}`);
  }
  if (count <= limit) return [Math.max(count, 1), 1];
  const y = Math.ceil(count / limit);
  if (y > limit) throw new RangeError(`workgroup count ${count} exceeds ${limit}^2`);
  return [Math.ceil(count / y), y];
}

/**
 * WGSL expression for the linear workgroup index of a grid folded by
 * {@link foldWorkgroups}; `nx` is the grid's x size (a WGSL const or literal).
 */
export function linearWorkgroupId(wid = "wid", nx = "NUM_WG_X"): string {
  return `(${wid}.y * ${nx} + ${wid}.x)`;
}

/** Ceiling division for dispatch geometry. */
export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/** Throws a RangeError naming the kernel and parameter unless `v` is a positive integer. */
export function requirePositiveInt(kernel: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`${kernel}: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

/** Throws a RangeError naming the kernel and parameter unless `v` is an integer >= 0. */
export function requireNonNegativeInt(kernel: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new RangeError(`${kernel}: ${name} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/**
 * Elements per chunk when a tensor larger than a binding is bound in pieces: the most
 * 4-byte elements within `maxBytes` whose chunks start at multiples of the storage
 * offset alignment (and of `granule` bytes, e.g. 16 to keep vec4 loads whole).
 */
export function chunkElements(
  kernel: string,
  maxBytes: number,
  alignment: number,
  granule = 4,
): number {
  const step = Math.max(alignment, granule);
  const n = Math.floor(maxBytes / step) * step / 4;
  if (n < 1) {
    throw new RangeError(`${kernel}: maxBindingBytes ${maxBytes} is below the alignment ${step}`);
  }
  return n;
}

/** [elementOffset, elementCount] pieces of `size` that each fit in `maxElems`. */
export function chunks(size: number, maxElems: number): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off < size; off += maxElems) out.push([off, Math.min(maxElems, size - off)]);
  return out;
}
