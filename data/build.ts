// Turns lists of inputs (files, generated images, IDX records) into the shard format of
// shards.ts. Shared by `prepare` (image folders), Fashion-MNIST and the synthetic set,
// so all three get the same resume, stats, atomic writes and bad-input handling.
//
// The plan is fixed up front: split items are cut into shards of `shardImages` inputs in
// order. A shard whose metadata exists with the same plan hash is not redone. Within a
// shard, up to `concurrency` loads run at once (sharp decodes on libuv threads); images
// are packed in plan order whatever order the loads finish in.

import { PixelStats } from "./stats.ts";
import { lightingPca } from "./stats.ts";
import { Progress } from "./progress.ts";
import {
  bytesOf,
  FORMAT,
  FORMAT_VERSION,
  type IndexFile,
  readTyped,
  sha256Hex,
  shardBase,
  type ShardEntry,
  type ShardMeta,
  type SkippedInput,
  type SplitEntry,
  writeAtomic,
} from "./shards.ts";

/** One input to prepare. */
export interface BuildItem {
  /** Stable name (file path, or a generated id): used in reports and the resume hash. */
  key: string;
  /** Class index. */
  label: number;
  /** Produces the packed S x S x 3 image; throwing skips the input (it is reported). */
  load(): Promise<Uint8Array>;
}

/** What to build. */
export interface BuildSpec {
  dir: string;
  name: string;
  classes: string[];
  imageSize: number;
  /** Stored in index.json; the options that change the output (plan hash input). */
  source: Record<string, unknown>;
  splits: { train: BuildItem[]; val: BuildItem[] };
  /** Inputs per shard (default: about 128 MiB of images). */
  shardImages?: number;
  /** Loads in flight (default 4). */
  concurrency?: number;
  /** Progress output: "auto" (bar on a TTY, lines otherwise) or "quiet". */
  progress?: "auto" | "quiet";
  /** Warnings found while listing inputs (they go into the report). */
  warnings?: string[];
}

/** The outcome of a build. */
export interface BuildReport {
  /** The dataset folder. */
  dir: string;
  /** Images written per split. */
  counts: { train: number; val: number };
  /** Inputs skipped (corrupt, truncated, non-image, over the pixel limit, ...). */
  skipped: SkippedInput[];
  /** Empty classes, unlabelled or missing files, ... */
  warnings: string[];
  /** Shards reused from an earlier, interrupted run. */
  resumedShards: number;
  /** Shards written by this run. */
  writtenShards: number;
  /** Images loaded per second by this run (decode + resize + stats). */
  imagesPerSecond: number;
  /** Wall time of this run. */
  seconds: number;
}

/** Default inputs per shard for an image side: about 128 MiB per shard. */
export function defaultShardImages(size: number): number {
  return Math.max(64, Math.floor((128 * 2 ** 20) / (size * size * 3)));
}

/**
 * Builds (or resumes) a prepared dataset in `spec.dir`.
 *
 * @example
 * ```ts ignore
 * const report = await buildShards({ dir, name, classes, imageSize: 36, source: {},
 *   splits: { train: items, val: [] } });
 * ```
 */
