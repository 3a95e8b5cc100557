// `deno task predict --checkpoint DIR image.jpg ...`: the top-5 classes of each image
// with their probabilities, from a checkpoint written by `deno task train`.
//
// Each image goes through the training input path: decoded and resized (short side to
// the config's stored size, centre square) by data/decode.ts, then the centre crop — or
// the paper's 10 crops, softmax averaged, with --ten-crop — minus the training mean
// image saved in the checkpoint (model/classifier.ts, which the web page shares). A folder argument means every image file under it.
// An image that cannot be read is reported in one line and skipped; the others are
// still predicted. Exit codes: 0 done, 1 an image or the checkpoint could not be read,
// 2 bad command line.

import { parseFlags } from "../flags.ts";
import { DataError, reportError, UsageError } from "../errors.ts";

import { openColumns } from "../kernels/columns.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { Classifier } from "./classifier.ts";
import { preferFastSoftwareCompiles } from "./software.ts";

export { topK } from "./classifier.ts";

const HELP = `Classify images with a trained checkpoint.

Usage: deno task predict --checkpoint DIR [options] (image | folder) ...

  --checkpoint DIR   a checkpoint folder written by deno task train (e.g. out/train/checkpoint)
  --ten-crop         average the softmax over the paper's 10 crops (default: centre crop)
  --top N            classes to print per image (default 5)
  --columns N        1 or 2 devices (default 1)
  --grid FILE        also write a PNG of the images with their top-5 beside them
  --help             this text
`;

/** One image's ranked predictions. */
export interface Prediction {
  /** The image path. */
  file: string;
  /** Best classes first. */
  top: { label: number; name: string; probability: number }[];
  /** The stored S x S RGB square the crops were taken from (HWC). */
  image: Uint8Array;
  /** S, the side of `image`. */
  size: number;
}

/** Options of {@link predict}. */
export interface PredictOptions {
  /** Average the softmax over the paper's 10 crops (default: centre crop). */
  tenCrop?: boolean;
  /** Classes per image (default 5). */
  top?: number;
  /** 1 or 2 devices (default 1). */
  columns?: 1 | 2;
  /**
   * Called for each image that cannot be read, which is then skipped; without it the
   * first such image throws a DataError.
   */
  onError?: (file: string, error: DataError) => void;
}

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|avif|tiff?|svg)$/i;

/**
 * The image files under `path` (sorted, subfolders included) if it is a folder, or
 * `[path]` itself.
 *
 * @example
 * ```ts ignore
 * const files = await imageFiles("photos/"); // ["photos/a.jpg", "photos/cats/b.png", ...]
 * ```
 */
export async function imageFiles(path: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new DataError(`${path}: ${(e as Error).message.split(":")[0]}`, { cause: e });
  }
  if (!info.isDirectory) return [path];
  const out: string[] = [];
  const walk = async (dir: string) => {
    const entries = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    for (const e of entries) {
      const p = `${dir.replace(/\/+$/, "")}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (IMAGE_EXTENSIONS.test(e.name)) out.push(p);
    }
  };
  await walk(path);
  return out.sort();
}

/**
 * Classifies image files with a checkpoint.
 *
 * @example
 * ```ts ignore
 * const preds = await predict("out/train/checkpoint", ["cat.jpg"], { tenCrop: true });
 * console.log(preds[0].top[0].name);
 * ```
 */
export async function predict(
  checkpoint: string,
  files: string[],
  opts: PredictOptions = {},
): Promise<Prediction[]> {
  const ck = await loadCheckpoint(checkpoint);
  const S = ck.state.config.storedSize;
  const { decodeSquare } = await import("../data/decode.ts");
  const images: Uint8Array[] = [], read: string[] = [];
  for (const f of files) {
    try {
      images.push(await decodeSquare(f, S));
      read.push(f);
    } catch (e) {
      const err = new DataError(`${f}: cannot read the image (${(e as Error).message})`);
      if (!opts.onError) throw err;
      opts.onError(f, err);
    }
  }
  if (images.length === 0) return [];
  const opened = await openColumns({ count: opts.columns ?? 1 });
  let classifier: Classifier | undefined;
  try {
    classifier = await Classifier.create({
      weights: ck.weights,
      state: ck.state,
      columns: opened.columns,
      batch: Math.min(images.length, 16),
      where: checkpoint,
    });
    const ranked = await classifier.rank(images, { tenCrop: opts.tenCrop, top: opts.top });
    return ranked.map((top, i) => ({ file: read[i], top, image: images[i], size: S }));
  } finally {
    classifier?.dispose();
    opened.destroy();
  }
}

/** Runs the command line; returns the exit code (errors become one line, errors.ts). */
export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseFlags({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        checkpoint: { type: "string" },
        "ten-crop": { type: "boolean" },
        top: { type: "string" },
        columns: { type: "string" },
        grid: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const top = values.top === undefined ? 5 : Number(values.top);
    const usage = !values.checkpoint
      ? "--checkpoint DIR is required"
      : positionals.length === 0
      ? "give at least one image or folder"
      : !(Number.isInteger(top) && top >= 1)
      ? `--top must be a positive integer, got "${values.top}"`
      : values.columns !== undefined && values.columns !== "1" && values.columns !== "2"
      ? `--columns must be 1 or 2, got "${values.columns}"`
      : null;
    if (usage) throw new UsageError(usage);
    let failed = 0;
    const files: string[] = [];
    for (const p of positionals) {
      try {
        files.push(...await imageFiles(p));
      } catch (e) {
        reportError("predict", e);
        failed++;
      }
    }
    if (files.length === 0 && failed === 0) {
      throw new DataError(`no image files in ${positionals.join(", ")}`);
    }
    const preds = await predict(values.checkpoint!, files, {
      tenCrop: values["ten-crop"],
      top,
      columns: values.columns === "2" ? 2 : 1,
      onError: (_, e) => {
        reportError("predict", e);
        failed++;
      },
    });
    for (const p of preds) {
      console.log(p.file);
      const width = Math.max(...p.top.map((t) => t.name.length));
      p.top.forEach((t, i) => {
        console.log(
          `  ${i + 1}. ${t.name.padEnd(width)}  ${(100 * t.probability).toFixed(1).padStart(5)}%`,
        );
      });
    }
    if (values.grid && preds.length > 0) {
      const { renderPredictionGrid } = await import("../viz/grid.ts");
      const png = await renderPredictionGrid(preds.map((p) => ({
        image: p.image,
        width: p.size,
        height: p.size,
        title: p.file.split("/").pop(),
        top5: p.top.map((t) => ({ name: t.name, p: t.probability })),
      })));
      await Deno.writeFile(values.grid, png);
      console.log(`wrote ${values.grid}`);
    }
    if (failed > 0) {
      console.error(
        `predict: ${failed} of ${failed + preds.length} input(s) could not be read (above); ` +
          `${preds.length} predicted`,
      );
      return 1;
    }
    return 0;
  } catch (e) {
    return reportError("predict", e);
  }
}

if (import.meta.main) {
  preferFastSoftwareCompiles(); // before the first adapter request (model/software.ts)
  Deno.exit(await main(Deno.args));
}
