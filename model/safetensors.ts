// The safetensors format (huggingface/safetensors), written and read by hand:
//
//   [8 bytes]  N, the header length, u64 little-endian
//   [N bytes]  JSON header: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
//              ..., "__metadata__": {"key": "string value"}}, padded with spaces so the
//              data starts 8-byte aligned (as the reference writer does)
//   [rest]     raw little-endian tensor data; offsets are relative to the start of this
//              region, contiguous from 0, no gaps, no overlaps, nothing after the last
//
// The reader validates everything the reference implementation does (header bounds,
// JSON, dtype, shape vs. byte size, offsets covering the data exactly) plus duplicate
// names (JSON.parse would silently keep the last), and every error names the file.
// Only F32 and I32 are supported: weights and momentum are f32; the golden fixtures
// store labels as I32.

/** A dtype this reader/writer supports. */
export type SafeDType = "F32" | "I32";

/** One tensor: a shape and its row-major data. */
export interface SafeTensor {
  /** Dimensions ([] for a scalar). */
  shape: number[];
  /** Row-major elements; Float32Array is F32, Int32Array is I32. */
  data: Float32Array | Int32Array;
}

/** The contents of a safetensors file. */
export interface SafetensorsContents {
  /** Tensors in header order. */
  tensors: Map<string, SafeTensor>;
  /** The `__metadata__` string map (empty if absent). */
  metadata: Record<string, string>;
}

// Dtypes of the format we recognise but do not read: a clearer error than "unknown".
const OTHER_DTYPES = [
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "I16",
  "U16",
  "F16",
  "BF16",
  "U32",
  "F64",
  "I64",
  "U64",
]; // deno-fmt-ignore

const MAX_HEADER = 100_000_000; // the reference implementation's limit
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Serialises tensors (in map order) and string metadata into safetensors bytes.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(new Map([["w", { shape: [2], data: new Float32Array([1, 2]) }]]));
 * console.assert(decodeSafetensors(bytes).tensors.get("w")!.data[1] === 2);
 * ```
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
      }
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "" || name === "__metadata__") {
      throw new RangeError(`safetensors: invalid tensor name "${name}"`);
    }
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RangeError(`safetensors: tensor ${name}: bad shape [${t.shape}]`);
    }
    if (product(t.shape) !== t.data.length) {
      throw new RangeError(
        `safetensors: tensor ${name}: shape [${t.shape}] has ${product(t.shape)} elements, ` +
          `data has ${t.data.length}`,
      );
    }
    const dtype = t.data instanceof Float32Array ? "F32" : "I32";
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(toLittleEndian(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

function toLittleEndian(data: Float32Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i], true);
    else view.setInt32(i * 4, data[i], true);
  }
  return out;
}

// The keys of the top-level JSON object, in order, duplicates included (the text has
// already been accepted by JSON.parse, so only strings and nesting need tracking).
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0, expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)));
      expectKey = false;
      i = j;
    } else if (ch === "{" || ch === "[") {
      depth++;
      expectKey = depth === 1;
    } else if (ch === "}" || ch === "]") {
      depth--;
    } else if (ch === "," && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/**
 * Parses and validates safetensors bytes; `file` names the source in errors.
 *
 * @example
 * ```ts
 * import { decodeSafetensors } from "./safetensors.ts";
 * try { decodeSafetensors(new Uint8Array(3), "x.safetensors"); } catch (e) { console.log(String(e)); }
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, file = "safetensors"): SafetensorsContents {
  const bad = (what: string): never => {
    throw new Error(`${file}: ${what}`);
  };
  if (bytes.length < 8) bad(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER) bad(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  if (8 + n > bytes.length) {
    bad(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return bad("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    bad("header is not a JSON object");
  }
  const keys = topLevelKeys(text.trimEnd());
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) bad(`duplicate tensor name "${k}" in the header`);
    seen.add(k);
  }
  const entries = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  if ("__metadata__" in entries) {
    const m = entries.__metadata__;
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      bad("__metadata__ is not an object");
    }
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v !== "string") {
        bad(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      }
      metadata[k] = v as string;
    }
  }
  const dataStart = 8 + n, dataLength = bytes.length - dataStart;
  const infos: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] =
    [];
  for (const name of keys) {
    if (name === "__metadata__") continue;
    const e = entries[name] as Record<string, unknown> | null;
    const t = `tensor "${name}"`;
    if (typeof e !== "object" || e === null) bad(`${t}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = e as Record<string, unknown>;
    if (dtype !== "F32" && dtype !== "I32") {
      if (OTHER_DTYPES.includes(dtype as string)) {
        bad(`${t}: dtype ${dtype} is not supported (expected F32 or I32)`);
      }
      bad(`${t}: unknown dtype ${JSON.stringify(dtype)} (expected F32 or I32)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`${t}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      bad(
        `${t}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${
          JSON.stringify(offsets)
        }`,
      );
    }
    const [begin, end] = offsets as number[];
    const s = shape as number[];
    if (end > dataLength) {
      bad(`${t}: data_offsets [${begin}, ${end}] run past the data (${dataLength} bytes)`);
    }
    if (product(s) * 4 !== end - begin) {
      bad(
        `${t}: shape [${s}] of ${dtype} needs ${product(s) * 4} bytes, data_offsets ` +
          `[${begin}, ${end}] span ${end - begin}`,
      );
    }
    infos.push({ name, dtype: dtype as SafeDType, shape: s, begin, end });
  }
  // The offsets must tile the data region exactly: sorted, contiguous from 0.
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0, prev = "";
  for (const t of sorted) {
    if (t.begin < at) bad(`tensor "${t.name}": data_offsets overlap tensor "${prev}"`);
    if (t.begin > at) {
      bad(
        `tensor "${t.name}": data_offsets are not contiguous (bytes [${at}, ${t.begin}) ` +
          `belong to no tensor)`,
      );
    }
    at = t.end;
    prev = t.name;
  }
  if (at !== dataLength) bad(`${dataLength - at} trailing bytes after the last tensor`);
  const tensors = new Map<string, SafeTensor>();
  for (const t of infos) {
    const raw = bytes.slice(dataStart + t.begin, dataStart + t.end); // aligned copy
    tensors.set(t.name, { shape: t.shape, data: fromLittleEndian(raw, t.dtype) });
  }
  return { tensors, metadata };
}

function fromLittleEndian(raw: Uint8Array, dtype: SafeDType): Float32Array | Int32Array {
  const n = raw.byteLength / 4;
  const out = dtype === "F32" ? new Float32Array(n) : new Int32Array(n);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(raw);
    return out;
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < n; i++) {
    out[i] = dtype === "F32" ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true);
  }
  return out;
}
