// Training curves from a run's metrics log (viz/_metrics_log.ts reads it) as an SVG
// chart of three panels sharing an x axis in epochs:
//   loss:  training loss per step (faint), per-epoch training mean, validation
//   error: top-1 (solid) and top-5 (dashed) error, training (epoch means) and validation
//   lr:    the learning rate per step, on a log scale
// rendered to PNG by sharp (data/decode.ts). Each series is a <polyline> with a
// data-series attribute (tests and other tools can find them); epoch and validation
// points also get markers, so a run with one evaluation still shows it.

import type { MetricPoint, MetricsLog } from "./_metrics_log.ts";

export * from "./_metrics_log.ts";

/** Options of {@link curvesSvg}. */
export interface CurvesOptions {
  /** Image width in pixels (default 900). */
  width?: number;
  /** Title line (default "Training curves" plus the run's description). */
  title?: string;
}

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const TRAIN = "#1f6fb4", TRAIN_FAINT = "#9ec3e6", VAL = "#e0671b", LR = "#4a9a3a";

/** Tick values covering [lo, hi] at 1, 2 or 5 times a power of ten (about `n` of them). */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw)), f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

/** A linear domain that ends on ticks, padded 5% when the data are flat at the ends. */
function linearDomain(values: number[], clamp?: [number, number]): [number, number, number[]] {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(hi > lo)) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  if (clamp) [lo, hi] = [Math.max(clamp[0], lo), Math.min(clamp[1], hi)];
  const ticks = niceTicks(lo, hi, 5), step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  return [lo, hi, niceTicks(lo, hi, 5)];
}

interface Series {
  id: string;
  label: string;
  color: string;
  points: [number, number][];
  dash?: boolean;
  width?: number;
  markers?: boolean;
}

interface Panel {
  title: string;
  yLabel: string;
  height: number;
  series: Series[];
  log?: boolean;
  format: (v: number) => string;
  clamp?: [number, number];
  /** Start the axis at 0 (errors: the distance to 0 is what matters). */
  zero?: boolean;
}

function pick(points: MetricPoint[], key: "loss" | "top1" | "top5" | "lr"): [number, number][] {
  return points.filter((p) => Number.isFinite(p[key])).map((p) => [p.x, p[key]!]);
}

/** Moving average over `w` points (noisy per-batch errors when a log has no epochs). */
function smooth(points: [number, number][], w: number): [number, number][] {
  return points.map(([x], i) => {
    const part = points.slice(Math.max(0, i - w + 1), i + 1);
    return [x, part.reduce((a, [, y]) => a + y, 0) / part.length];
  });
}

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

// Decimals down to 0.0001 read at a glance; beyond that, 1e-5 is shorter than 0.00001.
function lrFormat(v: number): string {
  const e = Math.round(Math.log10(v));
  return e < -4 || e > 4 ? `1e${e}` : `${Number(v.toPrecision(6))}`;
}

