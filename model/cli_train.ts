// `deno task train`: a thin command line over `train()` (model/train.ts). With no flags
// it trains the `tiny` config on the built-in synthetic dataset in a few minutes on a
// software adapter and writes a checkpoint to out/train/checkpoint.
//
// Output: a progress bar on a terminal (epoch, step, images/s, loss, lr, ETA) or plain
// lines otherwise, on stderr; a one-line summary per epoch and evaluation; and every
// event as JSON lines in <out>/metrics.jsonl. Errors are one line naming the thing and
// what was expected (errors.ts); exit codes: 0 done, 1 failure (a missing or corrupt
// checkpoint or dataset, a full disk, divergence), 2 bad command line (including a batch
// whose memory plan does not fit the device).

import { openDataset } from "../data/dataset.ts";
import { formatDuration } from "../data/progress.ts";
import { reportError, UsageError } from "../errors.ts";
import { type Column, openColumns } from "../kernels/columns.ts";
import { configFor } from "./config.ts";
import { AlexNet } from "./alexnet.ts";
import { intFlag, parseFlags } from "../flags.ts";
import { recipeFor, type Schedule, train, type TrainEvent } from "./train.ts";
import { preferFastSoftwareCompiles } from "./software.ts";

/**
 * Defaults of the no-flag run, chosen so it finishes in under 3 minutes on 2 CPU cores
 * with a warm shader cache: the paper's SGD (momentum 0.9, weight decay 0.0005) with the
 * tiny config's recipe (`recipeFor("tiny")`: lr 0.02, no dropout, kaiming init) for 10
 * epochs of the 5,000 synthetic images, the rate divided by 10 for the last epoch.
 * The learning rate and dropout default to the config's recipe.
 */
export const TRAIN_DEFAULTS = {
  dataset: "synthetic",
  config: "tiny",
  columns: 2,
  epochs: 10,
  batch: 32,
  schedule: "step",
  stepEpochs: 9,
  seed: 1,
  out: "out/train",
  evalEvery: 2,
} as const;

const HELP = `Train the two-column AlexNet.

Usage: deno task train [options]

  --dataset KIND     synthetic | fashion-mnist | folder   (default ${TRAIN_DEFAULTS.dataset})
  --data DIR         folder: a prepared dataset (deno task prepare);
                     fashion-mnist: the IDX files (default /usr/share/datasets/fashion-mnist)
  --config NAME      tiny | small | paper                 (default ${TRAIN_DEFAULTS.config})
  --columns N        1 (both halves on one device) | 2    (default ${TRAIN_DEFAULTS.columns})
  --epochs N         epochs to train                      (default ${TRAIN_DEFAULTS.epochs})
  --steps N          stop after N steps in all (evaluate and checkpoint there)
  --checkpoint-every N  also checkpoint every N steps (default: at epoch ends only)
  --batch N          images per step                      (default ${TRAIN_DEFAULTS.batch})
  --lr X             initial learning rate   (default: the config's; tiny 0.02, small and paper 0.01)
  --schedule S       step (÷10 every --step-epochs) | plateau (÷10 when validation
                     error stops improving, the paper's) | constant  (default ${TRAIN_DEFAULTS.schedule})
  --step-epochs N    epochs per ÷10 of the step schedule  (default ${TRAIN_DEFAULTS.stepEpochs}; paper 30)
  --dropout P        dropout probability of fc6/fc7  (default: the config's; tiny 0, small and paper 0.5)
  --seed N           seed of init, data order, augmentation, dropout (default ${TRAIN_DEFAULTS.seed})
  --out DIR          checkpoint and metrics.jsonl folder  (default ${TRAIN_DEFAULTS.out})
  --resume DIR       continue exactly from a checkpoint (e.g. out/train/checkpoint)
  --eval-every N     evaluate every N epochs, 0 = only at the end (default ${TRAIN_DEFAULTS.evalEvery})
  --ten-crop         evaluate with the paper's 10-crop average (default centre crop)
  --help             this text
`;

// Upper bounds that catch typos (1e9 epochs) without limiting a real run.
const MAX_EPOCHS = 10_000, MAX_STEPS = 1_000_000_000, MAX_BATCH = 65_536;

function int(name: string, v: string | undefined, min: number, max: number, def: number): number {
  return intFlag(name, v, min, max, UsageError) ?? def;
}

