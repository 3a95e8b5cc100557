// `deno task bench --compare OLD.json`: what got faster or slower between two reports
// (kernel or end-to-end, matched by row). Pure: reports in, lines out.

import type { BenchReport } from "./_report.ts";
import type { E2EReport } from "./_e2e_report.ts";

/** One comparable figure of a report: a median time and its range. */
export interface Figure {
  /** What it is, e.g. "kernel conv2 forward (ours)" or "step small b32 c2 (ours)". */
  label: string;
  /** Median, ms (per run for kernels, per step, or per epoch). */
  ms: number;
  /** Range of the timed repetitions, when known. */
  min?: number;
  /** Range of the timed repetitions, when known. */
  max?: number;
}

/** The verdict on one figure. */
export interface Change {
  /** The figure's label. */
  label: string;
  /** Old median, ms (null: new figure). */
  oldMs: number | null;
  /** New median, ms (null: figure gone). */
  newMs: number | null;
  /** new / old. */
  ratio: number | null;
  /** faster / slower beyond the threshold, same within it, added / removed. */
  verdict: "faster" | "slower" | "same" | "added" | "removed";
  /** True when the old and new min-max ranges overlap (the change may be noise). */
  overlap?: boolean;
}

/** Every timed figure of a kernel or e2e report, by label. */
export function figuresOf(report: BenchReport | E2EReport): Map<string, Figure> {
  const out = new Map<string, Figure>();
  const put = (label: string, s: { ms: number; min?: number; max?: number } | null) => {
    if (s && Number.isFinite(s.ms)) out.set(label, { label, ...s });
  };
  if (report.schema === "alexnet-webgpu/bench-kernels@1") {
    for (const c of report.cases) {
      for (const [side, t] of [["ours", c.ours], ["tfjs", c.peer]] as const) {
        put(
          `kernel ${c.name} [${c.shape}] (${side})`,
          t ? { ms: t.medianMs, min: t.minMs, max: t.maxMs } : null,
        );
      }
    }
    return out;
  }
  if (report.schema !== "alexnet-webgpu/bench-e2e@1") {
    throw new Error(`compare: unknown report schema ${(report as { schema?: unknown }).schema}`);
  }
  for (const r of report.steps) {
    const s = (v: { medianMs: number; minMs: number; maxMs: number } | null) =>
      v ? { ms: v.medianMs, min: v.minMs, max: v.maxMs } : null;
    put(`${r.id} (ours)`, s(r.ours));
    // Peers do not depend on our column count: one figure per config and batch.
    put(`step ${r.config} b${r.batch} (tfjs)`, s(r.tfjs));
    put(`step ${r.config} b${r.batch} (torch)`, s(r.torch));
  }
  for (const e of report.epochs) {
    if (!e.missing) put(`${e.id} (ours, s x 1000)`, { ms: e.epochSeconds * 1000 });
  }
  return out;
}

/**
 * Matches the figures of two reports and classifies each: more than `threshold`
 * (relative) faster or slower, else the same.
 *
 * @example
 * ```ts ignore
 * const changes = compareReports(oldReport, newReport, 0.05);
 * console.log(formatComparison(changes));
 * ```
 */
export function compareReports(
  oldReport: BenchReport | E2EReport,
  newReport: BenchReport | E2EReport,
  threshold = 0.05,
): Change[] {
  if (oldReport.schema !== newReport.schema) {
    throw new Error(
      `compare: the reports are of different kinds (${oldReport.schema} vs ${newReport.schema})`,
    );
  }
  const a = figuresOf(oldReport), b = figuresOf(newReport);
  const out: Change[] = [];
  for (const [label, o] of a) {
    const n = b.get(label);
    if (!n) {
      out.push({ label, oldMs: o.ms, newMs: null, ratio: null, verdict: "removed" });
      continue;
    }
    const ratio = n.ms / o.ms;
    const verdict = ratio < 1 - threshold ? "faster" : ratio > 1 + threshold ? "slower" : "same";
    const c: Change = { label, oldMs: o.ms, newMs: n.ms, ratio, verdict };
    if (o.min !== undefined && o.max !== undefined && n.min !== undefined && n.max !== undefined) {
      c.overlap = n.min <= o.max && o.min <= n.max;
    }
    out.push(c);
  }
  for (const [label, n] of b) {
    if (!a.has(label)) out.push({ label, oldMs: null, newMs: n.ms, ratio: null, verdict: "added" });
  }
  return out;
}

function ms(v: number | null): string {
  if (v === null) return "—";
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** Lines grouped as faster / slower / same / added / removed, biggest changes first. */
export function formatComparison(changes: readonly Change[], threshold = 0.05): string {
  const order = ["faster", "slower", "same", "added", "removed"] as const;
  const title = {
    faster: `faster (by more than ${(threshold * 100).toFixed(0)}%)`,
    slower: `slower (by more than ${(threshold * 100).toFixed(0)}%)`,
    same: "about the same",
    added: "new figures",
    removed: "figures no longer measured",
  };
  const out: string[] = [];
  for (const v of order) {
    const list = changes.filter((c) => c.verdict === v)
      .sort((x, y) => Math.abs(Math.log(y.ratio ?? 1)) - Math.abs(Math.log(x.ratio ?? 1)));
    if (list.length === 0) continue;
    out.push(`${title[v]}: ${list.length}`);
    for (const c of list) {
      const r = c.ratio === null
        ? ""
        : c.ratio === 1
        ? " unchanged"
        : ` ${
          c.ratio < 1 ? `${(1 / c.ratio).toFixed(2)}x faster` : `${c.ratio.toFixed(2)}x slower`
        }`;
      const noise = c.overlap && v !== "same" ? " (ranges overlap: may be noise)" : "";
      out.push(`  ${c.label}: ${ms(c.oldMs)} -> ${ms(c.newMs)} ms${r}${noise}`);
    }
  }
  return out.join("\n");
}
