// The prediction grid of `deno task predict --grid out.png`: each input image with its
// top-k classes drawn beside it (name, a bar as long as the probability, the
// percentage). With a known label, its row is green and the caption says whether the
// top-1 guess was right.
//
// The images are pasted as pixels (box-averaged down or nearest-neighbour up to fit an
// `imageSize` square, aspect kept) and the text is an SVG layer composited on top
// (data/decode.ts overlaySvgPng), so the pictures are the very pixels the network saw.

/** One image and its predictions. */
export interface GridItem {
  /** Packed HWC RGB, `width * height * 3` bytes. */
  image: Uint8Array;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Caption above the image (e.g. the file name). */
  title?: string;
  /** The true class name, if known. */
  label?: string;
  /** Best classes first: name and probability in [0, 1]. */
  top5: { name: string; p: number }[];
}

/** Options of {@link predictionGrid}. */
export interface GridOptions {
  /** Side of the square each image is fitted into (default 128). */
  imageSize?: number;
  /** Cells per row (default: up to 3). */
  columns?: number;
}

/** Where one item landed. */
export interface GridCell {
  /** Top-left corner of the cell. */
  x: number;
  /** Top-left corner of the cell. */
  y: number;
  /** The pasted image's rectangle. */
  imageX: number;
  /** The pasted image's rectangle. */
  imageY: number;
  /** The pasted image's rectangle. */
  imageWidth: number;
  /** The pasted image's rectangle. */
  imageHeight: number;
}

/** A laid-out grid: the pixels, the text layer and the cells. */
export interface PredictionGrid {
  /** Packed HWC RGB with the images pasted. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** RGB. */
  channels: 3;
  /** The text and bars, an SVG of the same size. */
  svg: string;
  /** One per item, in order. */
  cells: GridCell[];
}

const PAD = 12, TITLE = 22, TEXT_W = 300, ROW = 22, BAR_W = 110;
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

/**
 * Resizes packed RGB by averaging each target pixel's source box (nearest neighbour
 * when upscaling, since each box is then one source pixel).
 */
export function resizeRgb(
  src: Uint8Array,
  w: number,
  h: number,
  tw: number,
  th: number,
): Uint8Array {
  const out = new Uint8Array(tw * th * 3);
  for (let y = 0; y < th; y++) {
    const y0 = Math.floor((y * h) / th), y1 = Math.max(y0 + 1, Math.floor(((y + 1) * h) / th));
    for (let x = 0; x < tw; x++) {
      const x0 = Math.floor((x * w) / tw), x1 = Math.max(x0 + 1, Math.floor(((x + 1) * w) / tw));
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let sy = y0; sy < y1; sy++) {
          for (let sx = x0; sx < x1; sx++) sum += src[3 * (sy * w + sx) + c];
        }
        out[3 * (y * tw + x) + c] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return out;
}

function checkItem(item: GridItem, i: number): void {
  const { width: w, height: h } = item;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new RangeError(`predictionGrid: item ${i}: width and height must be positive integers`);
  }
  if (item.image.length !== w * h * 3) {
    throw new RangeError(
      `predictionGrid: item ${i}: a ${w}x${h} RGB image needs ${
        w * h * 3
      } bytes, got ${item.image.length}`,
    );
  }
  for (const t of item.top5) {
    if (!(t.p >= 0 && t.p <= 1)) {
      throw new RangeError(
        `predictionGrid: item ${i}: probability of "${t.name}" must be in [0, 1], got ${t.p}`,
      );
    }
  }
}

/**
 * Lays out the grid: pixels with the images pasted, and the SVG text layer.
 *
 * @example
 * ```ts
 * import { predictionGrid } from "./grid.ts";
 * const g = predictionGrid([{
 *   image: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4, label: "cat",
 *   top5: [{ name: "cat", p: 0.7 }, { name: "dog", p: 0.2 }],
 * }]);
 * console.log(g.width, g.height);
 * ```
 */
