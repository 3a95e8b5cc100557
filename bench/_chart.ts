// The ratio chart of the end-to-end benchmark: one group of bars per (config, columns),
// one bar per peer, height = our step time over the peer's on a log scale (below the
// "same" line we are faster). Built as SVG text here (pure, testable) and rendered to
// PNG by librsvg through sharp in data/decode.ts (the one file that imports sharp).

import type { StepRow } from "./_e2e_report.ts";

/** One bar. */
export interface Bar {
  /** Group label under the bars, e.g. "small b32 2col". */
  group: string;
  /** Series, e.g. "TF.js WebGPU". */
  series: string;
  /** ours / theirs. */
  value: number;
}

/** Chart size in pixels (the PNG has exactly this size). */
export const CHART_SIZE: { width: number; height: number } = { width: 960, height: 480 };

const COLORS = ["#3b6fb6", "#d9822b", "#5a9e4b", "#a04f9e"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** The bars of the step rows: ours/tfjs and ours/torch where measured. */
export function ratioBars(rows: readonly StepRow[]): Bar[] {
  const bars: Bar[] = [];
  for (const r of rows) {
    const group = `${r.config} b${r.batch} ${r.columns}col`;
    if (r.ratioTfjs !== null) bars.push({ group, series: "TF.js WebGPU", value: r.ratioTfjs });
    if (r.ratioTorch !== null) bars.push({ group, series: "PyTorch CPU", value: r.ratioTorch });
  }
  return bars;
}

/**
 * An SVG bar chart of `bars` (log scale, a dashed line at 1 = same speed). Each bar
 * carries a `data-value` attribute and a value label, so tests can read it back.
 *
 * @example
 * ```ts
 * const svg = ratioChartSvg([{ group: "tiny b32 1col", series: "TF.js WebGPU", value: 0.4 }]);
 * ```
 */
export function ratioChartSvg(
  bars: readonly Bar[],
  title = "Train step: our time / peer's time (below 1 = we are faster)",
): string {
  const { width: W, height: H } = CHART_SIZE;
  const left = 70, right = 20, top = 50, bottom = 90;
  const groups = [...new Set(bars.map((b) => b.group))];
  const series = [...new Set(bars.map((b) => b.series))];
  const values = bars.map((b) => b.value).filter((v) => v > 0 && Number.isFinite(v));
  let lo = Math.floor(Math.log10(Math.min(0.5, ...values)));
  let hi = Math.ceil(Math.log10(Math.max(2, ...values)));
  if (hi === lo) hi = lo + 1;
  lo = Math.max(lo, -3);
  hi = Math.min(hi, 3);
  const plotH = H - top - bottom, plotW = W - left - right;
  const y = (v: number) =>
    top + plotH * (hi - Math.log10(Math.min(Math.max(v, 10 ** lo), 10 ** hi))) / (hi - lo);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="28" font-family="sans-serif" font-size="18" text-anchor="middle">${
      esc(title)
    }</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v > 10 ** hi * 1.0001 || v < 10 ** lo) continue;
      const yy = y(v).toFixed(1);
      parts.push(
        `<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#e4e4e4"/>`,
        `<text x="${
          left - 8
        }" y="${yy}" dy="4" font-family="sans-serif" font-size="12" text-anchor="end">${
          Number(v.toPrecision(2))
        }</text>`,
      );
    }
  }
  const one = y(1).toFixed(1);
  parts.push(
    `<line x1="${left}" x2="${
      W - right
    }" y1="${one}" y2="${one}" stroke="#333" stroke-dasharray="6 4"/>`,
    `<text x="${
      left + 4
    }" y="${one}" dy="-5" font-family="sans-serif" font-size="12">same speed</text>`,
  );
  const slot = plotW / Math.max(groups.length, 1);
  const bw = Math.min(40, (slot * 0.8) / Math.max(series.length, 1));
  for (const [gi, g] of groups.entries()) {
    const cx = left + slot * (gi + 0.5);
    const x0 = cx - (bw * series.length) / 2;
    for (const [si, s] of series.entries()) {
      const b = bars.find((q) => q.group === g && q.series === s);
      if (!b) continue;
      const x = x0 + si * bw, yv = y(b.value), y1 = y(1);
      const [top1, h] = yv < y1 ? [yv, y1 - yv] : [y1, yv - y1];
      parts.push(
        `<rect class="bar" data-group="${esc(g)}" data-series="${
          esc(s)
        }" data-value="${b.value}" x="${(x + 2).toFixed(1)}" y="${top1.toFixed(1)}" width="${
          (bw - 4).toFixed(1)
        }" height="${Math.max(h, 1).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`,
        `<text x="${(x + bw / 2).toFixed(1)}" y="${(yv < y1 ? yv - 4 : yv + 14).toFixed(1)}" ` +
          `font-family="sans-serif" font-size="11" text-anchor="middle">${
            b.value.toFixed(2)
          }</text>`,
      );
    }
    parts.push(
      `<text class="group" x="${cx.toFixed(1)}" y="${
        H - bottom + 20
      }" font-family="sans-serif" font-size="12" text-anchor="middle">${esc(g)}</text>`,
    );
  }
  for (const [si, s] of series.entries()) {
    const x = left + si * 180, yy = H - 30;
    parts.push(
      `<rect x="${x}" y="${yy - 11}" width="14" height="14" fill="${COLORS[si % COLORS.length]}"/>`,
      `<text class="legend" x="${
        x + 20
      }" y="${yy}" font-family="sans-serif" font-size="13">ours / ${esc(s)}</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}

/** Width and height from a PNG's IHDR chunk (throws when the bytes are not a PNG). */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || !sig.every((b, i) => png[i] === b)) throw new Error("pngSize: not a PNG");
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

/** Renders `svg` to PNG bytes (librsvg through sharp, in data/decode.ts). */
export async function renderChartPng(svg: string): Promise<Uint8Array> {
  const { renderSvgPng } = await import("../data/decode.ts");
  return await renderSvgPng(svg);
}
