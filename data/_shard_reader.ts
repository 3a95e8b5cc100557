// Random-access reads of images from shard files, used inside loader workers (and on
// the main thread when a loader has no workers). Synchronous on purpose: in a worker,
// blocking is free, and positioned reads keep one open handle per shard.

import { DataError } from "../errors.ts";

/** The shard layout a reader needs (plain data: it is posted to workers). */
export interface ShardLayout {
  dir: string;
  shards: { file: string; start: number; count: number }[];
  imageBytes: number;
}

/** Reads images by dataset index into caller-provided buffers. */
export class ShardReader {
  readonly layout: ShardLayout;
  #files: (Deno.FsFile | null)[];

  constructor(layout: ShardLayout) {
    this.layout = layout;
    this.#files = layout.shards.map(() => null);
  }

  /** Reads the images `indices` into a new [n, S, S, 3] buffer, in the given order. */
  read(indices: Int32Array): Uint8Array {
    const { imageBytes, shards } = this.layout;
    const out = new Uint8Array(new ArrayBuffer(indices.length * imageBytes));
    // Visit in index order for locality, write each to its batch slot.
    const order = Array.from(indices.keys()).sort((a, b) => indices[a] - indices[b]);
    for (const slot of order) {
      const index = indices[slot];
      const s = this.#shardOf(index);
      const file = this.#files[s] ??= Deno.openSync(`${this.layout.dir}/${shards[s].file}`);
      file.seekSync((index - shards[s].start) * imageBytes, Deno.SeekMode.Start);
      const dst = out.subarray(slot * imageBytes, (slot + 1) * imageBytes);
      let got = 0;
      while (got < imageBytes) {
        const n = file.readSync(dst.subarray(got));
        if (n === null || n === 0) {
          throw new DataError(`${shards[s].file}: truncated shard reading image ${index}`);
        }
        got += n;
      }
    }
    return out;
  }

  #shardOf(index: number): number {
    const shards = this.layout.shards;
    let lo = 0, hi = shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (shards[mid].start <= index) lo = mid;
      else hi = mid - 1;
    }
    const sh = shards[lo];
    if (!sh || index < sh.start || index >= sh.start + sh.count) {
      throw new RangeError(`image index ${index} is outside the split`);
    }
    return lo;
  }

  /** Closes the open shard files. */
  close(): void {
    for (const f of this.#files) f?.close();
    this.#files.fill(null);
  }
}
