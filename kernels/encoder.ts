// Records a column's work for one submit: every dispatch goes into one compute pass
// (WebGPU makes each dispatch's writes visible to the next), copies close the pass.
// Bind groups are cached per pipeline by the identity of the bound buffers, so a
// training step that reuses its planned tensors creates none after the first.

import type { Column } from "./columns.ts";
import type { Tensor } from "./tensor.ts";

/**
 * A whole tensor, a byte range of one (for chunked dispatch), or a raw buffer. A tensor is
 * bound as exactly its bytes (rounded up to whole words), not its pooled buffer, so a
 * shader's `arrayLength` is the tensor's element count: one shader serves every size.
 */
export type Binding = Tensor | GPUBuffer | { tensor: Tensor; offset: number; size: number };

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, id = nextBufferId++);
  return id;
}

const bindGroupCache = new WeakMap<GPUComputePipeline, Map<string, GPUBindGroup>>();
const MAX_CACHED_PER_PIPELINE = 256;

function resolve(b: Binding): { buffer: GPUBuffer; offset: number; size?: number; name: string } {
  if ("tensor" in b) {
    return { buffer: b.tensor.buffer, offset: b.offset, size: b.size, name: b.tensor.label };
  }
  if ("column" in b) {
    const size = Math.max(4, Math.ceil(b.byteLength / 4) * 4);
    return { buffer: b.buffer, offset: 0, size, name: b.label };
  }
  return { buffer: b, offset: 0, name: b.label };
}

/**
 * Collects dispatches and copies for one queue submit on one column.
 *
 * @example
 * ```ts ignore
 * const enc = new Encoder(column, "step");
 * relu.backward(enc, { y, dY, dX });
 * enc.submit();
 * ```
 */
export class Encoder {
  /** The column the work runs on. */
  readonly column: Column;
  #encoder: GPUCommandEncoder;
  #pass: GPUComputePassEncoder | null = null;
  #submitted = false;
  /** Dispatches recorded so far (for profiling and tests). */
  dispatches = 0;

  /** Starts recording on `column`; `label` names the command buffer. */
  constructor(column: Column, label = "work") {
    this.column = column;
    column.check();
    this.#encoder = column.device.createCommandEncoder({ label });
  }

  /** The bind group for `bindings` at @group(0) @binding(0..n-1) of `pipeline`. */
  bindGroup(pipeline: GPUComputePipeline, bindings: readonly Binding[]): GPUBindGroup {
    const resolved = bindings.map(resolve);
    const key = resolved.map((r) => `${bufferId(r.buffer)}:${r.offset}:${r.size ?? "*"}`).join(
      ",",
    );
    let cache = bindGroupCache.get(pipeline);
    if (!cache) bindGroupCache.set(pipeline, cache = new Map());
    let group = cache.get(key);
    if (!group) {
      const limit = this.column.limits.maxStorageBufferBindingSize;
      for (const r of resolved) {
        const size = r.size ?? r.buffer.size;
        if (size > limit && (r.buffer.usage & GPUBufferUsage.STORAGE)) {
          throw new RangeError(
            `${pipeline.label}: binding ${r.name} is ${size} bytes, over column ` +
              `${this.column.index}'s maxStorageBufferBindingSize of ${limit}; bind it in chunks`,
          );
        }
      }
      if (cache.size >= MAX_CACHED_PER_PIPELINE) cache.clear();
      group = this.column.device.createBindGroup({
        label: pipeline.label,
        layout: pipeline.getBindGroupLayout(0),
        entries: resolved.map((r, i) => ({
          binding: i,
          resource: { buffer: r.buffer, offset: r.offset, size: r.size },
        })),
      });
      cache.set(key, group);
    }
    return group;
  }

  /** Records one dispatch of `pipeline` over `workgroups` with `bindings` in order. */
  dispatch(
    pipeline: GPUComputePipeline,
    bindings: readonly Binding[],
    workgroups: readonly [number, number?, number?],
  ): this {
    this.#ensureOpen();
    const limit = this.column.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    if (x > limit || y > limit || z > limit) {
      throw new RangeError(
        `${pipeline.label}: dispatch [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ` +
          `${limit}`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return this;
    const group = this.bindGroup(pipeline, bindings);
    this.#pass ??= this.#encoder.beginComputePass({ label: pipeline.label });
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, group);
    this.#pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    return this;
  }

  /** Copies `bytes` (default: all of `src`) from `src` to `dst` on this column. */
  copy(src: Tensor, dst: Tensor, bytes = src.byteLength, srcOffset = 0, dstOffset = 0): this {
    this.#ensureOpen();
    this.#endPass();
    const n = Math.ceil(bytes / 4) * 4;
    this.#encoder.copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, n);
    return this;
  }

  /** Zeroes `t`. */
  clear(t: Tensor): this {
    this.#ensureOpen();
    this.#endPass();
    this.#encoder.clearBuffer(t.buffer);
    return this;
  }

  /** The underlying command encoder, for work outside compute passes. */
  raw(): GPUCommandEncoder {
    this.#ensureOpen();
    this.#endPass();
    return this.#encoder;
  }

  /** Ends recording and submits to the column's queue. */
  submit(): void {
    this.#ensureOpen();
    this.#endPass();
    this.#submitted = true;
    this.column.device.queue.submit([this.#encoder.finish()]);
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = null;
  }

  #ensureOpen(): void {
    if (this.#submitted) throw new Error("Encoder: already submitted; create a new one");
  }
}

/** Resolves when all work submitted so far on `column` has finished. */
export async function sync(column: Column): Promise<void> {
  await column.guard(column.device.queue.onSubmittedWorkDone());
  column.check();
}
