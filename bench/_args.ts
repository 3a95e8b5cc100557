// Command-line flags of `deno task bench`. Pure: parsing never touches the GPU or the
// file system, so tests can check it directly.

import { UsageError } from "../errors.ts";
import { intFlag, parseFlags } from "../flags.ts";

/** Which benchmarks a run does. */
export type Suite = "kernels" | "e2e" | "data" | "browser" | "convergence" | "all";

/** Parsed options of one benchmark run. */
export interface BenchOptions {
  /** kernels (default), e2e, data, browser, all of these four, or convergence. */
  suite: Suite;
  /** convergence: a finished run of ours to reuse (folder with metrics.jsonl). */
  ours: string | null;
  /** convergence: the PyTorch run's seed. */
  torchSeed: number;
  /** convergence: JSON report path. */
  convergenceJson: string;
  /** convergence: chart PNG path. */
  convergenceChart: string;
  /** A report to compare this run (or `compareWith`) against. */
  compare: string | null;
  /** With `compare`: compare these two files and run nothing. */
  compareWith: string | null;
  /** e2e: fewer steps, smaller batches (a few minutes). */
  quick: boolean;
  /** e2e: the TF.js peer (off with --no-peer or --no-tfjs). */
  tfjs: boolean;
  /** e2e: the PyTorch peer (off with --no-peer or --no-torch). */
  torch: boolean;
  /** e2e: paper config batch (default 4, --quick 2). */
  paperBatch: number | null;
  /** e2e: skip the epoch rows. */
  epochs: boolean;
  /** e2e: measure the default run's cold start (Mesa shader cache off). */
  cold: boolean;
  /** e2e: configs of the step table (default tiny,small,paper). */
  configs: string[];
  /** e2e JSON report path. */
  e2eJson: string;
  /** browser JSON report path. */
  browserJson: string;
  /** e2e ratio chart PNG path. */
  chart: string;
  /** Only cases whose name or op matches (case-insensitive). */
  filter: RegExp | null;
  /** Batch size passed to case factories. */
  batch: number;
  /** Where the JSON report goes. */
  json: string;
  /** Measure the TensorFlow.js peer too. */
  peer: boolean;
  /** Minimum measuring time per case and side, milliseconds. */
  timeMs: number;
  /** Minimum timed iterations per case and side. */
  minIterations: number;
  /** Untimed warm-up iterations before measuring. */
  warmup: number;
  /** GPU work per timed iteration the runs-per-iteration calibration aims for, ms. */
  targetMs: number;
  /** Cap on runs per timed iteration. */
  maxRepeat: number;
  /** A peer iteration (at our runs per iteration) longer than this is recalibrated, ms. */
  peerMaxMs: number;
  /** Print the usage and exit. */
  help: boolean;
}

/** Bad command lines throw the library's UsageError: one line, exit 2. */
export { UsageError };

/** The `--help` text. */
export const USAGE: string = `Usage: deno task bench [flags]

--suite kernels (default): every kernel case in bench/cases/*.ts at the paper's
per-column layer shapes, next to TensorFlow.js's WebGPU backend on the same adapter.
--suite e2e: train-step time of tiny/small/paper on 1 and 2 columns next to TF.js
WebGPU and PyTorch CPU, epoch times (synthetic, Fashion-MNIST), ImageNet projection,
a JSON report and a PNG chart of the ratios. --suite data: prepare/loader throughput.
--suite browser: tiny's predict latency and train step (batch 32) in headless Chromium
(the page of deno task web) next to Deno, same machine, same run (needs chromium).
--suite all: all four. --suite convergence: our training next to PyTorch's on the
same data with the same recipe, validation error per epoch in a table, a JSON report
and a chart; --quick on the synthetic set (~4 min), else Fashion-MNIST (~45 min).

  --suite NAME       kernels | e2e | data | browser | all | convergence (default kernels)
  --compare OLD      after the run, print what got faster or slower than OLD.json
  --with NEW         with --compare: compare OLD.json with NEW.json, run nothing
  --quick            e2e: fewer steps, smaller batches, shorter epochs;
                     convergence: the synthetic set instead of Fashion-MNIST
  --ours DIR         convergence: reuse a finished run of ours (DIR/metrics.jsonl)
  --torch-seed N     convergence: seed of the PyTorch run (default 1)
  --no-tfjs          e2e: skip the TF.js peer
  --no-torch         e2e: skip the PyTorch peer
  --paper-batch N    e2e: batch of the paper config (default 4, --quick 2)
  --configs LIST     e2e: configs of the step table (default tiny,small,paper)
  --no-epochs        e2e: skip the epoch rows
  --no-cold          e2e: skip the cold start (the default run's first step with Mesa's
                     shader cache off, in a process of its own; about a minute)
  --e2e-json PATH    e2e JSON report (default out/bench/e2e-<date>.json)
  --chart PATH       e2e ratio chart (default out/bench/e2e-<date>.png)

Kernel flags:
  --filter REGEX     only cases whose name or op matches (case-insensitive)
  --batch N          batch size for case factories (default 4)
  --json PATH        JSON report path (default out/bench/kernels-<date>.json)
  --no-peer          skip the peers (kernels: TF.js; e2e: TF.js and PyTorch)
  --time MS          minimum measuring time per case and side (default 500)
  --iterations N     minimum timed iterations per case and side (default 5)
  --warmup N         untimed warm-up iterations (default 2)
  --target MS        GPU work per timed iteration: each iteration records R runs into
                     one submit and waits once; R is the smallest power of two giving
                     at least MS of work (default 60); figures are per run
  --max-repeat N     cap on R (default 256)
  --peer-max MS      when the peer takes longer than MS for R runs, it gets its own,
                     smaller R (reported in the JSON and as "ours/peer" runs) (default 3000)
  --help             print this help
`;

