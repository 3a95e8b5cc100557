// Moving tensors between columns. WebGPU has no peer-to-peer copies, so a tensor
// crosses columns through a mapped staging buffer on the host. `exchange` moves
// everything one point of a step needs in ONE mapping per source column, then writes
// or adds on the destination. Between two halves on the same column it is a plain
// on-device copy.
//
// What a mapping costs in Deno (measured on lavapipe, Deno 2.9.6, /tmp probes): the
// `mapAsync` CALL blocks until the column's queue is idle (an eager device poll with
// wait), the map callback fires inside that poll, and then the op sleeps in 10 ms steps
// before it resolves the promise: 11.5 ms even when the work finished long before, on
// top of the GPU time; mapping both columns with Promise.all overlaps the two sleeps
// but nothing removes them. That sleep was ~12 ms of every exchange (9 per step, ~20%
// of a tiny 2-column step). The data is already mapped when the call returns, and
// Deno's `getMappedRange` reads wgpu's map state, not the promise's, so on runtimes
// where this was verified `exchange` reads the range right away and unmaps (the
// promise settles ~10 ms later, unobserved). Anywhere else, on a buffer's first
// mapping (Deno panics reading a never-mapped buffer early), or if the early read
// throws, it awaits the promise as the spec asks. ALEXNET_EARLY_MAP=0 turns it off.

import type { Column } from "./columns.ts";
import { Elementwise } from "./elementwise.ts";
import { Encoder } from "./encoder.ts";
import { Tensor } from "./tensor.ts";

/** One tensor to move: `copy` overwrites dst, `add` accumulates into it. */
export interface Transfer {
  /** Source tensor (any column). */
  src: Tensor;
  /** Destination tensor, same element count and dtype f32 for `add`. */
  dst: Tensor;
  /** Default "copy". */
  mode?: "copy" | "add";
}

/** Bytes moved through the host by {@link exchange}, per call (for profiling). */
export interface ExchangeStats {
  /** Bytes read back from source columns and written to destinations. */
  hostBytes: number;
  /** Number of staging mappings performed. */
  mappings: number;
}

const staging = new WeakMap<Column, GPUBuffer>();
/** Staging buffers that completed one spec-compliant mapping (see the header). */
const mappedOnce = new WeakSet<GPUBuffer>();

/**
 * Whether this runtime's `getMappedRange` is verified to work once `mapAsync` has
 * returned, before its promise resolves: Deno 2.9 (see the header).
 *
 * @example
 * ```ts
 * console.log(earlyMapRead()); // true on Deno 2.9 unless ALEXNET_EARLY_MAP=0
 * ```
 */
export function earlyMapRead(): boolean {
  // Typed by hand: the kernels type-check without Deno's types (they run in browsers).
  const deno = (globalThis as {
    Deno?: { version?: { deno: string }; env: { get(k: string): string | undefined } };
  }).Deno;
  if (!deno?.version?.deno.startsWith("2.9.")) return false;
  try {
    return deno.env.get("ALEXNET_EARLY_MAP") !== "0";
  } catch {
    return true; // no env permission: the default
  }
}

/** Maps `buf` for reading and returns bytes 0..total, without Deno's poll sleep if it can. */
async function mapRead(column: Column, buf: GPUBuffer, total: number): Promise<ArrayBuffer> {
  const pending = column.guard(buf.mapAsync(GPUMapMode.READ, 0, total));
  if (mappedOnce.has(buf) && earlyMapRead()) {
    try {
      const range = buf.getMappedRange(0, total);
      pending.catch(() => {}); // settles after the caller has unmapped; nothing to observe
      return range;
    } catch { /* not mapped yet: wait as the spec asks */ }
  }
  await pending;
  mappedOnce.add(buf);
  return buf.getMappedRange(0, total);
}

