// The prepared-dataset format on disk, and opening it.
//
//   index.json              written LAST: its presence means the preparation finished
//   <split>-NNNNN.u8        packed images, [count, S, S, 3] uint8 HWC
//   <split>-NNNNN.json      shard metadata (count, labels, skipped inputs, sha-256); it is
//                           written after the .u8 and marks the shard finished (resume)
//   train-NNNNN.stats       f64 pixel sums of the shard (see PixelStats) for mean and PCA
//   <split>.labels.i32      all labels of the split, little-endian int32
//   mean.f32                mean image [3, S, S] CHW f32 (0..255), little-endian
//   report.json             skipped inputs and warnings of the preparation
//
// Every file is written to a temporary name and renamed into place, so an interrupted
// run never leaves a half-written file under a final name.

import { DataError } from "../errors.ts";

/** Format tag stored in index.json. */
export const FORMAT = "alexnet-webgpu/shards";
/** Format version; bump when the layout changes. */
export const FORMAT_VERSION = 1;

/** One shard as index.json lists it. */
export interface ShardEntry {
  /** File name relative to the dataset directory. */
  file: string;
  /** Images in the shard. */
  count: number;
  /** Dataset index of the shard's first image. */
  start: number;
  /** Byte length (count * S * S * 3). */
  bytes: number;
  /** Hex SHA-256 of the shard bytes. */
  sha256: string;
}

/** A split as index.json lists it. */
export interface SplitEntry {
  count: number;
  /** Images per class. */
  classCounts: number[];
  /** Labels file name. */
  labels: string;
  shards: ShardEntry[];
}

/** The contents of index.json. */
export interface IndexFile {
  format: typeof FORMAT;
  version: number;
  name: string;
  classes: string[];
  imageSize: number;
  channels: 3;
  layout: "NHWC uint8";
  /** What was prepared and how (cache key for generated datasets). */
  source: Record<string, unknown>;
  splits: { train: SplitEntry; val: SplitEntry };
  mean: string;
  /** RGB covariance eigen-decomposition over the training pixels (0..255 scale). */
  /** `colour` is absent in folders prepared before it was recorded. */
  pca: { eigvecs: number[]; eigvals: number[]; colour?: boolean; covariance: number[] };
  skipped: number;
  fingerprint: string;
}

/** Shard metadata file (<split>-NNNNN.json). */
export interface ShardMeta {
  /** Hash of the planned inputs of this shard and the preparation options. */
  planHash: string;
  count: number;
  bytes: number;
  sha256: string;
  labels: number[];
  skipped: SkippedInput[];
}

/** An input that could not be used, and why. */
export interface SkippedInput {
  /** The split the input was meant for. */
  split: "train" | "val";
  /** The input's name (path relative to the source, or a generated id). */
  input: string;
  /** The decoder's message (first line). */
  reason: string;
}

/** Writes `data` to `path` atomically (temporary file in the same folder, then rename). */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Hex SHA-256 of bytes or a string. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `name-00042` style shard base names. */
export function shardBase(split: string, i: number): string {
  return `${split}-${String(i).padStart(5, "0")}`;
}

/** Reads and validates index.json in `dir`; returns null if there is none. */
export async function readIndex(dir: string): Promise<IndexFile | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/index.json`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let index: IndexFile;
  try {
    index = JSON.parse(text);
  } catch (e) {
    throw new DataError(`${dir}/index.json: not valid JSON (${(e as Error).message})`);
  }
  if (index.format !== FORMAT || index.version !== FORMAT_VERSION) {
    throw new DataError(
      `${dir}/index.json: expected format ${FORMAT} v${FORMAT_VERSION}, ` +
        `got ${index.format} v${index.version}`,
    );
  }
  return index;
}

/** Little-endian bytes of a typed array (the platforms we run on are little-endian). */
export function bytesOf(a: Float32Array | Float64Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Reads a whole binary file as a typed array of `kind`, checking its length. */
export async function readTyped<T extends Float32Array | Float64Array | Int32Array>(
  path: string,
  kind: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
  expectedLength: number,
): Promise<T> {
  const bytes = await Deno.readFile(path);
  if (bytes.byteLength !== expectedLength * kind.BYTES_PER_ELEMENT) {
    throw new DataError(
      `${path}: expected ${expectedLength * kind.BYTES_PER_ELEMENT} bytes, got ${bytes.byteLength}`,
    );
  }
  return new kind(bytes.slice().buffer);
}
