// The benchmark's figures: throughput and ratio arithmetic, the JSON report's shape,
// and the stdout table. Pure, so tests check the arithmetic without a GPU.

/**
 * Latency statistics of one side (ours or the peer) of one case, milliseconds PER RUN:
 * each timed iteration records `repeat` runs into one submit and waits once, and its
 * time is divided by `repeat` (see {@link amortise}).
 */
export interface Timing {
  /** Median time per run. */
  medianMs: number;
  /** Fastest iteration. */
  minMs: number;
  /** Slowest iteration. */
  maxMs: number;
  /** Mean latency. */
  meanMs: number;
  /** Timed iterations. */
  samples: number;
  /** Runs recorded per timed iteration (one submit, one wait). */
  repeat: number;
  /** Median of the whole iterations (repeat runs + one submit-and-wait), ms. */
  iterationMs: number;
  /** GFLOP/s at the median, when the case counts flops. */
  gflops?: number;
  /** GB/s at the median, when the case counts bytes (and not flops). */
  gbps?: number;
}

/** One row of the report. */
export interface CaseResult {
  /** Case name, e.g. "conv2 forward". */
  name: string;
  /** Op, e.g. "conv2d.forward". */
  op: string;
  /** Human-readable shape from the case. */
  shape: string;
  /** Source module, e.g. "bench/cases/conv2d.ts". */
  module: string;
  /** Floating-point operations per run, if counted. */
  flops?: number;
  /** Bytes moved per run, if counted. */
  bytes?: number;
  /** Stable peer key (op + numeric shape), or null when the shape has no peer mapping. */
  key: string | null;
  /** Our timing, or null when the case failed. */
  ours: Timing | null;
  /** The peer's timing at the same shape, or null. */
  peer: (Timing & { note: string }) | null;
  /** Why there is no peer figure (no equivalent, peer disabled, peer error). */
  peerMissing?: string;
  /** Peer median / our median: above 1 means we are faster. */
  speedup: number | null;
  /** Error message when validation, preparation or timing failed. */
  error?: string;
}

/** The JSON report written by `deno task bench`. */
export interface BenchReport {
  /** Format tag for readers of old reports. */
  schema: "alexnet-webgpu/bench-kernels@1";
  /** ISO date-time of the run. */
  date: string;
  /** The command line and parsed flags. */
  flags: {
    argv: string[];
    batch: number;
    timeMs: number;
    minIterations: number;
    warmup: number;
    targetMs: number;
    maxRepeat: number;
    filter: string | null;
    peer: boolean;
  };
  /** Where the figures were measured. */
  environment: {
    deno: string;
    v8: string;
    os: string;
    cpus: number | null;
    adapter: { description: string; vendor: string; architecture: string; device: string };
    profile: string;
    driver: string | null;
    sharedMachine: string;
  };
  /** The peer, or null with `peerError` saying why. */
  peer: { name: string; version: string; adapter: string; sync: string; notes: string[] } | null;
  /**
   * Median of an empty submit + queue wait on each side, ms: the fixed cost inside every
   * timed iteration (Deno polls the device, so it is milliseconds, not microseconds).
   */
  syncFloorMs: { ours: number; peer: number | null };
  /** Why the peer did not run, when it did not. */
  peerError?: string;
  /** Every case, in run order. */
  cases: CaseResult[];
  /** Case files that failed to load, and cases that failed. */
  failures: { what: string; error: string }[];
}

/** GFLOP/s of `flops` floating-point operations done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e-3) / 1e9;
}

/** GB/s (1e9 bytes per second) of `bytes` moved in `ms` milliseconds. */
export function gbps(bytes: number, ms: number): number {
  return bytes / (ms * 1e-3) / 1e9;
}

/** Latency statistics of timed iterations, milliseconds (as tinybench reports them). */
export interface Latency {
  /** Median. */
  p50: number;
  /** Fastest. */
  min: number;
  /** Slowest. */
  max: number;
  /** Mean. */
  mean: number;
  /** Number of timed iterations. */
  samples: number;
}

/**
 * Per-run statistics of iterations that each ran `repeat` runs: every time divided by
 * `repeat` (the fixed submit-and-wait cost is then spread over the runs).
 *
 * @example
 * ```ts
 * amortise({ p50: 80, min: 72, max: 96, mean: 82, samples: 5 }, 8); // p50 10, min 9, ...
 * ```
 */
