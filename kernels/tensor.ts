// GPU tensors: a shape, a dtype and a pooled storage buffer on one column. Buffers
// come from the column's pool and go back to it on release, so a training step that
// releases what it acquires creates no buffers after the first.

import type { Column } from "./columns.ts";

/** Element types a tensor may hold. `u8` data is packed four to a u32 word. */
export type DType = "f32" | "u32" | "i32" | "u8";

/** Typed array that matches a dtype. */
export type ArrayFor<D extends DType> = D extends "f32" ? Float32Array
  : D extends "u32" ? Uint32Array
  : D extends "i32" ? Int32Array
  : Uint8Array;

const BYTES: Record<DType, number> = { f32: 4, u32: 4, i32: 4, u8: 1 };

/** Number of elements of a shape, validating every dimension. */
export function numel(shape: readonly number[], what = "tensor"): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what}: shape [${shape}] has a bad dimension ${d}`);
    }
    n *= d;
  }
  return n;
}

let nextId = 1;

/**
 * A typed GPU tensor. Release it with `using`, `dispose()` or `[Symbol.dispose]()`
 * to return its buffer to the column's pool.
 *
 * @example
 * ```ts ignore
 * const { columns: [col] } = await openColumns({ count: 1 });
 * using x = Tensor.from(col, new Float32Array([1, 2, 3, 4]), [2, 2], "x");
 * console.log(await x.read()); // Float32Array [1, 2, 3, 4]
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** Unique id (bind group caches key on it). */
  readonly id: number = nextId++;
  /** The column whose device holds the buffer. */
  readonly column: Column;
  /** Dimensions, NCHW for activations, [out, in/groups, kh, kw] for conv weights. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: D;
  /** Name used in errors and GPU labels. */
  readonly label: string;
  /** Number of elements. */
  readonly size: number;
  #buffer: GPUBuffer | null;
  /** The tensor whose storage this one views (see {@link Tensor.view}). */
  #base: Tensor<D> | null = null;
  static #viewing: Tensor | null = null;

  /** Acquires a pooled buffer for `shape`; prefer {@link Tensor.empty}/{@link Tensor.from}. */
  constructor(column: Column, shape: readonly number[], dtype: D, label: string) {
    this.column = column;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.label = label;
    this.size = numel(shape, label);
    const base = Tensor.#viewing as Tensor<D> | null;
    this.#base = base;
    this.#buffer = base ? null : column.acquire(Math.max(this.byteLength, 4), label);
  }

  /**
   * The same storage seen with another shape of the same element count, e.g. a conv's
   * [N, C, H, W] output as the [N, C*H*W] input of a fully connected layer. The view
   * owns nothing: disposing it does nothing, and it fails once this tensor is disposed.
   *
   * @example
   * ```ts ignore
   * using x = Tensor.zeros(col, [2, 4, 3, 3], "pool5");
   * const flat = x.view([2, 36]);
   * console.assert(flat.buffer === x.buffer);
   * ```
   */
  view(shape: readonly number[]): Tensor<D> {
    if (numel(shape, this.label) !== this.size) {
      throw new RangeError(
        `tensor ${this.label}: cannot view [${this.shape}] (${this.size} elements) as [${shape}]`,
      );
    }
    Tensor.#viewing = this.#base ?? this;
    try {
      return new Tensor(this.column, shape, this.dtype, this.label);
    } finally {
      Tensor.#viewing = null;
    }
  }

  /** An uninitialised tensor (pooled buffers keep old contents: write before reading). */
  static empty<D extends DType = "f32">(
    column: Column,
    shape: readonly number[],
    label: string,
    dtype: D = "f32" as D,
  ): Tensor<D> {
    return new Tensor(column, shape, dtype, label);
  }

  /** A tensor filled with zeros. */
  static zeros<D extends DType = "f32">(
    column: Column,
    shape: readonly number[],
    label: string,
    dtype: D = "f32" as D,
  ): Tensor<D> {
    const t = new Tensor(column, shape, dtype, label);
    const enc = column.device.createCommandEncoder({ label: `zero ${label}` });
    enc.clearBuffer(t.buffer);
    column.device.queue.submit([enc.finish()]);
    return t;
  }

  /** A tensor holding a copy of `data` (its length must match the shape). */
  static from<D extends DType>(
    column: Column,
    data: ArrayFor<D>,
    shape: readonly number[],
    label: string,
    dtype?: D,
  ): Tensor<D> {
    const dt = (dtype ?? dtypeOf(data)) as D;
    const t = new Tensor(column, shape, dt, label);
    t.write(data);
    return t;
  }

  /** The storage buffer; throws if the tensor was released. */
  get buffer(): GPUBuffer {
    if (this.#base) return this.#base.buffer;
    if (!this.#buffer) throw new Error(`tensor ${this.label} was used after release`);
    return this.#buffer;
  }

  /** Bytes of data (u8 is one byte per element). */
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }

  /** Replaces the contents with `data`. */
  write(data: ArrayFor<D>): void {
    if (data.length !== this.size) {
      throw new RangeError(
        `tensor ${this.label}: write of ${data.length} elements into shape [${this.shape}] ` +
          `(${this.size} elements)`,
      );
    }
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    // writeBuffer needs a multiple of 4 bytes.
    const padded = bytes.byteLength % 4 === 0 ? bytes : (() => {
      const p = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      p.set(bytes);
      return p;
    })();
    this.column.device.queue.writeBuffer(this.buffer, 0, padded);
  }

  /** Copies the contents back to the host (awaits all queued work on the column). */
  async read(): Promise<ArrayFor<D>> {
    const bytes = await readBuffer(this.column, this.buffer, Math.ceil(this.byteLength / 4) * 4);
    return viewAs(this.dtype, bytes.buffer as ArrayBuffer, this.size) as ArrayFor<D>;
  }

  /** Throws unless the shape equals `shape`, naming `kernel` and `param`. */
  expectShape(kernel: string, param: string, shape: readonly number[]): this {
    if (shape.length !== this.shape.length || shape.some((d, i) => d !== this.shape[i])) {
      throw new RangeError(
        `${kernel}: ${param} (${this.label}) must have shape [${shape}], got [${this.shape}]`,
      );
    }
    return this;
  }

  /** True once released. */
  get released(): boolean {
    return this.#base ? this.#base.released : this.#buffer === null;
  }

  /** Returns the buffer to the column's pool. Safe to call twice. */
  dispose(): void {
    if (this.#buffer) this.column.release(this.#buffer);
    this.#buffer = null;
  }

  /** Same as {@link dispose}, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function dtypeOf(data: ArrayBufferView): DType {
  if (data instanceof Float32Array) return "f32";
  if (data instanceof Uint32Array) return "u32";
  if (data instanceof Int32Array) return "i32";
  if (data instanceof Uint8Array) return "u8";
  throw new TypeError(`tensor data: expected Float32Array, Uint32Array, Int32Array or Uint8Array`);
}

function viewAs(dtype: DType, buf: ArrayBuffer, size: number): ArrayBufferView {
  switch (dtype) {
    case "f32":
      return new Float32Array(buf, 0, size);
    case "u32":
      return new Uint32Array(buf, 0, size);
    case "i32":
      return new Int32Array(buf, 0, size);
    case "u8":
      return new Uint8Array(buf, 0, size);
  }
}

/**
 * Reads `bytes` (a multiple of 4) of `buffer` through a temporary mapped staging
 * buffer. Rejects with the reason if the device is lost meanwhile.
 */
export async function readBuffer(
  column: Column,
  buffer: GPUBuffer,
  bytes: number,
  offset = 0,
): Promise<Uint8Array> {
  const [out] = await readRanges(column, [{ buffer, offset, bytes }], `read ${buffer.label}`);
  return new Uint8Array(out);
}

/**
 * Copies byte ranges (multiples of 4) into one staging buffer with one submit and one
 * mapping, and returns each range's bytes.
 */
async function readRanges(
  column: Column,
  ranges: readonly { buffer: GPUBuffer; offset: number; bytes: number }[],
  label: string,
): Promise<ArrayBuffer[]> {
  const at: number[] = [];
  let total = 0;
  for (const r of ranges) at.push(total), total += r.bytes;
  column.check();
  const device = column.device;
  const staging = device.createBuffer({
    label,
    size: Math.max(total, 4),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const enc = device.createCommandEncoder({ label });
    ranges.forEach((r, i) => enc.copyBufferToBuffer(r.buffer, r.offset, staging, at[i], r.bytes));
    device.queue.submit([enc.finish()]);
    await column.guard(staging.mapAsync(GPUMapMode.READ));
    const mapped = staging.getMappedRange(0, Math.max(total, 4));
    const out = ranges.map((r, i) => mapped.slice(at[i], at[i] + r.bytes));
    staging.unmap();
    column.check();
    return out;
  } finally {
    staging.destroy();
  }
}

/**
 * Reads many tensors of one column with one copy submission and one mapping per
 * 128 MiB or so (each `Tensor.read` maps its own staging buffer: a round trip per tensor).
 *
 * @example
 * ```ts ignore
 * const [w, b] = await readTensors(column, [weight, bias]);
 * ```
 */
export async function readTensors<D extends DType>(
  column: Column,
  tensors: readonly Tensor<D>[],
): Promise<ArrayFor<D>[]> {
  for (const t of tensors) {
    if (t.column !== column) {
      throw new RangeError(
        `readTensors: ${t.label} is on column ${t.column.index}, not ${column.index}`,
      );
    }
  }
  const cap = Math.min(column.limits.maxBufferSize, 2 ** 27);
  const groups: Tensor<D>[][] = [];
  let bytes = Infinity;
  for (const t of tensors) {
    const b = Math.ceil(t.byteLength / 4) * 4;
    if (bytes + b > cap) groups.push([]), bytes = 0;
    groups[groups.length - 1].push(t);
    bytes += b;
  }
  const out: ArrayFor<D>[] = [];
  for (const g of groups) out.push(...await readGroup(column, g));
  return out;
}

async function readGroup<D extends DType>(
  column: Column,
  tensors: readonly Tensor<D>[],
): Promise<ArrayFor<D>[]> {
  const ranges = tensors.map((t) => ({
    buffer: t.buffer,
    offset: 0,
    bytes: Math.ceil(t.byteLength / 4) * 4,
  }));
  const bytes = await readRanges(column, ranges, `read ${tensors.length} tensors`);
  return tensors.map((t, i) => viewAs(t.dtype, bytes[i], t.size) as ArrayFor<D>);
}
