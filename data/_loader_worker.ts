// Loader worker: reads batches of images from the shards off the main thread and
// transfers the buffers back (no copy).
//
//   in:  { type: "init", layout }  then  { type: "read", id, indices: Int32Array }
//   out: { id, images: Uint8Array }  or  { id, error: string }

/// <reference lib="deno.worker" />

import { type ShardLayout, ShardReader } from "./_shard_reader.ts";

let reader: ShardReader | null = null;

self.onmessage = (e: MessageEvent) => {
  const msg = e.data as
    | { type: "init"; layout: ShardLayout }
    | { type: "read"; id: number; indices: Int32Array }
    | { type: "close" };
  if (msg.type === "init") {
    reader = new ShardReader(msg.layout);
  } else if (msg.type === "close") {
    reader?.close();
    self.close();
  } else {
    try {
      if (!reader) throw new Error("loader worker: read before init");
      const images = reader.read(msg.indices);
      self.postMessage({ id: msg.id, images }, [images.buffer as ArrayBuffer]);
    } catch (err) {
      self.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
};
