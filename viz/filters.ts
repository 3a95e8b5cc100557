// conv1 filter mosaics per column, and a number for the paper's colour specialisation.
//
// The paper's Figure 3 shows the 96 conv1 kernels: the 48 learned on one GPU are largely
// colour-agnostic, the 48 on the other largely colour-specific. Here each column's half
// of conv1 (output channels [0, n/2) and [n/2, n) of the PyTorch-order weight
// [out, 3, k, k]) becomes one block of a mosaic, blocks side by side, column 0 left.
//
// Display: each kernel is normalised on its own — its minimum over all three channels
// and pixels maps to 0, its maximum to 255 — so weak and strong kernels are equally
// visible and the colour balance within a kernel is kept (one min/max for all three
// channels, not one per channel). A constant kernel is drawn mid-grey. Kernels are
// upscaled by nearest neighbour (`scale`) and separated by `gap` background pixels.
//
// Colour measure ("saturation"): the chromatic energy fraction of a kernel w[c, y, x].
// With m(y, x) = the grey mean of the three channels at a pixel and mu = the mean of
// the whole kernel,
//   chromatic = sum_{c,y,x} (w[c,y,x] - m(y,x))^2
//   total     = sum_{c,y,x} (w[c,y,x] - mu)^2  = chromatic + 3 sum_{y,x} (m(y,x) - mu)^2
// and saturation = chromatic / total, in [0, 1]. It is 0 for a grey kernel (equal
// channels), 1 for a kernel whose pixels all have the same brightness but differ in
// hue, and invariant to scaling the kernel and adding a constant — the same invariances
// as the display normalisation, so it measures what the picture shows. Untrained
// (i.i.d. random) kernels score about 2P / (3P - 1) ~= 0.67 for P pixels (two of each
// pixel's three degrees of freedom are chromatic): a column clearly below that has
// become colour-agnostic, one above it colourful. A constant kernel scores 0.

import { type AlexNetConfig, halves, parameterShapes, partsOf } from "../model/config.ts";

/** A conv1 weight in PyTorch order: `[out, 3, k, k]`, `data.length` = out * 3 * k * k. */
export interface Conv1Weight {
  /** The values, row-major over `shape`. */
  data: Float32Array;
  /** `[out, 3, kh, kw]`. */
  shape: readonly number[];
}

/** Options of {@link filterMosaic}. */
export interface MosaicOptions {
  /** Columns the output channels are split over (default 2; 1: one block). */
  columns?: number;
  /**
   * Nearest-neighbour upscale factor (default: about 48 px per kernel cell, and blocks at
   * least ~300 px wide so captions fit).
   */
  scale?: number;
  /** Background pixels between kernels, and around them (default 4). */
  gap?: number;
  /** Space reserved above the blocks for labels, in pixels (default 24). */
  header?: number;
  /** Background RGB (default white). */
  background?: [number, number, number];
}

/** Where one column's block sits in a mosaic. */
export interface MosaicBlock {
  /** Column index. */
  column: number;
  /** First output channel of the column (whole-network index). */
  first: number;
  /** Kernels in the column. */
  count: number;
  /** Left edge of the block's first kernel. */
  left: number;
  /** Top edge of the block's first kernel. */
  top: number;
  /** Kernels per row in the block. */
  perRow: number;
  /** Block width in pixels (kernels and the gaps between them). */
  width: number;
  /** Block height in pixels. */
  height: number;
}

/** A mosaic of conv1 kernels: packed HWC RGB pixels and their layout. */
export interface FilterMosaic {
  /** Packed HWC RGB. */
  data: Uint8Array;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** RGB. */
  channels: 3;
  /** Upscale factor used. */
  scale: number;
  /** Gap used. */
  gap: number;
  /** Kernel side in the weight (kh; kw = kh). */
  kernel: number;
  /** One block per column, left to right. */
  blocks: MosaicBlock[];
}