export async function buildShards(spec: BuildSpec): Promise<BuildReport> {
  const t0 = performance.now();
  const S = spec.imageSize, imageBytes = S * S * 3;
  const shardImages = spec.shardImages ?? defaultShardImages(S);
  const concurrency = Math.max(1, spec.concurrency ?? 4);
  const quiet = spec.progress === "quiet";
  await Deno.mkdir(spec.dir, { recursive: true });
  // The index marks a finished dataset; it is rewritten (atomically) at the end.
  await Deno.remove(`${spec.dir}/index.json`).catch(() => {});
  const optionsKey = JSON.stringify({ S, source: spec.source, classes: spec.classes });

  const skipped: SkippedInput[] = [];
  const stats = new PixelStats(S);
  let resumedShards = 0, writtenShards = 0, loaded = 0;
  const entries: Record<"train" | "val", SplitEntry> = {} as Record<"train" | "val", SplitEntry>;
  const allLabels: Record<"train" | "val", number[]> = { train: [], val: [] };

  for (const split of ["train", "val"] as const) {
    const items = spec.splits[split];
    const progress = new Progress(items.length, `${spec.name} ${split}`, { quiet });
    const shards: ShardEntry[] = [];
    const classCounts = new Array(spec.classes.length).fill(0);
    let start = 0;
    for (let s = 0; s * shardImages < items.length; s++) {
      const chunk = items.slice(s * shardImages, (s + 1) * shardImages);
      const base = `${spec.dir}/${shardBase(split, s)}`;
      const planHash = await sha256Hex(
        optionsKey + "\n" + chunk.map((it) => `${it.label}\t${it.key}`).join("\n"),
      );
      let meta = await readShardMeta(`${base}.json`, planHash, imageBytes);
      let shardStats: PixelStats | null = null;
      if (meta && split === "train") {
        shardStats = await readTyped(`${base}.stats`, Float64Array, 3 * S * S + 10)
          .then((sums) => new PixelStats(S, sums)).catch(() => null);
        if (!shardStats) meta = null;
      }
      if (meta) {
        resumedShards++;
        progress.tick(chunk.length);
      } else {
        const built = await buildShard(chunk, split, imageBytes, concurrency, progress);
        loaded += built.count;
        shardStats = split === "train" ? new PixelStats(S) : null;
        for (let i = 0; shardStats && i < built.count; i++) {
          shardStats.add(built.images.subarray(i * imageBytes, (i + 1) * imageBytes));
        }
        const images = built.images.subarray(0, built.count * imageBytes);
        meta = {
          planHash,
          count: built.count,
          bytes: images.byteLength,
          sha256: await sha256Hex(images),
          labels: built.labels,
          skipped: built.skipped,
        };
        await writeAtomic(`${base}.u8`, images);
        if (shardStats) await writeAtomic(`${base}.stats`, bytesOf(shardStats.sums));
        await writeAtomic(`${base}.json`, JSON.stringify(meta)); // marks the shard done
        writtenShards++;
      }
      if (shardStats) stats.merge(shardStats);
      for (const sk of meta.skipped) skipped.push(sk);
      for (const l of meta.labels) classCounts[l]++, allLabels[split].push(l);
      shards.push({
        file: `${shardBase(split, s)}.u8`,
        count: meta.count,
        start,
        bytes: meta.bytes,
        sha256: meta.sha256,
      });
      start += meta.count;
    }
    progress.done();
    entries[split] = { count: start, classCounts, labels: `${split}.labels.i32`, shards };
  }

  const warnings = [...(spec.warnings ?? [])];
  spec.classes.forEach((c, i) => {
    if (entries.train.classCounts[i] === 0) warnings.push(`class "${c}" has no training images`);
  });
  if (entries.train.count === 0) {
    throw new Error(`${spec.name}: no usable training images (${skipped.length} skipped)`);
  }

  for (const split of ["train", "val"] as const) {
    await writeAtomic(
      `${spec.dir}/${split}.labels.i32`,
      bytesOf(Int32Array.from(allLabels[split])),
    );
  }
  await writeAtomic(`${spec.dir}/mean.f32`, bytesOf(stats.mean()));
  const cov = stats.covariance();
  const eig = lightingPca(cov);
  if (!eig.colour) {
    warnings.push(
      "the images have no colour (R = G = B): the paper's PCA lighting noise is off for this dataset",
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const report: BuildReport = {
    dir: spec.dir,
    counts: { train: entries.train.count, val: entries.val.count },
    skipped,
    warnings,
    resumedShards,
    writtenShards,
    imagesPerSecond: loaded / seconds,
    seconds,
  };
  await writeAtomic(`${spec.dir}/report.json`, JSON.stringify(report, null, 2));
  const index: IndexFile = {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: spec.name,
    classes: spec.classes,
    imageSize: S,
    channels: 3,
    layout: "NHWC uint8",
    source: spec.source,
    splits: entries,
    mean: "mean.f32",
    pca: {
      eigvecs: [...eig.eigvecs],
      eigvals: [...eig.eigvals],
      colour: eig.colour,
      covariance: [...cov],
    },
    skipped: skipped.length,
    fingerprint: "",
  };
  index.fingerprint = (await sha256Hex(JSON.stringify({ ...index, fingerprint: "" })))
    .slice(0, 32);
  await writeAtomic(`${spec.dir}/index.json`, JSON.stringify(index, null, 1));
  return report;
}

async function readShardMeta(
  path: string,
  planHash: string,
  imageBytes: number,
): Promise<ShardMeta | null> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(path)) as ShardMeta;
    if (meta.planHash !== planHash || meta.bytes !== meta.count * imageBytes) return null;
    const stat = await Deno.stat(path.replace(/\.json$/, ".u8"));
    return stat.size === meta.bytes ? meta : null;
  } catch {
    return null;
  }
}

async function buildShard(
  chunk: BuildItem[],
  split: "train" | "val",
  imageBytes: number,
  concurrency: number,
  progress: Progress,
): Promise<{ images: Uint8Array; count: number; labels: number[]; skipped: SkippedInput[] }> {
  const results: (Uint8Array | string)[] = new Array(chunk.length);
  let next = 0;
  const worker = async () => {
    while (next < chunk.length) {
      const i = next++;
      try {
        const img = await chunk[i].load();
        if (img.byteLength !== imageBytes) {
          throw new Error(`expected ${imageBytes} bytes of pixels, got ${img.byteLength}`);
        }
        results[i] = img;
      } catch (e) {
        results[i] = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      }
      progress.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunk.length) }, worker));
  const images = new Uint8Array(chunk.length * imageBytes);
  const labels: number[] = [], skipped: SkippedInput[] = [];
  results.forEach((r, i) => {
    if (typeof r === "string") {
      skipped.push({ split, input: chunk[i].key, reason: r });
    } else {
      images.set(r, labels.length * imageBytes);
      labels.push(chunk[i].label);
    }
  });
  return { images, count: labels.length, labels, skipped };
}
