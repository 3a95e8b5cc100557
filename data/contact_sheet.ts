// A contact sheet of a prepared dataset: `perClass` images of every class in a grid
// (one row per class), to look at what a dataset actually contains.
//
//   deno run --allow-read --allow-write --allow-env --allow-ffi data/contact_sheet.ts \
//     out/data/synthetic-36 /tmp/sheet.png [perClass=10] [scale=2]

import type { Dataset } from "./dataset.ts";
import { openPrepared } from "./dataset.ts";
import { ShardReader } from "./_shard_reader.ts";

/**
 * Builds a grid image (HWC RGB) with one row per class and `perClass` training images
 * per row, each scaled up `scale` times (nearest) with a 1-pixel gap.
 *
 * @example
 * ```ts ignore
 * const sheet = contactSheet(await openDataset({ kind: "synthetic", size: 36 }), 8, 2);
 * ```
 */
export function contactSheet(
  ds: Dataset,
  perClass: number,
  scale = 2,
): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const S = ds.imageSize, cell = S * scale + 1, C = ds.classes.length;
  const width = perClass * cell + 1, height = C * cell + 1;
  const data = new Uint8Array(width * height * 3).fill(255);
  const reader = new ShardReader(ds.train);
  try {
    for (let c = 0; c < C; c++) {
      const picks: number[] = [];
      for (let i = 0; i < ds.train.count && picks.length < perClass; i++) {
        if (ds.train.labels[i] === c) picks.push(i);
      }
      const images = reader.read(Int32Array.from(picks));
      picks.forEach((_, k) => {
        for (let y = 0; y < S * scale; y++) {
          for (let x = 0; x < S * scale; x++) {
            const src = k * S * S * 3 + 3 * (Math.floor(y / scale) * S + Math.floor(x / scale));
            const dst = 3 * ((c * cell + 1 + y) * width + k * cell + 1 + x);
            data.set(images.subarray(src, src + 3), dst);
          }
        }
      });
    }
  } finally {
    reader.close();
  }
  return { data, width, height, channels: 3 };
}

if (import.meta.main) {
  const [dir, outPath, perClass = "10", scale = "2"] = Deno.args;
  if (!dir || !outPath) {
    console.error("usage: contact_sheet.ts DATASET_DIR OUT.png [perClass] [scale]");
    Deno.exit(2);
  }
  const { encodeImage } = await import("./decode.ts");
  const sheet = contactSheet(await openPrepared(dir), Number(perClass), Number(scale));
  await Deno.writeFile(outPath, await encodeImage(sheet, { kind: "png" }));
  console.log(`${outPath}: ${sheet.width}x${sheet.height}`);
}