export function predictionGrid(
  items: readonly GridItem[],
  options: GridOptions = {},
): PredictionGrid {
  if (items.length === 0) throw new RangeError("predictionGrid: no items");
  items.forEach(checkItem);
  const S = options.imageSize ?? 128;
  const cols = options.columns ?? Math.min(3, items.length);
  if (!Number.isInteger(S) || S < 8) {
    throw new RangeError(`predictionGrid: imageSize must be an integer >= 8, got ${S}`);
  }
  if (!Number.isInteger(cols) || cols < 1) {
    throw new RangeError(`predictionGrid: columns must be a positive integer, got ${cols}`);
  }
  const k = Math.max(...items.map((it) => it.top5.length));
  const anyLabel = items.some((it) => it.label !== undefined);
  const bodyH = Math.max(S, (anyLabel ? ROW : 0) + k * ROW);
  const cellW = PAD + S + PAD + TEXT_W, cellH = PAD + TITLE + bodyH + PAD;
  const rows = Math.ceil(items.length / cols);
  const width = cols * cellW + PAD, height = rows * cellH;
  const data = new Uint8Array(width * height * 3).fill(255);
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<g font-family="${FONT}" font-size="13" fill="#222">`,
  ];
  const cells = items.map((item, i) => {
    const x = (i % cols) * cellW + PAD, y = Math.floor(i / cols) * cellH + PAD;
    // Fit into S x S keeping the aspect ratio, centred.
    const f = S / Math.max(item.width, item.height);
    const iw = Math.max(1, Math.round(item.width * f)),
      ih = Math.max(1, Math.round(item.height * f));
    const ix = x + ((S - iw) >> 1), iy = y + TITLE + ((S - ih) >> 1);
    const scaled = resizeRgb(item.image, item.width, item.height, iw, ih);
    for (let r = 0; r < ih; r++) {
      data.set(scaled.subarray(r * iw * 3, (r + 1) * iw * 3), 3 * ((iy + r) * width + ix));
    }
    const top1 = item.top5[0]?.name;
    const verdict = item.label === undefined
      ? ""
      : top1 === item.label
      ? "✓"
      : item.top5.some((t) => t.name === item.label)
      ? "(in top-5)"
      : "✗";
    const verdictColour = verdict === "✓" ? "#1a7f37" : verdict === "✗" ? "#c62828" : "#b26a00";
    svg.push(
      `<text x="${x}" y="${y + 15}" font-weight="bold">${
        esc(clip(item.title ?? `image ${i + 1}`, 48))
      }` +
        (verdict ? `<tspan dx="6" fill="${verdictColour}">${esc(verdict)}</tspan>` : "") +
        `</text>`,
    );
    const tx = x + S + PAD;
    let ty = y + TITLE;
    if (item.label !== undefined) {
      svg.push(
        `<text x="${tx}" y="${ty + 15}" fill="#555">label: ${esc(clip(item.label, 32))}</text>`,
      );
      ty += ROW;
    }
    item.top5.forEach((t, r) => {
      const yy = ty + r * ROW;
      const hit = item.label !== undefined && t.name === item.label;
      const colour = hit ? "#2e9d46" : "#5b8fc7";
      svg.push(
        `<text x="${tx}" y="${yy + 15}">${r + 1}. ${esc(clip(t.name, 17))}</text>`,
        `<rect x="${tx + 150}" y="${yy + 5}" width="${BAR_W}" height="12" fill="#eee"/>`,
        `<rect x="${tx + 150}" y="${yy + 5}" width="${(BAR_W * t.p).toFixed(1)}" height="12" ` +
          `fill="${colour}"/>`,
        `<text x="${tx + TEXT_W - 2}" y="${yy + 15}" text-anchor="end">${
          (100 * t.p).toFixed(1)
        }%</text>`,
      );
    });
    return { x, y, imageX: ix, imageY: iy, imageWidth: iw, imageHeight: ih };
  });
  svg.push(`</g></svg>`);
  return { data, width, height, channels: 3, svg: svg.join("\n"), cells };
}

/**
 * The prediction grid as PNG bytes (see {@link predictionGrid}).
 *
 * @example
 * ```ts ignore
 * const png = await renderPredictionGrid(preds.map((p, i) => ({
 *   image: images[i], width: S, height: S, title: p.file,
 *   top5: p.top.map((t) => ({ name: t.name, p: t.probability })),
 * })));
 * await Deno.writeFile("grid.png", png);
 * ```
 */
export async function renderPredictionGrid(
  items: readonly GridItem[],
  options: GridOptions = {},
): Promise<Uint8Array> {
  const grid = predictionGrid(items, options);
  const { overlaySvgPng } = await import("../data/decode.ts");
  return await overlaySvgPng(grid, grid.svg);
}