export function amortise(latency: Latency, repeat: number): Latency {
  if (!(Number.isInteger(repeat) && repeat >= 1)) {
    throw new RangeError(`amortise: repeat must be a positive integer, got ${repeat}`);
  }
  return {
    p50: latency.p50 / repeat,
    min: latency.min / repeat,
    max: latency.max / repeat,
    mean: latency.mean / repeat,
    samples: latency.samples,
  };
}

/**
 * The smallest power of two `r` (at most `maxRepeat`) whose estimated work `r * perRunMs`
 * reaches `targetMs`; `perRunMs` is a probe's time minus the submit-and-wait floor,
 * divided by the probe's runs.
 *
 * @example
 * ```ts
 * repeatFor(2.5, 60, 256); // 32: 32 x 2.5 ms = 80 ms >= 60 ms, 16 x 2.5 = 40 ms is short
 * ```
 */
export function repeatFor(perRunMs: number, targetMs: number, maxRepeat: number): number {
  let r = 1;
  while (r < maxRepeat && r * Math.max(perRunMs, 1e-3) < targetMs) r *= 2;
  return Math.min(r, maxRepeat);
}

/**
 * Per-run statistics plus throughput (GFLOP/s if `flops`, else GB/s if `bytes`) of
 * iterations that each ran `repeat` runs.
 */
export function timing(
  latency: Latency,
  work: { flops?: number; bytes?: number },
  repeat = 1,
): Timing {
  const per = amortise(latency, repeat);
  const t: Timing = {
    medianMs: per.p50,
    minMs: per.min,
    maxMs: per.max,
    meanMs: per.mean,
    samples: per.samples,
    repeat,
    iterationMs: latency.p50,
  };
  if (work.flops) t.gflops = gflops(work.flops, t.medianMs);
  else if (work.bytes) t.gbps = gbps(work.bytes, t.medianMs);
  return t;
}

/** Peer median over our median: 3.2 means we take 1/3.2 of the peer's time. */
export function speedup(peerMs: number, oursMs: number): number {
  return peerMs / oursMs;
}

/** "3.2x faster" / "2.0x slower" / "same" for a {@link speedup}. */
export function formatSpeedup(r: number | null): string {
  if (r === null || !Number.isFinite(r) || r <= 0) return "—";
  if (r >= 0.995 && r < 1.005) return "same";
  return r >= 1 ? `${fmt(r)}x faster` : `${fmt(1 / r)}x slower`;
}

function fmt(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function rate(t: Timing | null): string {
  if (!t) return "—";
  if (t.gflops !== undefined) return `${fmt(t.gflops)} GFLOP/s`;
  if (t.gbps !== undefined) return `${fmt(t.gbps)} GB/s`;
  return "—";
}

/**
 * The stdout table: one line per case, columns padded. Times are per run; "runs" is the
 * runs per timed iteration (ours, or "ours/peer" when the peer was calibrated apart).
 */
export function formatTable(rows: readonly CaseResult[]): string {
  const head = [
    "case",
    "shape",
    "runs",
    "median ms",
    "min-max ms",
    "ours",
    "tfjs ms",
    "tfjs",
    "tfjs/ours",
  ];
  const runs = (r: CaseResult) => {
    if (!r.ours) return "—";
    return r.peer && r.peer.repeat !== r.ours.repeat
      ? `${r.ours.repeat}/${r.peer.repeat}`
      : String(r.ours.repeat);
  };
  const lines = rows.map((r) => [
    r.name,
    r.shape,
    runs(r),
    r.ours ? fmt(r.ours.medianMs) : "FAILED",
    r.ours ? `${fmt(r.ours.minMs)}-${fmt(r.ours.maxMs)}` : "—",
    rate(r.ours),
    r.peer ? fmt(r.peer.medianMs) : "—",
    rate(r.peer),
    formatSpeedup(r.speedup),
  ]);
  const all = [head, ...lines];
  const widths = head.map((_, i) => Math.max(...all.map((l) => l[i].length)));
  const right = new Set([2, 3, 4, 5, 6, 7, 8]);
  const pad = (l: string[]) =>
    l.map((c, i) => right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ")
      .trimEnd();
  return [pad(head), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(pad)].join("\n");
}
