// Preparing image folders (the ImageNet layouts) into shards.
//
//   class folders:  SRC/<class>/<image files>     (ILSVRC train: n01440764/*.JPEG)
//   flat + labels:  SRC/<image files> and a labels file of "filename class" lines
//                   (ILSVRC val; comma or whitespace separated; extension optional,
//                   so LOC_val_solution.csv works; a header line is ignored)
//
// Classes are sorted by name; label i is classes[i]. Files are taken in sorted order.
// Hidden files (starting with ".") are ignored; anything else that fails to decode is
// skipped and reported. A validation split comes from --val-src (same layouts), or is a
// deterministic per-class fraction of the training source (--val-fraction, default 0.1).

import { type BuildItem, type BuildReport, buildShards } from "./build.ts";
import { hash32 } from "./rng.ts";

/** Options of {@link prepareFolder}. */
export interface PrepareOptions {
  /** Training source folder. */
  src: string;
  /** Output dataset folder. */
  out: string;
  /** Stored side S (short side scaled to S, centre S x S crop). Default 256. */
  size?: number;
  /** Labels file: makes `src` a flat folder of images. */
  labels?: string;
  /** Validation source folder (class folders, or flat with `valLabels`). */
  valSrc?: string;
  /** Labels file making `valSrc` a flat folder. */
  valLabels?: string;
  /** Fraction of each training class held out as val when there is no `valSrc`. */
  valFraction?: number;
  /** Seed of the held-out selection. Default 0. */
  seed?: number;
  /** Decodes in flight. Default 4. */
  concurrency?: number;
  /** Reject images with more pixels than this. Default 2^28. */
  limitPixels?: number;
  /** Alpha is composited over this colour. Default "black". */
  background?: "black" | "white";
  /** Images per shard (default about 128 MiB). */
  shardImages?: number;
  /** "auto" (default) or "quiet". */
  progress?: "auto" | "quiet";
}

/** A listed source. */
export interface SourceListing {
  classes: string[];
  /** Absolute or src-relative file paths with their class names, sorted. */
  files: { path: string; key: string; className: string }[];
  warnings: string[];
  /** Files that could not be given a class (flat layout without a label). */
  unlabelled: string[];
}

async function readDirSorted(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) out.push(e);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Parses a labels file into filename -> class name (the first token after the name). */
export function parseLabels(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [file, cls] = line.split(/[\s,]+/);
    if (map.size === 0 && /^(image_?id|file_?name|file|image|name)$/i.test(file)) continue; // header
    if (file && cls) map.set(file, cls);
  }
  return map;
}

/**
 * Lists a source folder: class sub-folders, or (with a labels file) a flat folder.
 * Throws if there are no classes at all.
 *
 * @example
 * ```ts ignore
 * const { classes, files } = await listSource("/data/imagenet/train");
 * ```
 */
export async function listSource(src: string, labelsFile?: string): Promise<SourceListing> {
  const entries = await readDirSorted(src).catch((e) => {
    throw new Error(`source ${src}: ${e instanceof Error ? e.message : e}`);
  });
  const warnings: string[] = [], unlabelled: string[] = [];
  const files: SourceListing["files"] = [];
  if (labelsFile) {
    const labels = parseLabels(await Deno.readTextFile(labelsFile));
    const used = new Set<string>();
    for (const e of entries) {
      if (e.isDirectory) continue;
      const stem = e.name.replace(/\.[^.]*$/, "");
      const key = labels.has(e.name) ? e.name : stem;
      const cls = labels.get(key);
      if (cls === undefined) unlabelled.push(e.name);
      else {
        used.add(key);
        files.push({ path: `${src}/${e.name}`, key: e.name, className: cls });
      }
    }
    const classes = [...new Set(files.map((f) => f.className))].sort();
    const missing = [...labels.keys()].filter((k) => !used.has(k)).length;
    if (missing > 0) warnings.push(`${missing} labelled files were not found in ${src}`);
    if (classes.length === 0) {
      throw new Error(`labels file ${labelsFile}: no "file class" line names a file in ${src}`);
    }
    return { classes, files, warnings, unlabelled };
  }
  const dirs = entries.filter((e) => e.isDirectory);
  if (dirs.length === 0) {
    const hint = entries.length > 0
      ? " (it holds files: pass --labels FILE for a flat folder)"
      : "";
    throw new Error(
      `source ${src}: no class folders; expected ${src}/<class>/<images>${hint}`,
    );
  }
  for (const d of dirs) {
    const inner = await readDirSorted(`${src}/${d.name}`);
    const images = inner.filter((e) => !e.isDirectory);
    if (images.length === 0) warnings.push(`class folder "${d.name}" is empty`);
    if (inner.length > images.length) {
      warnings.push(
        `class folder "${d.name}": ${inner.length - images.length} sub-folders ignored`,
      );
    }
    for (const e of images) {
      files.push({
        path: `${src}/${d.name}/${e.name}`,
        key: `${d.name}/${e.name}`,
        className: d.name,
      });
    }
  }
  return { classes: dirs.map((d) => d.name), files, warnings, unlabelled };
}