function oneOf<T extends string>(
  name: string,
  v: string | undefined,
  allowed: readonly T[],
  def: T,
): T {
  if (v === undefined) return def;
  if (!allowed.includes(v as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got "${v}"`);
  }
  return v as T;
}

/** The parsed command line. */
export interface TrainCommand {
  /** --dataset. */
  dataset: "synthetic" | "fashion-mnist" | "folder";
  /** --data. */
  data?: string;
  /** --config. */
  config: "tiny" | "small" | "paper";
  /** --columns. */
  columns: 1 | 2;
  /** --epochs. */
  epochs: number;
  /** --steps. */
  steps?: number;
  /** --checkpoint-every. */
  checkpointEvery?: number;
  /** --dropout. */
  dropout?: number;
  /** --batch. */
  batch: number;
  /** --lr (default: the config's recipe). */
  lr?: number;
  /** --schedule. */
  schedule: Schedule;
  /** --step-epochs. */
  stepEpochs: number;
  /** --seed. */
  seed: number;
  /** --out. */
  out: string;
  /** --resume. */
  resume?: string;
  /** --eval-every. */
  evalEvery: number;
  /** --ten-crop. */
  tenCrop: boolean;
  /** --help. */
  help: boolean;
}

/**
 * Parses `args`; throws a UsageError (exit 2) on unknown flags or bad values.
 *
 * @example
 * ```ts ignore
 * parseTrainArgs(["--epochs", "3", "--columns", "1"]);
 * ```
 */
export function parseTrainArgs(args: string[]): TrainCommand {
  const parsed = parseFlags({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      dataset: { type: "string" },
      data: { type: "string" },
      config: { type: "string" },
      columns: { type: "string" },
      epochs: { type: "string" },
      steps: { type: "string" },
      "checkpoint-every": { type: "string" },
      dropout: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      schedule: { type: "string" },
      "step-epochs": { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      resume: { type: "string" },
      "eval-every": { type: "string" },
      "ten-crop": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const v = parsed.values;
  const lr = v.lr === undefined ? undefined : Number(v.lr);
  if (lr !== undefined && !(Number.isFinite(lr) && lr > 0)) {
    throw new UsageError(`--lr must be a positive number, got "${v.lr}"`);
  }
  const dropout = v.dropout === undefined ? undefined : Number(v.dropout);
  if (dropout !== undefined && !(dropout >= 0 && dropout < 1)) {
    throw new UsageError(`--dropout must be a probability in [0, 1), got "${v.dropout}"`);
  }
  const dataset = oneOf(
    "dataset",
    v.dataset,
    ["synthetic", "fashion-mnist", "folder"] as const,
    TRAIN_DEFAULTS.dataset,
  );
  if (dataset === "folder" && !v.data) throw new UsageError(`--dataset folder needs --data DIR`);
  return {
    dataset,
    data: v.data,
    config: oneOf("config", v.config, ["tiny", "small", "paper"] as const, TRAIN_DEFAULTS.config),
    columns: Number(
      oneOf("columns", v.columns, ["1", "2"] as const, `${TRAIN_DEFAULTS.columns}`),
    ) as 1 | 2,
    epochs: int("epochs", v.epochs, 1, MAX_EPOCHS, TRAIN_DEFAULTS.epochs),
    steps: intFlag("steps", v.steps, 1, MAX_STEPS, UsageError),
    checkpointEvery: intFlag("checkpoint-every", v["checkpoint-every"], 1, MAX_STEPS, UsageError),
    dropout,
    batch: int("batch", v.batch, 1, MAX_BATCH, TRAIN_DEFAULTS.batch),
    lr,
    schedule: oneOf(
      "schedule",
      v.schedule,
      ["step", "plateau", "constant"] as const,
      TRAIN_DEFAULTS.schedule,
    ),
    stepEpochs: int("step-epochs", v["step-epochs"], 1, MAX_EPOCHS, TRAIN_DEFAULTS.stepEpochs),
    seed: int("seed", v.seed, 0, 2 ** 32 - 1, TRAIN_DEFAULTS.seed),
    out: v.out ?? TRAIN_DEFAULTS.out,
    resume: v.resume,
    evalEvery: int("eval-every", v["eval-every"], 0, MAX_EPOCHS, TRAIN_DEFAULTS.evalEvery),
    tenCrop: v["ten-crop"] ?? false,
    help: v.help ?? false,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Prints events: a redrawn bar on a terminal, plain lines otherwise. */
export function reporter(tty: boolean): (e: TrainEvent) => void {
  const text = new TextEncoder();
  const err = (s: string) => Deno.stderr.writeSync(text.encode(s));
  let lastPlain = 0;
  let barShown = false;
  const line = (s: string) => {
    if (barShown) err("\r\x1b[K");
    barShown = false;
    err(s + "\n");
  };
  return (e) => {
    switch (e.type) {
      case "start":
        line(
          `training ${e.config} on ${e.columns} column(s) [${
            e.devices.join(" | ")
          }], batch ${e.batch}, ` +
            `${e.stepsPerEpoch} steps/epoch x ${e.epochs} epochs; memory ` +
            e.memory.map((b) => `${(b / 2 ** 20).toFixed(1)} MiB`).join(" + ") +
            (e.lighting ? "" : "; PCA lighting off (the images have no colour)") +
            (e.resumedFrom
              ? `; resumed from ${e.resumedFrom.dir} at step ${e.resumedFrom.step}`
              : ""),
        );
        if (e.recovered?.restored) {
          line(
            `  an interrupted save left no checkpoint: restored it from ${e.recovered.restored}`,
          );
        }
        if (e.recovered?.removed.length) {
          line(`  removed ${e.recovered.removed.length} folder(s) left by interrupted saves`);
        }
        // The first step compiles every shader (half a minute on a software adapter with
        // a cold cache): say so instead of showing a rate or an ETA made of it.
        if (tty) {
          err(`compiling shaders and running the first step ...`);
          barShown = true;
        } else line(`compiling shaders and running the first step ...`);
        break;
      case "step": {
        const status = `epoch ${e.epoch + 1} step ${e.stepInEpoch}/${e.stepsPerEpoch} ` +
          `${e.imagesPerSecond.toFixed(1)} img/s loss ${e.loss.toFixed(4)} lr ${
            e.lr.toPrecision(3)
          } ` +
          `ETA ${e.etaMs === undefined ? "..." : formatDuration(e.etaMs / 1000)}`;
        if (tty) {
          const width = 20, fill = Math.round((width * e.stepInEpoch) / e.stepsPerEpoch);
          err(`\r[${"#".repeat(fill)}${"-".repeat(width - fill)}] ${status}\x1b[K`);
          barShown = true;
        } else if (performance.now() - lastPlain > 5000 || e.stepInEpoch === e.stepsPerEpoch) {
          lastPlain = performance.now();
          line(status);
        }
        break;
      }
      case "epoch":
        line(
          `epoch ${e.epoch + 1}: train loss ${e.loss.toFixed(4)}, top-1 ${pct(e.top1Error)}, ` +
            `top-5 ${pct(e.top5Error)} (${e.seconds.toFixed(1)} s)`,
        );
        break;
      case "evaluation":
        line(
          `  validation (${e.tenCrop ? "10-crop" : "centre crop"}, ${e.count} images): ` +
            `top-1 error ${pct(e.top1Error)}, top-5 error ${pct(e.top5Error)}, loss ${
              e.loss.toFixed(4)
            }`,
        );
        break;
      case "lr":
        line(`  learning rate -> ${e.lr.toPrecision(3)} (${e.reason})`);
        break;
      case "checkpoint":
        if (!tty) line(`  checkpoint ${e.dir} (step ${e.step})`);
        break;
    }
  };
}

/** Runs the command line; returns the exit code (errors become one line, errors.ts). */
export async function main(args: string[]): Promise<number> {
  let columns: { columns: Column[]; destroy(): void } | null = null;
  try {
    const cmd = parseTrainArgs(args);
    if (cmd.help) {
      console.log(HELP);
      return 0;
    }
    const base = configFor(cmd.config);
    const S = base.storedSize;
    const t0 = performance.now();
    columns = await openColumns({ count: cmd.columns });
    // Both columns of a software adapter live in this machine's memory; a real GPU has
    // less, so this only catches what cannot fit anywhere. Checked before the dataset
    // is opened (or generated) and before anything is allocated.
    const memoryBudget = Deno.systemMemoryInfo().total / cmd.columns;
    AlexNet.checkMemory({
      config: base,
      batch: cmd.batch,
      columns: columns.columns,
      memoryBudget,
    });
    const dataset = cmd.dataset === "folder"
      ? await openDataset({ kind: "folder", dir: cmd.data! })
      : cmd.dataset === "fashion-mnist"
      ? await openDataset({ kind: "fashion-mnist", dir: cmd.data, size: S })
      : await openDataset({ kind: "synthetic", size: S });
    const config = configFor(cmd.config, dataset.classes.length);
    const recipe = recipeFor(cmd.config);
    const result = await train({
      dataset,
      config,
      columns: columns.columns,
      epochs: cmd.epochs,
      maxSteps: cmd.steps,
      checkpointEvery: cmd.checkpointEvery,
      batch: cmd.batch,
      schedule: cmd.schedule,
      stepEpochs: cmd.stepEpochs,
      seed: cmd.seed,
      out: cmd.out,
      resume: cmd.resume,
      evalEvery: cmd.evalEvery,
      tenCrop: cmd.tenCrop,
      memoryBudget,
      ...recipe,
      lr: cmd.lr ?? recipe.lr,
      dropout: cmd.dropout ?? recipe.dropout,
      onEvent: reporter(Deno.stderr.isTerminal()),
    });
    const ev = result.evaluation;
    console.log(
      `done: ${result.epochs} epochs, ${result.steps} steps in ${
        formatDuration((performance.now() - t0) / 1000)
      }` +
        (ev
          ? `; validation top-1 error ${pct(ev.top1Error)}, top-5 error ${pct(ev.top5Error)}`
          : "") +
        (result.checkpoint ? `; checkpoint ${result.checkpoint}` : ""),
    );
    return 0;
  } catch (e) {
    if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    return reportError("train", e);
  } finally {
    columns?.destroy();
  }
}

if (import.meta.main) {
  preferFastSoftwareCompiles(); // before the first adapter request (model/software.ts)
  Deno.exit(await main(Deno.args));
}