function stagingFor(column: Column, bytes: number): GPUBuffer {
  let b = staging.get(column);
  if (!b || b.size < bytes) {
    b?.destroy();
    b = column.device.createBuffer({
      label: `exchange staging (column ${column.index})`,
      size: Math.ceil(bytes / 256) * 256,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    staging.set(column, b);
  }
  return b;
}

function validate(t: Transfer): void {
  if (t.src.size !== t.dst.size || t.src.dtype !== t.dst.dtype) {
    throw new RangeError(
      `exchange: ${t.src.label} [${t.src.shape}] ${t.src.dtype} cannot move into ` +
        `${t.dst.label} [${t.dst.shape}] ${t.dst.dtype}`,
    );
  }
  if ((t.mode ?? "copy") === "add" && t.dst.dtype !== "f32") {
    throw new TypeError(`exchange: add needs f32 tensors, ${t.dst.label} is ${t.dst.dtype}`);
  }
}

/**
 * Performs all `transfers` and resolves when the destinations' work is queued. Work
 * already submitted on a source column is waited for by the mapping.
 *
 * @example
 * ```ts ignore
 * await exchange([{ src: a0, dst: a1 }, { src: g1, dst: g0, mode: "add" }]);
 * ```
 */
export async function exchange(transfers: readonly Transfer[]): Promise<ExchangeStats> {
  transfers.forEach(validate);
  const stats: ExchangeStats = { hostBytes: 0, mappings: 0 };
  const local = transfers.filter((t) => t.src.column === t.dst.column);
  const remote = transfers.filter((t) => t.src.column !== t.dst.column);

  // Same column: on-device copy or add, no host round trip.
  const byColumn = new Map<Column, Encoder>();
  const encoderFor = (c: Column) => {
    let e = byColumn.get(c);
    if (!e) byColumn.set(c, e = new Encoder(c, "exchange"));
    return e;
  };
  for (const t of local) {
    if ((t.mode ?? "copy") === "copy") encoderFor(t.dst.column).copy(t.src, t.dst);
    else {
      const ew = await Elementwise.create(t.dst.column, { size: t.dst.size });
      ew.add(encoderFor(t.dst.column), { src: t.src, dst: t.dst });
    }
  }

  // Cross-column: one staging buffer and one mapping per source column.
  const sources = new Map<Column, { t: Transfer; offset: number }[]>();
  for (const t of remote) {
    let list = sources.get(t.src.column);
    if (!list) sources.set(t.src.column, list = []);
    const prev = list.at(-1);
    const offset = prev ? prev.offset + Math.ceil(prev.t.src.byteLength / 4) * 4 : 0;
    list.push({ t, offset });
  }
  const mapped = await Promise.all([...sources].map(async ([column, list]) => {
    const last = list.at(-1)!;
    const total = last.offset + Math.ceil(last.t.src.byteLength / 4) * 4;
    const buf = stagingFor(column, total);
    const enc = column.device.createCommandEncoder({ label: "exchange readback" });
    for (const { t, offset } of list) {
      enc.copyBufferToBuffer(t.src.buffer, 0, buf, offset, Math.ceil(t.src.byteLength / 4) * 4);
    }
    column.device.queue.submit([enc.finish()]);
    const range = await mapRead(column, buf, total);
    column.check();
    stats.mappings++;
    stats.hostBytes += total;
    return { buf, list, range };
  }));
  const scratch: Tensor[] = [];
  for (const { buf, list, range } of mapped) {
    for (const { t, offset } of list) {
      const n = Math.ceil(t.src.byteLength / 4) * 4;
      const bytes = new Uint8Array(range, offset, n);
      const dstCol = t.dst.column;
      if ((t.mode ?? "copy") === "copy") dstCol.device.queue.writeBuffer(t.dst.buffer, 0, bytes);
      else {
        const tmp = Tensor.empty(dstCol, t.dst.shape, `${t.dst.label} (incoming)`);
        dstCol.device.queue.writeBuffer(tmp.buffer, 0, bytes);
        const ew = await Elementwise.create(dstCol, { size: t.dst.size });
        ew.add(encoderFor(dstCol), { src: tmp, dst: t.dst });
        scratch.push(tmp);
      }
    }
    buf.unmap();
  }
  for (const enc of byColumn.values()) enc.submit();
  // Safe: the adds that read the scratch tensors are submitted before any later write.
  for (const t of scratch) t.dispose();
  return stats;
}