/**
 * Prepares an image-folder dataset (resumable: rerun the same command after an
 * interruption and finished shards are kept).
 *
 * @example
 * ```ts ignore
 * const report = await prepareFolder({ src: "/data/imagenet/train", out: "out/imagenet" });
 * console.log(report.counts, report.skipped.length);
 * ```
 */
export async function prepareFolder(opts: PrepareOptions): Promise<BuildReport> {
  const size = opts.size ?? 256;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`prepare: bad --size ${size}`);
  const valFraction = opts.valSrc ? 0 : opts.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`prepare: --val-fraction must be in [0, 1), got ${valFraction}`);
  }
  const { decodeSquare } = await import("./decode.ts");
  const decode = { limitPixels: opts.limitPixels, background: opts.background ?? "black" };
  const train = await listSource(opts.src, opts.labels);
  const warnings = [...train.warnings];
  const classIndex = new Map(train.classes.map((c, i) => [c, i]));
  const item = (f: { path: string; key: string; className: string }, prefix: string) => ({
    key: prefix + f.key,
    label: classIndex.get(f.className) ?? -1,
    load: async () => await decodeSquare(await Deno.readFile(f.path), size, decode),
  });
  let trainItems: BuildItem[] = train.files.map((f) => item(f, ""));
  let valItems: BuildItem[] = [];
  const orphans: BuildItem[] = train.unlabelled.map((name) => ({
    key: name,
    label: -1,
    load: () => Promise.reject(new Error("no label in the labels file")),
  }));
  if (opts.valSrc) {
    const val = await listSource(opts.valSrc, opts.valLabels);
    warnings.push(...val.warnings.map((w) => `val: ${w}`));
    valItems = val.files.map((f) => {
      const it = item(f, "val:");
      if (it.label >= 0) return it;
      return { ...it, load: () => Promise.reject(new Error(`class ${f.className} not in train`)) };
    });
  } else if (valFraction > 0) {
    ({ trainItems, valItems } = holdOut(
      trainItems,
      train.classes.length,
      valFraction,
      opts.seed ?? 0,
    ));
  }
  // Inputs that cannot be labelled still go through the builder so they are reported.
  for (const o of orphans) trainItems.push(o);
  return await buildShards({
    dir: opts.out,
    name: opts.out.replace(/\/+$/, "").split("/").pop() || "dataset",
    classes: train.classes,
    imageSize: size,
    source: {
      kind: "folder",
      src: opts.src,
      labels: opts.labels ?? null,
      valSrc: opts.valSrc ?? null,
      valFraction,
      seed: opts.seed ?? 0,
      background: decode.background,
      limitPixels: opts.limitPixels ?? null,
    },
    splits: { train: trainItems, val: valItems },
    shardImages: opts.shardImages,
    concurrency: opts.concurrency,
    progress: opts.progress,
    warnings,
  });
}

/** Takes round(n * fraction) items per class, chosen by a seeded hash of their keys. */
function holdOut(
  items: BuildItem[],
  classes: number,
  fraction: number,
  seed: number,
): { trainItems: BuildItem[]; valItems: BuildItem[] } {
  const keyHash = (s: string) => {
    let h = seed;
    for (let i = 0; i < s.length; i++) h = hash32(h, s.charCodeAt(i));
    return h;
  };
  const val = new Set<BuildItem>();
  for (let c = 0; c < classes; c++) {
    const mine = items.filter((it) => it.label === c);
    const ranked = mine.map((it) => [keyHash(it.key), it] as const).sort((a, b) => a[0] - b[0]);
    const k = Math.round(mine.length * fraction);
    for (let i = 0; i < k; i++) val.add(ranked[i][1]);
  }
  return {
    trainItems: items.filter((it) => !val.has(it)),
    valItems: items.filter((it) => val.has(it)),
  };
}
