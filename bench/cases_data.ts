// Data-pipeline throughput for `deno task bench`: prepare (decode + resize + crop +
// stats + shard writes, images/s) and the loader (shard reads in workers, batches/s).
// Each builds its own inputs in a temporary folder, checks the output once, then times.
//
//   deno run --allow-read --allow-write --allow-env --allow-ffi bench/cases_data.ts

import { encodeImage } from "../data/decode.ts";
import { buildShards } from "../data/build.ts";
import { openPrepared } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import { prepareFolder } from "../data/prepare.ts";
import { mulberry32 } from "../data/rng.ts";

/** Result of {@link benchPrepare}. */
export interface PrepareBenchResult {
  name: string;
  /** Images decoded and stored. */
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Result of {@link benchLoader}. */
export interface LoaderBenchResult {
  name: string;
  batches: number;
  seconds: number;
  batchesPerSecond: number;
  imagesPerSecond: number;
  /** Image bytes delivered per second, MB/s. */
  megabytesPerSecond: number;
}

/** A photo-like test image: smooth colour fields with noise (JPEG-compresses like photos). */
function photoLike(w: number, h: number, seed: number): Uint8Array {
  const r = mulberry32(seed), data = new Uint8Array(w * h * 3);
  const c = Array.from({ length: 9 }, () => r() * 255);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / w, v = y / h, o = 3 * (y * w + x);
      for (let k = 0; k < 3; k++) {
        data[o + k] = Math.min(
          255,
          c[k] * u + c[3 + k] * v + c[6 + k] * (1 - u) * (1 - v) / 2 + r() * 24,
        );
      }
    }
  }
  return data;
}

/**
 * Times `prepare` on a folder of `images` JPEGs of `width` x `height` (default 500x375,
 * about ImageNet's average) split over 4 classes, stored at `size` (default 256).
 *
 * @example
 * ```ts ignore
 * const r = await benchPrepare({ images: 200 }); // r.imagesPerSecond
 * ```
 */
export async function benchPrepare(
  opts: { images?: number; size?: number; width?: number; height?: number; concurrency?: number } =
    {},
): Promise<PrepareBenchResult> {
  const n = opts.images ?? 200, size = opts.size ?? 256;
  const w = opts.width ?? 500, h = opts.height ?? 375;
  const src = await Deno.makeTempDir({ prefix: "bench-prep-src-" });
  const out = await Deno.makeTempDir({ prefix: "bench-prep-out-" });
  try {
    for (let c = 0; c < 4; c++) await Deno.mkdir(`${src}/class${c}`);
    const templates = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          encodeImage({ data: photoLike(w, h, i), width: w, height: h, channels: 3 }, {
            kind: "jpeg",
            quality: 90,
          }),
      ),
    );
    for (let i = 0; i < n; i++) {
      await Deno.writeFile(`${src}/class${i % 4}/${i}.JPEG`, templates[i % templates.length]);
    }
    const report = await prepareFolder({
      src,
      out,
      size,
      valFraction: 0,
      concurrency: opts.concurrency,
      progress: "quiet",
    });
    if (report.skipped.length > 0 || report.counts.train !== n) {
      throw new Error(`benchPrepare: expected ${n} images, got ${report.counts.train}`);
    }
    return {
      name: `prepare ${n} JPEG ${w}x${h} -> ${size}`,
      images: n,
      seconds: report.seconds,
      imagesPerSecond: n / report.seconds,
    };
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
}

/**
 * Times the loader over a generated dataset of `images` S x S images (default S=256,
 * 2048 images, batch 128, 2 workers, prefetch 3): shuffled reads from the shards.
 *
 * @example
 * ```ts ignore
 * const r = await benchLoader({ size: 36, batch: 128 }); // r.batchesPerSecond
 * ```
 */
export async function benchLoader(
  opts: { size?: number; images?: number; batch?: number; workers?: number; prefetch?: number } =
    {},
): Promise<LoaderBenchResult> {
  const S = opts.size ?? 256, n = opts.images ?? 2048, batch = opts.batch ?? 128;
  const dir = await Deno.makeTempDir({ prefix: "bench-loader-" });
  const fill = (i: number) => new Uint8Array(S * S * 3).fill(i & 255);
  try {
    await buildShards({
      dir,
      name: "bench",
      classes: ["a", "b"],
      imageSize: S,
      source: { kind: "bench" },
      splits: {
        train: Array.from({ length: n }, (_, i) => ({
          key: String(i),
          label: i % 2,
          load: () => Promise.resolve(fill(i)),
        })),
        val: [],
      },
      progress: "quiet",
    });
    const ds = await openPrepared(dir);
    using loader = new Loader(ds, "train", {
      batch,
      seed: 1,
      workers: opts.workers ?? 2,
      prefetch: opts.prefetch ?? 3,
    });
    // Validate once: every image carries its index.
    for await (const b of loader) {
      b.indices.forEach((idx, k) => {
        if (b.images[k * S * S * 3] !== (idx & 255)) throw new Error("benchLoader: wrong image");
      });
      break;
    }
    loader.epoch = 1;
    const t0 = performance.now();
    let batches = 0;
    for await (const _ of loader) batches++;
    const seconds = (performance.now() - t0) / 1000;
    return {
      name: `loader ${S}x${S} batch ${batch} workers ${opts.workers ?? 2}`,
      batches,
      seconds,
      batchesPerSecond: batches / seconds,
      imagesPerSecond: (batches * batch) / seconds,
      megabytesPerSecond: (batches * batch * S * S * 3) / seconds / 1e6,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  for (
    const r of [await benchPrepare(), await benchPrepare({ size: 36, width: 160, height: 120 })]
  ) {
    console.log(`${r.name}: ${r.imagesPerSecond.toFixed(1)} images/s`);
  }
  for (
    const r of [
      await benchLoader(),
      await benchLoader({ workers: 0 }),
      await benchLoader({ size: 36, images: 20000 }),
    ]
  ) {
    console.log(
      `${r.name}: ${r.batchesPerSecond.toFixed(1)} batches/s ` +
        `(${r.imagesPerSecond.toFixed(0)} images/s, ${r.megabytesPerSecond.toFixed(0)} MB/s)`,
    );
  }
}
