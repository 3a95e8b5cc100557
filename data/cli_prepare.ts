// `deno task prepare`: image folders (or Fashion-MNIST, or the synthetic set) into the
// shard format. Rerun the same command after an interruption to resume.
//
//   deno task prepare --src /data/imagenet/train --out out/imagenet-256 \
//     [--size 256] [--labels FILE] [--val-src DIR] [--val-labels FILE] [--val-fraction 0.1]
//     [--workers 4] [--limit-pixels N] [--background black|white] [--shard-images N]
//   deno task prepare --dataset fashion-mnist [--data DIR] --size 32 [--out DIR]
//   deno task prepare --dataset synthetic --size 36 [--out DIR]
//
// Needs --allow-read --allow-write --allow-env --allow-ffi (sharp is a native addon).

import { parseFlags } from "../flags.ts";
import { reportError, UsageError } from "../errors.ts";
import { formatDuration } from "./progress.ts";
import { prepareFolder } from "./prepare.ts";
import type { BuildReport } from "./build.ts";

const USAGE = `usage:
  prepare --src DIR --out DIR [--size 256] [--labels FILE] [--val-src DIR]
          [--val-labels FILE] [--val-fraction 0.1] [--workers 4] [--limit-pixels N]
          [--background black|white] [--shard-images N] [--seed 0] [--quiet]
  prepare --dataset fashion-mnist [--data DIR] --size S [--out DIR]
  prepare --dataset synthetic --size S [--out DIR] [--train-per-class 500] [--val-per-class 100]`;

// Flag ranges: wide enough for any real preparation, narrow enough to catch typos
// (a --size of 100000 would make 30 GB images).
const RANGES: Record<string, [number, number, "int" | "real"]> = {
  size: [8, 4096, "int"],
  "val-fraction": [0, 0.99, "real"],
  workers: [1, 256, "int"],
  "limit-pixels": [1, 2 ** 40, "int"],
  "shard-images": [1, 1_000_000, "int"],
  seed: [0, 2 ** 32 - 1, "int"],
  "train-per-class": [1, 10_000_000, "int"],
  "val-per-class": [0, 10_000_000, "int"],
};

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const [min, max, kind] = RANGES[name];
  if (
    v.trim() === "" || !Number.isFinite(n) || (kind === "int" && !Number.isInteger(n)) ||
    n < min || n > max
  ) {
    throw new UsageError(
      `--${name} must be ${kind === "int" ? "an integer" : "a number"} from ${min} to ${max}, ` +
        `got "${v}"`,
    );
  }
  return n;
}

/** Prints the end-of-run summary: counts, skipped inputs by reason, warnings. */
export function printReport(r: BuildReport, log: (s: string) => void = console.log): void {
  log(
    `prepared ${r.dir}: ${r.counts.train} train, ${r.counts.val} val images ` +
      `in ${formatDuration(r.seconds)} (${r.imagesPerSecond.toFixed(1)} img/s; ` +
      `${r.writtenShards} shards written, ${r.resumedShards} resumed)`,
  );
  if (r.skipped.length > 0) {
    log(`skipped ${r.skipped.length} inputs (listed in ${r.dir}/report.json):`);
    for (const s of r.skipped.slice(0, 20)) log(`  ${s.split} ${s.input}: ${s.reason}`);
    if (r.skipped.length > 20) log(`  ... and ${r.skipped.length - 20} more`);
  }
  for (const w of r.warnings) log(`warning: ${w}`);
}

/** Runs the command line; returns the exit code (errors become one line, errors.ts). */
export async function main(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (e) {
    return reportError("prepare", e);
  }
}

async function run(args: string[]): Promise<number> {
  const { values } = parseFlags({
    args,
    options: {
      src: { type: "string" },
      out: { type: "string" },
      size: { type: "string" },
      labels: { type: "string" },
      "val-src": { type: "string" },
      "val-labels": { type: "string" },
      "val-fraction": { type: "string" },
      workers: { type: "string" },
      "limit-pixels": { type: "string" },
      background: { type: "string" },
      "shard-images": { type: "string" },
      seed: { type: "string" },
      dataset: { type: "string", default: "folder" },
      data: { type: "string" },
      "train-per-class": { type: "string" },
      "val-per-class": { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const progress = values.quiet ? "quiet" as const : "auto" as const;
  const size = num("size", values.size);
  if (values.dataset === "fashion-mnist" || values.dataset === "synthetic") {
    if (size === undefined) throw new UsageError(`--dataset ${values.dataset} needs --size`);
    const t0 = performance.now();
    let dir: string;
    if (values.dataset === "fashion-mnist") {
      const { ensureFashionMnist } = await import("./fashion_mnist.ts");
      dir = await ensureFashionMnist({ dir: values.data, size, cacheDir: values.out, progress });
    } else {
      const { ensureSynthetic } = await import("./synthetic.ts");
      dir = await ensureSynthetic({
        size,
        cacheDir: values.out,
        trainPerClass: num("train-per-class", values["train-per-class"]),
        valPerClass: num("val-per-class", values["val-per-class"]),
        seed: num("seed", values.seed),
        concurrency: num("workers", values.workers),
        progress,
      });
    }
    console.log(
      `${values.dataset} ready in ${dir} (${formatDuration((performance.now() - t0) / 1000)})`,
    );
    return 0;
  }
  if (values.dataset !== "folder") {
    throw new UsageError(
      `--dataset must be one of folder, fashion-mnist, synthetic, got "${values.dataset}"`,
    );
  }
  if (!values.src || !values.out) throw new UsageError(`--src DIR and --out DIR are required`);
  const background = values.background ?? "black";
  if (background !== "black" && background !== "white") {
    throw new UsageError(`--background must be black or white, got "${background}"`);
  }
  const report = await prepareFolder({
    src: values.src,
    out: values.out,
    size,
    labels: values.labels,
    valSrc: values["val-src"],
    valLabels: values["val-labels"],
    valFraction: num("val-fraction", values["val-fraction"]),
    seed: num("seed", values.seed),
    concurrency: num("workers", values.workers),
    limitPixels: num("limit-pixels", values["limit-pixels"]),
    background,
    shardImages: num("shard-images", values["shard-images"]),
    progress,
  });
  printReport(report);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
