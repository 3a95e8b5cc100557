// IDX files (the MNIST / Fashion-MNIST container), plain or gzip-compressed.
//
//   bytes 0-1: 0x00 0x00   byte 2: element type (0x08 = uint8)   byte 3: number of dims
//   then one big-endian uint32 per dimension, then the elements in row-major order.

import { DataError } from "../errors.ts";

/** A parsed uint8 IDX array. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Decompresses gzip data (detected by its 0x1f 0x8b magic); returns other data as is. */
export async function maybeGunzip(bytes: Uint8Array, what = "input"): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DataError(`${what}: corrupt gzip data (${e instanceof Error ? e.message : e})`);
  }
}

/**
 * Parses an IDX file of uint8 elements, validating the magic number, the number of
 * dimensions (when `expectDims` is given) and that the data length matches the header.
 *
 * @example
 * ```ts
 * import { parseIdx } from "./idx.ts";
 * const file = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]);
 * parseIdx(file, "labels", 1); // { dims: [2], data: Uint8Array [7, 9] }
 * ```
 */
export function parseIdx(bytes: Uint8Array, what: string, expectDims?: number): IdxArray {
  if (bytes.length < 4) throw new DataError(`${what}: ${bytes.length} bytes is too short for IDX`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0"));
    throw new DataError(`${what}: bad IDX magic 0x${magic.join("")} (expected 0x0000 08 0N)`);
  }
  if (bytes[2] !== 0x08) {
    throw new DataError(
      `${what}: IDX element type 0x${bytes[2].toString(16)}, expected 0x08 (uint8)`,
    );
  }
  const nd = bytes[3];
  if (expectDims !== undefined && nd !== expectDims) {
    throw new DataError(`${what}: expected ${expectDims} IDX dimensions, got ${nd}`);
  }
  if (nd === 0) throw new DataError(`${what}: IDX with 0 dimensions`);
  const headerBytes = 4 + 4 * nd;
  if (bytes.length < headerBytes) throw new DataError(`${what}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerBytes;
  if (have !== n) {
    throw new DataError(
      `${what}: IDX header [${dims.join(", ")}] needs ${n} bytes of data, file has ${have}` +
        (have < n ? " (truncated)" : " (trailing bytes)"),
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Serialises a uint8 IDX array (tests and fixtures build files with it). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/**
 * Bilinear resize of one greyscale image with half-pixel centres and clamped edges
 * (PyTorch `align_corners=False`, PIL's bilinear when enlarging; no antialiasing when
 * shrinking), replicated into packed HWC RGB.
 *
 * @example
 * ```ts
 * import { resizeGreyToRgb } from "./idx.ts";
 * const rgb = resizeGreyToRgb(new Uint8Array([0, 255, 0, 255]), 2, 2, 4); // 4x4x3
 * ```
 */
export function resizeGreyToRgb(
  src: Uint8Array,
  h: number,
  w: number,
  size: number,
): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  const sy = h / size, sx = w / size;
  for (let y = 0; y < size; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, h - 1), wy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, w - 1), wx = fx - x0;
      const top = src[y0 * w + x0] * (1 - wx) + src[y0 * w + x1] * wx;
      const bot = src[y1 * w + x0] * (1 - wx) + src[y1 * w + x1] * wx;
      const v = Math.round(top * (1 - wy) + bot * wy);
      const o = 3 * (y * size + x);
      out[o] = out[o + 1] = out[o + 2] = v;
    }
  }
  return out;
}