function panels(log: MetricsLog): Panel[] {
  const smoothW = Math.max(1, Math.round((log.stepsPerEpoch ?? 20) / 10));
  const trainErr = (key: "top1" | "top5") =>
    log.epochs.length ? pick(log.epochs, key) : smooth(pick(log.steps, key), smoothW);
  const trainErrLabel = log.epochs.length ? "epoch mean" : `${smoothW}-step mean`;
  const pct = (p: [number, number][]) => p.map(([x, y]) => [x, 100 * y] as [number, number]);
  const lrPoints = pick(log.steps.length ? log.steps : log.epochs, "lr").filter(([, y]) => y > 0);
  return [
    {
      title: "Loss",
      yLabel: "cross-entropy",
      height: 230,
      format: (v) => `${Number(v.toPrecision(4))}`,
      series: [
        {
          id: "train-loss-step",
          label: "train (per batch)",
          // Faint beside epoch means; the only training line when there are none.
          color: log.epochs.length ? TRAIN_FAINT : TRAIN,
          points: pick(log.steps, "loss"),
          width: 1,
        },
        {
          id: "train-loss",
          label: "train (epoch mean)",
          color: TRAIN,
          points: pick(log.epochs, "loss"),
          markers: true,
        },
        {
          id: "val-loss",
          label: "validation",
          color: VAL,
          points: pick(log.evals, "loss"),
          markers: true,
        },
      ],
    },
    {
      title: "Error",
      yLabel: "error (%)",
      height: 230,
      clamp: [0, 100],
      zero: true,
      format: (v) => `${Number(v.toPrecision(4))}%`,
      series: [
        {
          id: "train-top1",
          label: `train top-1 (${trainErrLabel})`,
          color: TRAIN,
          points: pct(trainErr("top1")),
          markers: log.epochs.length > 0,
        },
        {
          id: "train-top5",
          label: `train top-5 (${trainErrLabel})`,
          color: TRAIN,
          points: pct(trainErr("top5")),
          dash: true,
          markers: log.epochs.length > 0,
        },
        {
          id: "val-top1",
          label: "validation top-1",
          color: VAL,
          points: pct(pick(log.evals, "top1")),
          markers: true,
        },
        {
          id: "val-top5",
          label: "validation top-5",
          color: VAL,
          points: pct(pick(log.evals, "top5")),
          dash: true,
          markers: true,
        },
      ],
    },
    {
      title: "Learning rate",
      yLabel: "lr (log scale)",
      height: 150,
      log: true,
      format: lrFormat,
      series: [{ id: "lr", label: "learning rate", color: LR, points: lrPoints }],
    },
  ];
}

/**
 * The chart as an SVG document (see the file header for the panels).
 *
 * @example
 * ```ts
 * import { curvesSvg, parseMetricsLog } from "./curves.ts";
 * const svg = curvesSvg(parseMetricsLog(
 *   '{"type":"step","step":1,"stepsPerEpoch":1,"epoch":0,"loss":2.3,"top1Error":0.9,"top5Error":0.5,"lr":0.01}\n',
 * ));
 * console.log(svg.includes('data-series="train-loss-step"'));
 * ```
 */