/**
 * Checks that a weight is a conv1 weight `[out, 3, k, k]` whose data matches its
 * shape and whose output channels split over `columns`; throws naming what is wrong.
 */
export function checkConv1(weight: Conv1Weight, columns = 2, what = "conv1.weight"): void {
  const s = weight.shape;
  if (s.length !== 4 || s.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new RangeError(`${what}: expected shape [out, 3, k, k], got [${s}]`);
  }
  if (s[1] !== 3) {
    throw new RangeError(`${what}: expected 3 input channels (RGB), got shape [${s}]`);
  }
  if (s[2] !== s[3]) throw new RangeError(`${what}: expected square kernels, got [${s}]`);
  const size = s[0] * s[1] * s[2] * s[3];
  if (weight.data.length !== size) {
    throw new RangeError(
      `${what}: shape [${s}] needs ${size} values, got ${weight.data.length}`,
    );
  }
  if (!Number.isInteger(columns) || columns < 1 || columns > s[0]) {
    throw new RangeError(`${what}: cannot split ${s[0]} kernels over ${columns} columns`);
  }
}

/** Output-channel ranges of each column: [first, count] (the model's ceil/floor split). */
export function columnRanges(out: number, columns: number): [number, number][] {
  if (columns === 1) return [[0, out]];
  if (columns === 2) {
    const [a, b] = halves(out);
    return [[0, a], [a, b]];
  }
  const per = Math.ceil(out / columns);
  return Array.from({ length: columns }, (_, c) => {
    const first = Math.min(out, c * per);
    return [first, Math.min(out, first + per) - first] as [number, number];
  });
}

/**
 * The chromatic energy fraction of one kernel (see the file header): 0 for grey, 1 for
 * pure hue variation at constant brightness; scale- and offset-invariant.
 * `kernel` is CHW: 3 planes of `pixels` values.
 *
 * @example
 * ```ts
 * import { kernelSaturation } from "./filters.ts";
 * // a 1x2 kernel: red-ish left pixel, grey right pixel
 * console.log(kernelSaturation(Float32Array.of(1, 0.5, 0, 0.5, 0, 0.5)));
 * ```
 */
export function kernelSaturation(kernel: ArrayLike<number>): number {
  if (kernel.length === 0 || kernel.length % 3 !== 0) {
    throw new RangeError(
      `kernelSaturation: expected 3 planes (length a positive multiple of 3), got ${kernel.length}`,
    );
  }
  const P = kernel.length / 3;
  let mu = 0;
  for (let i = 0; i < kernel.length; i++) mu += kernel[i];
  mu /= kernel.length;
  let chromatic = 0, total = 0, squares = 0;
  for (let p = 0; p < P; p++) {
    const r = kernel[p], g = kernel[P + p], b = kernel[2 * P + p];
    const m = (r + g + b) / 3;
    chromatic += (r - m) ** 2 + (g - m) ** 2 + (b - m) ** 2;
    total += (r - mu) ** 2 + (g - mu) ** 2 + (b - mu) ** 2;
    squares += r * r + g * g + b * b;
  }
  // A constant kernel has no structure; rounding can leave a tiny "total" in it, so
  // anything at the rounding level of its values counts as constant.
  return total > 1e-12 * squares ? Math.min(1, chromatic / total) : 0;
}

/** One column's colour figures. */
export interface ColumnSaturation {
  /** Column index. */
  column: number;
  /** Kernels in the column. */
  count: number;
  /** Mean of the kernels' saturations. */
  mean: number;
  /** Median of the kernels' saturations. */
  median: number;
  /** Kernels with saturation above 0.5 (more chromatic than achromatic energy). */
  colourful: number;
  /** Each kernel's saturation, in channel order. */
  kernels: number[];
}

