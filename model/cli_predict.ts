// `deno task predict --checkpoint DIR image.jpg ...`: the top-5 classes of each image
// with their probabilities, from a checkpoint written by `deno task train`.
//
// Each image goes through the training input path: decoded and resized (short side to
// the config's stored size, centre square) by data/decode.ts, then the centre crop — or
// the paper's 10 crops, softmax averaged, with --ten-crop — minus the training mean
// image saved in the checkpoint. A folder argument means every image file under it.
// An image that cannot be read is reported in one line and skipped; the others are
// still predicted. Exit codes: 0 done, 1 an image or the checkpoint could not be read,
// 2 bad command line.

import { DataError, reportError, UsageError } from "../errors.ts";

import { parseArgs } from "node:util";
import { openColumns } from "../kernels/columns.ts";
import { AlexNet } from "./alexnet.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { classify } from "./evaluate.ts";
import { TrainStep } from "./step.ts";

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

/** The top `k` entries of a probability row, best first (ties: lower index first). */
export function topK(probs: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i);
  idx.sort((a, b) => probs[b] - probs[a] || a - b);
  return idx.slice(0, k);
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
  const cfg = ck.state.config;
  const input = ck.state.input as
    | { mean?: number[]; inputScale?: number | number[] }
    | undefined;
  const S = cfg.storedSize;
  // The mean image [3, S, S], or one mean per channel (a converted torchvision model).
  const mean = input?.mean?.length === 3
    ? Float32Array.from({ length: 3 * S * S }, (_, i) => input.mean![Math.floor(i / (S * S))])
    : input?.mean?.length === 3 * S * S
    ? Float32Array.from(input.mean)
    : undefined;
  if (!mean) {
    throw new Error(
      `${checkpoint}: state.json has no input.mean of 3 x ${S} x ${S} (or 3) values`,
    );
  }
  const classes = (ck.state.classes as string[] | undefined) ??
    Array.from({ length: cfg.classes }, (_, i) => `class ${i}`);
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
  files = read;
  const opened = await openColumns({ count: opts.columns ?? 1 });
  const batch = Math.min(images.length, 16);
  // Inference only: no gradients, momentum or backward buffers.
  const net = await AlexNet.create({
    config: cfg,
    batch,
    columns: opened.columns,
    inference: true,
  });
  try {
    net.writeParameters(ck.weights);
    const step = await TrainStep.create(net, {
      mean,
      inputScale: input?.inputScale ?? 1,
    });
    const out: Prediction[] = [];
    for (let i = 0; i < images.length; i += batch) {
      const chunk = images.slice(i, i + batch);
      const packed = new Uint8Array(chunk.length * S * S * 3);
      chunk.forEach((im, j) => packed.set(im, j * S * S * 3));
      const probs = await classify(step, packed, chunk.length, { tenCrop: opts.tenCrop });
      chunk.forEach((_, j) => {
        const row = probs.subarray(j * cfg.classes, (j + 1) * cfg.classes);
        out.push({
          file: files[i + j],
          top: topK(row, Math.min(opts.top ?? 5, cfg.classes)).map((label) => ({
            label,
            name: classes[label],
            probability: row[label],
          })),
          image: chunk[j],
          size: S,
        });
      });
    }
    step.dispose();
    return out;
  } finally {
    net.dispose();
    opened.destroy();
  }
}

/** Runs the command line; returns the exit code (errors become one line, errors.ts). */
export async function main(args: string[]): Promise<number> {
  try {
    let values, positionals;
    try {
      ({ values, positionals } = parseArgs({
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
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
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

if (import.meta.main) Deno.exit(await main(Deno.args));