export function curvesSvg(log: MetricsLog, options: CurvesOptions = {}): string {
  const W = options.width ?? 900;
  const left = 78, right = 210, top = 66, gapY = 58, bottomPad = 48;
  const plotW = W - left - right;
  const all = panels(log);
  const xs = [...log.steps, ...log.epochs, ...log.evals].map((p) => p.x);
  const xMax = Math.max(...xs, 1);
  // Whole epochs when there are a few; within a first epoch, tenths.
  const xTicks = xMax < 2
    ? niceTicks(0, xMax, 5)
    : xMax <= 30
    ? niceTicks(0, Math.ceil(xMax), Math.min(Math.ceil(xMax), 10))
    : niceTicks(0, xMax, 8);
  if (xTicks[xTicks.length - 1] < xMax) {
    xTicks.push(
      Number((2 * xTicks[xTicks.length - 1] - xTicks[xTicks.length - 2]).toPrecision(12)),
    );
  }
  const xHi = xTicks[xTicks.length - 1];
  const sx = (x: number) => left + (x / xHi) * plotW;
  const xLabel = log.stepsPerEpoch || !log.steps.length ? "epoch" : "step";
  const H = top + all.reduce((a, p) => a + p.height, 0) + gapY * (all.length - 1) + bottomPad;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<g font-family="${FONT}" font-size="12" fill="#222">`,
    `<text x="${left}" y="26" font-size="16" font-weight="bold">${
      esc(
        options.title ?? `Training curves${log.description ? ` — ${log.description}` : ""}`,
      )
    }</text>`,
  ];
  let y0 = top;
  for (const panel of all) {
    const h = panel.height, y1 = y0 + h;
    const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y));
    let sy: (v: number) => number, yTicks: number[];
    if (panel.log) {
      const lo = ys.length ? Math.min(...ys) : 1e-3, hi = ys.length ? Math.max(...ys) : 1e-1;
      const e0 = Math.floor(Math.log10(lo) - 0.3), e1 = Math.ceil(Math.log10(hi) + 0.3);
      yTicks = Array.from({ length: e1 - e0 + 1 }, (_, i) => 10 ** (e0 + i));
      sy = (v) => y1 - ((Math.log10(v) - e0) / (e1 - e0)) * h;
    } else {
      const [lo, hi, ticks] = linearDomain(
        [...(ys.length ? ys : [0, 1]), ...(panel.zero ? [0] : [])],
        panel.clamp,
      );
      yTicks = ticks;
      sy = (v) => y1 - ((v - lo) / (hi - lo)) * h;
    }
    out.push(`<g class="panel" data-panel="${esc(panel.title)}">`);
    out.push(
      `<text x="${left}" y="${y0 - 8}" font-size="13" font-weight="bold">${
        esc(panel.title)
      }</text>`,
    );
    // Grid and ticks.
    for (const t of yTicks) {
      const y = f1(sy(t));
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
      out.push(
        `<text x="${left - 6}" y="${y}" dy="4" text-anchor="end">${esc(panel.format(t))}</text>`,
      );
    }
    for (const t of xTicks) {
      const x = f1(sx(t));
      out.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y1}" stroke="#efefef"/>`);
      out.push(`<text x="${x}" y="${y1 + 16}" text-anchor="middle">${t}</text>`);
    }
    out.push(
      `<rect x="${left}" y="${y0}" width="${plotW}" height="${h}" fill="none" stroke="#888"/>`,
    );
    out.push(
      `<text transform="translate(${left - 58} ${f1(y0 + h / 2)}) rotate(-90)" ` +
        `text-anchor="middle">${esc(panel.yLabel)}</text>`,
    );
    out.push(
      `<text x="${f1(left + plotW / 2)}" y="${y1 + 34}" text-anchor="middle">${xLabel}</text>`,
    );
    // Series, clipped to the plot so a spike cannot draw over the legend.
    const clip = `clip-${panel.title.replace(/\W/g, "")}`;
    out.push(
      `<clipPath id="${clip}"><rect x="${left}" y="${y0}" width="${plotW}" height="${h}"/></clipPath>`,
    );
    out.push(`<g clip-path="url(#${clip})" fill="none">`);
    for (const s of panel.series) {
      const pts = s.points.map(([x, y]) => `${f1(sx(x))},${f1(sy(y))}`).join(" ");
      out.push(
        `<polyline data-series="${s.id}" points="${pts}" stroke="${s.color}" ` +
          `stroke-width="${s.width ?? 2}"${s.dash ? ' stroke-dasharray="6 4"' : ""} ` +
          `stroke-linejoin="round"/>`,
      );
      if (s.markers) {
        for (const [x, y] of s.points) {
          out.push(`<circle cx="${f1(sx(x))}" cy="${f1(sy(y))}" r="3" fill="${s.color}"/>`);
        }
      }
    }
    out.push(`</g>`);
    // Legend to the right of the plot: only series with data.
    let ly = y0 + 10;
    for (const s of panel.series.filter((s) => s.points.length)) {
      const lx = left + plotW + 14;
      out.push(
        `<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${s.color}" ` +
          `stroke-width="${s.width ?? 2}"${s.dash ? ' stroke-dasharray="6 4"' : ""}/>`,
      );
      if (s.markers) out.push(`<circle cx="${lx + 13}" cy="${ly}" r="3" fill="${s.color}"/>`);
      out.push(`<text x="${lx + 32}" y="${ly}" dy="4">${esc(s.label)}</text>`);
      ly += 20;
    }
    out.push(`</g>`);
    y0 = y1 + gapY;
  }
  out.push(`</g></svg>`);
  return out.join("\n");
}

/**
 * The chart as PNG bytes (the SVG rendered by sharp, as a compact palette PNG).
 *
 * @example
 * ```ts ignore
 * const png = await renderCurves(await readMetricsLog("out/train"));
 * await Deno.writeFile("curves.png", png);
 * ```
 */
export async function renderCurves(
  log: MetricsLog,
  options: CurvesOptions = {},
): Promise<Uint8Array> {
  const { renderSvgPng } = await import("../data/decode.ts");
  return await renderSvgPng(curvesSvg(log, options), { compact: true });
}
