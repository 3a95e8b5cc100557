// Per-call uniform buffers for per-step scalars (dropout's seed/step, SGD's lr).
//
// Values are written with queue.writeBuffer when the call is RECORDED, and a submit
// reads a buffer's contents when it EXECUTES. So two calls recorded into one encoder
// must not share a buffer: call k of an encoder gets slot k of this instance. Slots
// are reused by the next encoder (a later writeBuffer is ordered after every earlier
// submit on the queue), so a training loop creates no buffers and, because the slot
// buffers are stable, no bind groups after its first step.
//
// The one hazard: recording two encoders that use the same kernel instance at the
// same time and submitting the first after the second has recorded. Record and
// submit one encoder at a time per instance (what a training step does anyway).

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { ScalarType, UniformLayout } from "./_wgsl.ts";

/** Uniform buffers of one layout, one slot per call within an encoder. */
export class CallUniforms<F extends Record<string, ScalarType>> {
  readonly #column: Column;
  readonly #layout: UniformLayout<F>;
  readonly #label: string;
  #buffers: GPUBuffer[] = [];
  #calls = new WeakMap<Encoder, number>();

  /** Uniforms of `layout` on `column`; `label` names the buffers. */
  constructor(column: Column, layout: UniformLayout<F>, label: string) {
    this.#column = column;
    this.#layout = layout;
    this.#label = label;
  }

  /** Packs `values` into this encoder's next slot and returns the buffer to bind. */
  write(enc: Encoder, values: { [K in keyof F]: number }): GPUBuffer {
    const bytes = this.#layout.pack(values);
    const slot = this.#calls.get(enc) ?? 0;
    this.#calls.set(enc, slot + 1);
    let buffer = this.#buffers[slot];
    if (!buffer) {
      buffer = this.#column.device.createBuffer({
        label: `${this.#label} uniforms #${slot}`,
        size: this.#layout.byteSize,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.#buffers[slot] = buffer;
    }
    this.#column.device.queue.writeBuffer(buffer, 0, bytes);
    return buffer;
  }
}
