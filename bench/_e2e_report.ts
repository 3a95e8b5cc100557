// The end-to-end benchmark's figures: the JSON report's shape, the statistics and ratio
// arithmetic, and the stdout tables. Pure, so tests check them without a GPU.

/** Median and range of timed repetitions, milliseconds. */
export interface Stat {
  /** Median. */
  medianMs: number;
  /** Fastest. */
  minMs: number;
  /** Slowest. */
  maxMs: number;
  /** Timed repetitions. */
  samples: number;
}

/** Our side of one train-step measurement. */
export interface OursStep extends Stat {
  /** Images per second at the median step. */
  imagesPerSecond: number;
  /** Cross-column exchanges of one step, measured node by node (floor removed), ms. */
  exchangeMs: number;
  /** exchangeMs over the median step. */
  exchangeShare: number;
  /** Median time the step loop waited for the loader's next batch, ms. */
  dataWaitMs: number;
  /** dataWaitMs over the median step. */
  dataWaitShare: number;
  /** Peak bytes held per column (device buffers: in use plus pooled). */
  peakBytes: number[];
  /** Loss of the last timed step (a sanity check: finite). */
  loss: number;
  /** Creating the network and its step (allocation, pipeline compiles), ms; not timed. */
  setupMs: number;
  /**
   * The first (warm-up) step, ms: where a software adapter compiles each pipeline at its
   * first dispatch (with whatever shader cache the machine has).
   */
  firstStepMs: number;
  /**
   * Where a step's time goes: each stage (layer or exchange, both columns) and the loss
   * run on their own, submitted and awaited, one empty submit-and-wait floor removed.
   */
  profile: ProfileItem[];
  /**
   * The median step minus the profile's sum: submits, mappings, uploads, augmentation,
   * SGD and the overlap the stage-by-stage timing cannot see (negative when a real step
   * overlaps more than it pays).
   */
  gapMs: number;
}

/** One stage's forward and backward time in the profile, ms. */
export interface ProfileItem {
  /** Stage name ("conv2", "fc6.x", "loss", ...). */
  name: string;
  /** Forward, ms. */
  forwardMs: number;
  /** Backward, ms. */
  backwardMs: number;
}

/**
 * The profile's largest items, forward and backward apart, with their share of the
 * median step, and the gap, as one line.
 *
 * @example
 * ```ts
 * import { formatProfile } from "./_e2e_report.ts";
 * const line = formatProfile(
 *   [{ name: "conv2", forwardMs: 30, backwardMs: 50 }, { name: "fc6", forwardMs: 5, backwardMs: 8 }],
 *   100,
 *   7,
 *   2,
 * );
 * console.assert(line === "conv2 bwd 50.0 ms 50%, conv2 fwd 30.0 ms 30%; gap 7.0 ms 7%");
 * ```
 */
export function formatProfile(
  items: readonly ProfileItem[],
  medianMs: number,
  gapMs: number,
  top = 5,
): string {
  const all = items.flatMap((i) => [
    { what: `${i.name} fwd`, ms: i.forwardMs },
    { what: `${i.name} bwd`, ms: i.backwardMs },
  ]).filter((x) => x.ms > 0).sort((a, b) => b.ms - a.ms).slice(0, top);
  const share = (ms: number) => `${Math.round((100 * ms) / medianMs)}%`;
  return all.map((x) => `${x.what} ${x.ms.toFixed(1)} ms ${share(x.ms)}`).join(", ") +
    `; gap ${gapMs.toFixed(1)} ms ${share(gapMs)}`;
}

/** One config, batch and column count: ours, and the peers at the same config and batch. */
export interface StepRow {
  /** Stable id for --compare, e.g. "step small b32 c2". */
  id: string;
  /** Config name. */
  config: string;
  /** Images per step. */
  batch: number;
  /** Columns (devices) ours ran on. */
  columns: number;
  /** Our figures, or null when our run failed. */
  ours: OursStep | null;
  /** TF.js WebGPU step, or null. */
  tfjs: Stat | null;
  /** Why there is no TF.js figure. */
  tfjsMissing?: string;
  /** PyTorch CPU step, or null. */
  torch: Stat | null;
  /** Why there is no PyTorch figure. */
  torchMissing?: string;
  /** Our median step over TF.js's (below 1: we are faster). */
  ratioTfjs: number | null;
  /** Our median step over PyTorch's. */
  ratioTorch: number | null;
  /** Error message when our run failed. */
  error?: string;
}