/**
 * The colour specialisation of each column: per kernel {@link kernelSaturation}, and
 * its mean, median and the count above 0.5 per column.
 *
 * @example
 * ```ts ignore
 * const [a, b] = columnSaturation({ data: weights.get("conv1.weight")!, shape: [96, 3, 11, 11] });
 * console.log(a.mean.toFixed(2), b.mean.toFixed(2));
 * ```
 */
export function columnSaturation(weight: Conv1Weight, columns = 2): ColumnSaturation[] {
  checkConv1(weight, columns);
  const per = 3 * weight.shape[2] * weight.shape[3];
  return columnRanges(weight.shape[0], columns).map(([first, count], column) => {
    const kernels: number[] = [];
    for (let o = first; o < first + count; o++) {
      kernels.push(kernelSaturation(weight.data.subarray(o * per, (o + 1) * per)));
    }
    const sorted = [...kernels].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return {
      column,
      count,
      mean: kernels.reduce((a, b) => a + b, 0) / Math.max(1, count),
      median: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
      colourful: kernels.filter((s) => s > 0.5).length,
      kernels,
    };
  });
}

/** Kernels per row of a block of `n` kernels: about 4:3 landscape (48 -> 8 x 6). */
export function kernelsPerRow(n: number): number {
  return Math.max(1, Math.min(n, Math.ceil(Math.sqrt((n * 4) / 3))));
}

/**
 * Draws each column's conv1 kernels as a block of a mosaic (see the file header for
 * the normalisation). Kernel `i` of a block sits at row `floor(i / perRow)`, column
 * `i % perRow`; its top-left pixel is at
 * `(block.left + col * (k * scale + gap), block.top + row * (k * scale + gap))`.
 *
 * @example
 * ```ts
 * import { filterMosaic } from "./filters.ts";
 * const m = filterMosaic({ data: new Float32Array(96 * 3 * 11 * 11), shape: [96, 3, 11, 11] });
 * console.log(m.width, m.height, m.blocks.length); // two blocks of 8 x 6 kernels
 * ```
 */
