// Small prepared datasets for the model tests: written with the real shard builder
// (data/build.ts) so the real loader reads them, without sharp or image files.

import { buildShards } from "../data/build.ts";
import { type Dataset, openPrepared } from "../data/dataset.ts";
import { rng } from "../reference/rand.ts";

/** Options of {@link makeDataset}. */
export interface TestDatasetOptions {
  /** Training images. */
  train: number;
  /** Validation images. */
  val: number;
  /** Classes (labels cycle through them). */
  classes: number;
  /** Stored side S. */
  size: number;
  /** Seed of the pixels. */
  seed?: number;
  /** Greyscale images (R = G = B, as Fashion-MNIST's): blobs differ by brightness. */
  grey?: boolean;
}

/**
 * Writes a dataset of noisy images into `dir`: class k is a colour blob at a class-
 * dependent place over uniform noise, so it is learnable but not trivially constant.
 */
export async function makeDataset(dir: string, o: TestDatasetOptions): Promise<Dataset> {
  const S = o.size;
  const image = (label: number, key: number) => {
    const r = rng(((o.seed ?? 1) * 7919 + key) >>> 0);
    const px = new Uint8Array(S * S * 3);
    // Up to 12 distinct classes: a blob in one of four quadrants, in one of three colours.
    const cy = (S / 4) * (1 + 2 * (label % 2)),
      cx = (S / 4) * (1 + 2 * (Math.floor(label / 2) % 2));
    const colour = Math.floor(label / 4) % 3;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const inside = (y - cy) ** 2 + (x - cx) ** 2 < (S / 6) ** 2;
        if (o.grey) {
          const v = Math.min(255, (inside ? 45 * (colour + 1) : 0) + Math.floor(r() * 120));
          px.fill(v, (y * S + x) * 3, (y * S + x) * 3 + 3);
          continue;
        }
        for (let c = 0; c < 3; c++) {
          const base = inside ? (c === colour ? 135 : 40) : 0;
          px[(y * S + x) * 3 + c] = Math.min(255, base + Math.floor(r() * 120));
        }
      }
    }
    return px;
  };
  const items = (split: string, n: number, offset: number) =>
    Array.from({ length: n }, (_, i) => ({
      key: `${split}/${i}`,
      label: i % o.classes,
      load: () => Promise.resolve(image(i % o.classes, offset + i)),
    }));
  await buildShards({
    dir,
    name: "test",
    classes: Array.from({ length: o.classes }, (_, k) => `class${k}`),
    imageSize: S,
    source: { kind: "test", ...o },
    splits: { train: items("train", o.train, 0), val: items("val", o.val, 100_000) },
    progress: "quiet",
  });
  return await openPrepared(dir);
}