/** Epoch time of one dataset, data loading included. */
export interface EpochRow {
  /** Stable id, e.g. "epoch synthetic small b128 c2". */
  id: string;
  /** Dataset name. */
  dataset: string;
  /** Config name. */
  config: string;
  /** Images per step. */
  batch: number;
  /** Columns. */
  columns: number;
  /** Training images of the dataset. */
  images: number;
  /** Steps of one epoch (short last batch dropped). */
  stepsPerEpoch: number;
  /** Steps timed (all of them, or the first ones when projecting). */
  stepsMeasured: number;
  /** Wall time of the measured steps, loader start-up and data waits included, s. */
  measuredSeconds: number;
  /** Epoch time: measured, or measured / stepsMeasured x stepsPerEpoch. */
  epochSeconds: number;
  /** True when epochSeconds is projected from the first steps. */
  projected: boolean;
  /** Images per second over the measured steps. */
  imagesPerSecond: number;
  /** Share of the measured time spent waiting for the loader. */
  dataWaitShare: number;
  /** Peak bytes held per column. */
  peakBytes: number[];
  /** Set when the row was skipped (e.g. dataset absent) or failed. */
  missing?: string;
}

/** The projected ImageNet epoch of the paper config. */
export interface ImageNetProjection {
  /** Stable id. */
  id: string;
  /** ILSVRC-2012 training images. */
  images: number;
  /** Batch the step was measured at. */
  batch: number;
  /** Columns. */
  columns: number;
  /** Median measured step, ms. */
  stepMs: number;
  /** images / (batch / step): hours are seconds / 3600. */
  seconds: number;
  /** Says which batch it comes from and why. */
  note: string;
}

/** The JSON report of `deno task bench --suite e2e`. */
export interface E2EReport {
  /** Format tag. */
  schema: "alexnet-webgpu/bench-e2e@1";
  /** ISO date-time. */
  date: string;
  /** Command line and the plan it resolved to. */
  flags: Record<string, unknown>;
  /** Where it ran. */
  environment: {
    deno: string;
    v8: string;
    os: string;
    cpus: number | null;
    adapter: { description: string; vendor: string; architecture: string; device: string };
    profile: string;
    driver: string | null;
    loadAverage: number[] | null;
    sharedMachine: string;
  };
  /** The configs measured (whole JSON, so a reader can rebuild them). */
  configs: Record<string, unknown>;
  /** Peer descriptions, or null with the reason in `missing`. */
  peers: {
    tfjs: { name: string; version: string; note: string } | null;
    torch: { name: string; version: string; threads: number; note: string } | null;
    missing: Record<string, string>;
  };
  /** Train-step rows. */
  steps: StepRow[];
  /** Epoch rows. */
  epochs: EpochRow[];
  /** ImageNet epoch projections (paper config). */
  imagenet: ImageNetProjection[];
  /** The default run's cold start with Mesa's shader cache off, or null when not measured. */
  coldStart?: ColdStart | null;
  /** Anything that failed. */
  failures: { what: string; error: string }[];
}

/** A cold start as bench/cold_start.ts measures it, ms. */
export interface ColdStart {
  /** Config. */
  config: string;
  /** Images per step. */
  batch: number;
  /** Devices. */
  columns: number;
  /** openColumns. */
  openMs: number;
  /** Creating the network and its step. */
  createMs: number;
  /** The first step (on a software adapter: every pipeline's compile). */
  firstStepMs: number;
  /** The second step, for comparison. */
  secondStepMs: number;
  /** Distinct pipelines per column. */
  pipelines: number[];
}

/** ILSVRC-2012's training set size (the paper's ~1.2 million images). */
export const IMAGENET_TRAIN_IMAGES = 1_281_167;

/**
 * Median, min and max of `ms`.
 *
 * @example
 * ```ts
 * stat([30, 10, 20, 40]); // { medianMs: 25, minMs: 10, maxMs: 40, samples: 4 }
 * ```
 */
export function stat(ms: readonly number[]): Stat {
  if (ms.length === 0) throw new RangeError("stat: no samples");
  const s = [...ms].sort((a, b) => a - b), n = s.length;
  const median = n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { medianMs: median, minMs: s[0], maxMs: s[n - 1], samples: n };
}

/** `ours / theirs` (below 1: ours is faster), or null when either is missing. */
export function ratio(ours: Stat | null, theirs: Stat | null): number | null {
  return ours && theirs && theirs.medianMs > 0 ? ours.medianMs / theirs.medianMs : null;
}