export function filterMosaic(weight: Conv1Weight, options: MosaicOptions = {}): FilterMosaic {
  const columns = options.columns ?? 2;
  checkConv1(weight, columns);
  const k = weight.shape[2];
  const ranges = columnRanges(weight.shape[0], columns);
  const perRow = Math.max(...ranges.map(([, n]) => kernelsPerRow(n)));
  const gap = options.gap ?? 4;
  // About 48 px per kernel cell: 11x11 kernels at x4, so the paper's mosaic is ~800 px
  // wide; blocks of few small kernels grow to ~300 px so their captions fit above them.
  const scale = options.scale ?? Math.max(
    1,
    Math.floor((48 - gap) / k),
    Math.ceil((300 - (perRow - 1) * gap) / (perRow * k)),
  );
  const header = options.header ?? 24;
  for (const [name, v, min] of [["scale", scale, 1], ["gap", gap, 0], ["header", header, 0]]) {
    if (!Number.isInteger(v) || (v as number) < (min as number)) {
      throw new RangeError(`filterMosaic: ${name} must be an integer >= ${min}, got ${v}`);
    }
  }
  const cell = k * scale;
  const rows = Math.max(...ranges.map(([, n]) => Math.ceil(n / perRow)));
  const blockW = perRow * cell + (perRow - 1) * gap;
  const blockH = rows * cell + (rows - 1) * gap;
  const blockGap = Math.max(3 * gap, 12); // wider than a kernel gap, so the columns read apart
  const width = 2 * gap + columns * blockW + (columns - 1) * blockGap;
  const height = header + 2 * gap + blockH;
  const bg = options.background ?? [255, 255, 255];
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(bg, i);

  const P = k * k;
  const blocks: MosaicBlock[] = ranges.map(([first, count], column) => {
    const left = gap + column * (blockW + blockGap), top = header + gap;
    for (let i = 0; i < count; i++) {
      const o = first + i;
      const w = weight.data.subarray(o * 3 * P, (o + 1) * 3 * P);
      let lo = Infinity, hi = -Infinity;
      for (const v of w) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const range = hi - lo;
      const x0 = left + (i % perRow) * (cell + gap);
      const y0 = top + Math.floor(i / perRow) * (cell + gap);
      for (let y = 0; y < cell; y++) {
        const ky = Math.floor(y / scale);
        for (let x = 0; x < cell; x++) {
          const p = ky * k + Math.floor(x / scale);
          const dst = 3 * ((y0 + y) * width + x0 + x);
          for (let c = 0; c < 3; c++) {
            data[dst + c] = range > 0 ? Math.round((255 * (w[c * P + p] - lo)) / range) : 128;
          }
        }
      }
    }
    return { column, first, count, left, top, perRow, width: blockW, height: blockH };
  });
  return { data, width, height, channels: 3, scale, gap, kernel: k, blocks };
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The label layer of a mosaic: an SVG of the mosaic's size with one caption above each
 * block (e.g. "column 0 · kernels 0-47 · saturation 0.31"), transparent elsewhere.
 */
export function mosaicLabelsSvg(mosaic: FilterMosaic, labels: readonly string[]): string {
  const font = Math.min(14, Math.max(9, mosaic.blocks[0].top - mosaic.gap - 8));
  const texts = mosaic.blocks.map((b, i) =>
    `<text x="${b.left}" y="${b.top - mosaic.gap - 6}">${escapeXml(labels[i] ?? "")}</text>`
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${mosaic.width}" ` +
    `height="${mosaic.height}"><g font-family="DejaVu Sans, Helvetica, Arial, sans-serif" ` +
    `font-size="${font}" fill="#222">${texts.join("")}</g></svg>`;
}

/** What {@link renderFilters} returns. */
export interface RenderedFilters {
  /** The PNG file's bytes. */
  png: Uint8Array;
  /** The mosaic's pixels and layout (before labels). */
  mosaic: FilterMosaic;
  /** Colour figures per column. */
  saturation: ColumnSaturation[];
}

/**
 * The conv1 mosaic with per-column captions (kernel range and mean saturation), as
 * PNG. Labels sit above the blocks, so the kernel pixels in the PNG are exactly the
 * mosaic's.
 *
 * @example
 * ```ts ignore
 * const ck = await loadCheckpoint("out/train/checkpoint");
 * const { png, saturation } = await renderFilters(conv1FromCheckpoint(ck));
 * await Deno.writeFile("conv1.png", png);
 * ```
 */
export async function renderFilters(
  weight: Conv1Weight,
  options: MosaicOptions = {},
): Promise<RenderedFilters> {
  const mosaic = filterMosaic(weight, options);
  const saturation = columnSaturation(weight, options.columns ?? 2);
  const labels = mosaic.blocks.map((b, i) =>
    `column ${b.column} · kernels ${b.first}–${b.first + b.count - 1} · ` +
    `saturation ${saturation[i].mean.toFixed(2)}`
  );
  const { overlaySvgPng } = await import("../data/decode.ts");
  const png = await overlaySvgPng(mosaic, mosaicLabelsSvg(mosaic, labels));
  return { png, mosaic, saturation };
}

/**
 * The first conv's weight of a loaded checkpoint (`conv1.weight`, or `features.0.weight`
 * for torchvision's layout), with its shape from the checkpoint's config; throws if the
 * tensor is missing or does not match.
 */
export function conv1FromCheckpoint(ck: {
  weights: ReadonlyMap<string, Float32Array>;
  state: { config: AlexNetConfig };
}): Conv1Weight {
  const first = parameterShapes(ck.state.config)[0];
  const data = ck.weights.get(first.name);
  if (!data) throw new Error(`checkpoint has no tensor "${first.name}"`);
  const weight = { data, shape: first.shape };
  checkConv1(weight, partsOf(ck.state.config), first.name);
  return weight;
}