// Upper bounds catch typos (a --batch of 1e9 would try to allocate terabytes).
const MAX: Record<string, number> = {
  "torch-seed": 2 ** 32 - 1,
  "paper-batch": 4096,
  batch: 4096,
  time: 3_600_000,
  iterations: 1_000_000,
  warmup: 10_000,
  target: 60_000,
  "max-repeat": 65_536,
  "peer-max": 3_600_000,
};

function positiveInt(flag: string, text: string | undefined, fallback: number, min = 1): number {
  return intFlag(flag, text, min, MAX[flag] ?? Infinity, UsageError) ?? fallback;
}

/** `out/bench/kernels-YYYY-MM-DD.json` for `date` (UTC). */
export function defaultJsonPath(date: Date): string {
  return `out/bench/kernels-${date.toISOString().slice(0, 10)}.json`;
}

/**
 * Parses the bench command line; throws {@link UsageError} on unknown flags, missing
 * values, positionals or bad numbers.
 *
 * @example
 * ```ts
 * const o = parseBenchArgs(["--filter", "conv", "--no-peer"]);
 * console.log(o.peer, o.batch); // false 4
 * ```
 */
export function parseBenchArgs(args: readonly string[], now: Date = new Date()): BenchOptions {
  const { values } = parseFlags({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      filter: { type: "string" },
      batch: { type: "string" },
      json: { type: "string" },
      "no-peer": { type: "boolean" },
      time: { type: "string" },
      iterations: { type: "string" },
      warmup: { type: "string" },
      target: { type: "string" },
      "max-repeat": { type: "string" },
      "peer-max": { type: "string" },
      suite: { type: "string" },
      compare: { type: "string" },
      with: { type: "string" },
      quick: { type: "boolean" },
      "no-tfjs": { type: "boolean" },
      "no-torch": { type: "boolean" },
      "paper-batch": { type: "string" },
      configs: { type: "string" },
      "no-epochs": { type: "boolean" },
      "no-cold": { type: "boolean" },
      "e2e-json": { type: "string" },
      chart: { type: "string" },
      ours: { type: "string" },
      "torch-seed": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  let filter: RegExp | null = null;
  if (values.filter !== undefined) {
    try {
      filter = new RegExp(values.filter, "i");
    } catch (e) {
      throw new UsageError(`--filter: bad regular expression: ${(e as Error).message}`);
    }
  }
  const suite = values.suite ?? "kernels";
  if (!["kernels", "e2e", "data", "browser", "all", "convergence"].includes(suite)) {
    throw new UsageError(
      `--suite expects kernels, e2e, data, browser, all or convergence, got "${suite}"`,
    );
  }
  if (values.ours !== undefined && suite !== "convergence") {
    throw new UsageError("--ours is a flag of --suite convergence");
  }
  if (values.with !== undefined && values.compare === undefined) {
    throw new UsageError("--with needs --compare OLD.json");
  }
  const configs = (values.configs ?? "tiny,small,paper").split(",").map((c) => c.trim());
  for (const c of configs) {
    if (!["tiny", "small", "paper"].includes(c)) {
      throw new UsageError(`--configs: unknown config "${c}" (tiny, small, paper)`);
    }
  }
  const day = now.toISOString().slice(0, 10);
  const noPeer = values["no-peer"] ?? false;
  return {
    suite: suite as Suite,
    ours: values.ours ?? null,
    torchSeed: positiveInt("torch-seed", values["torch-seed"], 1, 0),
    convergenceJson: `out/bench/convergence-${values.quick ? "quick-" : ""}${day}.json`,
    convergenceChart: values.chart ??
      `out/bench/convergence-${values.quick ? "quick-" : ""}${day}.png`,
    compare: values.compare ?? null,
    compareWith: values.with ?? null,
    quick: values.quick ?? false,
    tfjs: !noPeer && !values["no-tfjs"],
    torch: !noPeer && !values["no-torch"],
    paperBatch: values["paper-batch"] === undefined
      ? null
      : positiveInt("paper-batch", values["paper-batch"], 8),
    epochs: !values["no-epochs"],
    cold: !values["no-cold"],
    configs,
    e2eJson: values["e2e-json"] ?? `out/bench/e2e-${day}.json`,
    browserJson: `out/bench/browser-${day}.json`,
    chart: values.chart ?? `out/bench/e2e-${day}.png`,
    filter,
    batch: positiveInt("batch", values.batch, 4),
    json: values.json ?? defaultJsonPath(now),
    peer: !values["no-peer"],
    timeMs: positiveInt("time", values.time, 500),
    minIterations: positiveInt("iterations", values.iterations, 5),
    warmup: positiveInt("warmup", values.warmup, 2, 0),
    targetMs: positiveInt("target", values.target, 60),
    maxRepeat: positiveInt("max-repeat", values["max-repeat"], 256),
    peerMaxMs: positiveInt("peer-max", values["peer-max"], 3000),
    help: values.help ?? false,
  };
}