/** Seconds of one epoch of `images` at `batch` images per `stepMs`. */
export function epochSeconds(images: number, batch: number, stepMs: number): number {
  return (images / batch) * stepMs / 1000;
}

/**
 * An epoch from its first `measured` steps: `seconds / measured * total`.
 *
 * @example
 * ```ts
 * projectEpoch(12, 24, 468); // 234 s
 * ```
 */
export function projectEpoch(seconds: number, measured: number, total: number): number {
  if (!(measured > 0)) throw new RangeError(`projectEpoch: measured steps must be > 0`);
  return measured >= total ? seconds : (seconds / measured) * total;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "—";
  if (v >= 1000) return v.toFixed(0);
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function pct(v: number): string {
  return `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
}

/** "0.42 (2.4x faster)" for a ratio ours/theirs. */
export function formatRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r) || r <= 0) return "—";
  const speed = r <= 1 ? `${fmt(1 / r)}x faster` : `${fmt(r)}x slower`;
  return `${r.toFixed(2)} (${speed})`;
}

function mb(bytes: number[]): string {
  return bytes.map((b) => (b / 2 ** 20).toFixed(0)).join("+");
}

function table(head: string[], rows: string[][], left: number): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((l) => l[i].length)));
  const pad = (l: string[]) =>
    l.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
      .trimEnd();
  return [pad(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(pad)].join("\n");
}

/**
 * The train-step table: medians with min-max and max over median (a stall shows there),
 * the first step, images/s, shares, memory, peers, ratios.
 */
export function formatStepTable(rows: readonly StepRow[]): string {
  const head = [
    "config",
    "batch",
    "cols",
    "step ms",
    "min-max",
    "max/med",
    "first ms",
    "img/s",
    "exchange",
    "data wait",
    "peak MiB/col",
    "tfjs ms",
    "ours/tfjs",
    "torch ms",
    "ours/torch",
  ];
  const lines = rows.map((r) => {
    const o = r.ours;
    return [
      r.config,
      String(r.batch),
      String(r.columns),
      o ? fmt(o.medianMs) : "FAILED",
      o ? `${fmt(o.minMs)}-${fmt(o.maxMs)}` : "—",
      o ? (o.maxMs / o.medianMs).toFixed(2) : "—",
      o?.firstStepMs !== undefined ? fmt(o.firstStepMs) : "—",
      o ? fmt(o.imagesPerSecond) : "—",
      o ? `${fmt(o.exchangeMs)} ms ${pct(o.exchangeShare)}` : "—",
      o ? pct(o.dataWaitShare) : "—",
      o ? mb(o.peakBytes) : "—",
      r.tfjs ? fmt(r.tfjs.medianMs) : "—",
      formatRatio(r.ratioTfjs),
      r.torch ? fmt(r.torch.medianMs) : "—",
      formatRatio(r.ratioTorch),
    ];
  });
  return table(head, lines, 1);
}

/** The epoch table (and ImageNet projections below it). */
export function formatEpochTable(
  rows: readonly EpochRow[],
  imagenet: readonly ImageNetProjection[] = [],
): string {
  const head = [
    "dataset",
    "config",
    "batch",
    "cols",
    "images",
    "steps",
    "epoch s",
    "img/s",
    "data wait",
    "peak MiB/col",
  ];
  const lines = rows.map((r) =>
    r.missing
      ? [
        r.dataset,
        r.config,
        String(r.batch),
        String(r.columns),
        "—",
        "—",
        "skipped",
        "—",
        "—",
        "—",
      ]
      : [
        r.dataset,
        r.config,
        String(r.batch),
        String(r.columns),
        String(r.images),
        r.projected ? `${r.stepsMeasured}/${r.stepsPerEpoch}` : String(r.stepsPerEpoch),
        `${fmt(r.epochSeconds)}${r.projected ? " (proj.)" : ""}`,
        fmt(r.imagesPerSecond),
        pct(r.dataWaitShare),
        mb(r.peakBytes),
      ]
  );
  const notes = rows.filter((r) => r.missing).map((r) => `  ${r.dataset}: ${r.missing}`);
  const inet = imagenet.map((p) =>
    `ImageNet epoch (${p.images} images), paper config, ${p.columns} column(s): ` +
    `${(p.seconds / 3600).toFixed(1)} h at ${fmt(p.stepMs)} ms per step of ${p.batch} — ${p.note}`
  );
  return [table(head, lines, 2), ...notes, ...inet].join("\n");
}
