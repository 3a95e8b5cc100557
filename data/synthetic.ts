// The built-in dataset: ten shape classes drawn as SVG with a seeded generator, rendered
// by librsvg (through sharp) to PNG, then sent through the same decode/resize/crop path
// as folder images (decode.ts), so the offline default exercises the real pipeline.
//
// What makes it non-trivial: the object's position, size, rotation, colour and style
// (filled or outlined) vary; backgrounds are random gradients with lines, translucent
// blobs and arcs in other colours; half the images carry a smaller distractor shape of
// another class; canvases are non-square, so the centre crop may clip the object.
//
// Everything is a function of (seed, split, class, index): the same parameters give the
// same bytes. GENERATOR_VERSION is part of the cache key; bump it when drawing changes.

import { type BuildItem, buildShards } from "./build.ts";
import { defaultCacheDir } from "./dataset.ts";
import { hash32, mulberry32 } from "./rng.ts";
import { readIndex } from "./shards.ts";

/** Bump whenever the drawing changes (invalidates caches). */
export const GENERATOR_VERSION = 1;

/** Class names, in label order. */
export const SYNTHETIC_CLASSES: readonly string[] = [
  "circle",
  "square",
  "triangle",
  "star",
  "cross",
  "ring",
  "arrow",
  "heart",
  "hexagon",
  "crescent",
];

const polygon = (pts: number[][]) =>
  `M${pts.map((p) => p.map((v) => v.toFixed(3)).join(" ")).join("L")}Z`;
const regular = (n: number, r: number, phase: number) =>
  Array.from({ length: n }, (_, i) => {
    const a = phase + (2 * Math.PI * i) / n;
    return [r * Math.cos(a), r * Math.sin(a)];
  });

/** Unit-size shape outlines (radius about 1 around the origin), as SVG path data. */
const SHAPES: Record<string, string> = {
  circle: "M1 0A1 1 0 1 1 -1 0A1 1 0 1 1 1 0Z",
  square: polygon([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]]),
  triangle: polygon(regular(3, 1, -Math.PI / 2)),
  star: polygon(
    Array.from({ length: 10 }, (_, i) => {
      const r = i % 2 ? 0.42 : 1, a = -Math.PI / 2 + (Math.PI * i) / 5;
      return [r * Math.cos(a), r * Math.sin(a)];
    }),
  ),
  cross: polygon([
    [-0.3, -1],
    [0.3, -1],
    [0.3, -0.3],
    [1, -0.3],
    [1, 0.3],
    [0.3, 0.3],
    [0.3, 1],
    [-0.3, 1],
    [-0.3, 0.3],
    [-1, 0.3],
    [-1, -0.3],
    [-0.3, -0.3],
  ]), // deno-fmt-ignore
  ring: "M1 0A1 1 0 1 1 -1 0A1 1 0 1 1 1 0ZM0.55 0A0.55 0.55 0 1 0 -0.55 0A0.55 0.55 0 1 0 0.55 0Z",
  arrow: polygon([[-1, -0.22], [0.15, -0.22], [0.15, -0.6], [1, 0], [0.15, 0.6], [0.15, 0.22], [
    -1,
    0.22,
  ]]),
  heart:
    "M0 0.85C-0.1 0.75 -1 0.2 -1 -0.35C-1 -0.8 -0.45 -1 0 -0.55C0.45 -1 1 -0.8 1 -0.35C1 0.2 0.1 0.75 0 0.85Z",
  hexagon: polygon(regular(6, 1, 0)),
  crescent: "M0.65 -0.76A1 1 0 1 0 0.65 0.76A0.8 0.8 0 1 1 0.65 -0.76Z",
};

/** Parameters of one generated image. */
export interface SyntheticSample {
  /** The SVG document. */
  svg: string;
  width: number;
  height: number;
}

/**
 * Draws the SVG of image `index` of class `label` in `split` (pure and deterministic).
 *
 * @example
 * ```ts
 * import { syntheticSvg } from "./synthetic.ts";
 * const { svg } = syntheticSvg({ size: 36, seed: 0, split: "train", label: 3, index: 0 });
 * ```
 */
export function syntheticSvg(
  p: { size: number; seed: number; split: "train" | "val"; label: number; index: number },
): SyntheticSample {
  const r = mulberry32(hash32(p.seed, p.split === "train" ? 1 : 2, p.label, p.index));
  const u = (lo: number, hi: number) => lo + (hi - lo) * r();
  const int = (lo: number, hi: number) => Math.floor(u(lo, hi + 1));
  const f = (v: number) => v.toFixed(2);
  // Render at 1.5x the stored size: the resize to S then antialiases, as with photos.
  const short = Math.round(p.size * 1.5), long = Math.round(short * u(1, 1.35));
  const landscape = r() < 0.5;
  const W = landscape ? long : short, H = landscape ? short : long;
  // Object and background sit on opposite sides of mid-lightness, so the object shows.
  const dark = r() < 0.5;
  const light = (objectSide: boolean) => (objectSide === dark ? u(18, 40) : u(60, 85));
  const hsl = (h: number, s: number, l: number) => `hsl(${f(h)},${f(s)}%,${f(l)}%)`;
  const bgHue = u(0, 360);
  const parts: string[] = [];
  const ang = u(0, Math.PI);
  parts.push(
    `<defs><linearGradient id="g" x1="${f(0.5 - 0.5 * Math.cos(ang))}" y1="${
      f(0.5 - 0.5 * Math.sin(ang))
    }" ` +
      `x2="${f(0.5 + 0.5 * Math.cos(ang))}" y2="${f(0.5 + 0.5 * Math.sin(ang))}">` +
      `<stop offset="0" stop-color="${hsl(bgHue, u(20, 80), light(false))}"/>` +
      `<stop offset="1" stop-color="${hsl(bgHue + u(-90, 90), u(20, 80), light(false))}"/>` +
      `</linearGradient></defs><rect width="${W}" height="${H}" fill="url(#g)"/>`,
  );
  const clutterColour = () => hsl(u(0, 360), u(20, 90), u(20, 85));
  for (let i = int(1, 3); i > 0; i--) { // translucent blobs
    parts.push(
      `<ellipse cx="${f(u(0, W))}" cy="${f(u(0, H))}" rx="${f(u(0.1, 0.3) * short)}" ` +
        `ry="${f(u(0.1, 0.3) * short)}" fill="${clutterColour()}" opacity="${f(u(0.25, 0.55))}"/>`,
    );
  }
  for (let i = int(2, 6); i > 0; i--) { // lines
    parts.push(
      `<line x1="${f(u(0, W))}" y1="${f(u(0, H))}" x2="${f(u(0, W))}" y2="${f(u(0, H))}" ` +
        `stroke="${clutterColour()}" stroke-width="${f(u(0.6, 2.2) * short / 54)}" ` +
        `opacity="${f(u(0.5, 1))}"/>`,
    );
  }
  for (let i = int(0, 2); i > 0; i--) { // arc fragments
    const cx = u(0, W),
      cy = u(0, H),
      rr = u(0.08, 0.25) * short,
      a0 = u(0, 6.28),
      a1 = a0 + u(0.8, 2.5);
    parts.push(
      `<path d="M${f(cx + rr * Math.cos(a0))} ${f(cy + rr * Math.sin(a0))}A${f(rr)} ${
        f(rr)
      } 0 0 1 ` +
        `${f(cx + rr * Math.cos(a1))} ${f(cy + rr * Math.sin(a1))}" fill="none" ` +
        `stroke="${clutterColour()}" stroke-width="${f(u(1, 2.5) * short / 54)}"/>`,
    );
  }
  const shape = (
    name: string,
    cx: number,
    cy: number,
    radius: number,
    colour: string,
    outline: boolean,
  ) =>
    `<path d="${SHAPES[name]}" fill-rule="evenodd" transform="translate(${f(cx)} ${f(cy)}) ` +
    `rotate(${f(u(0, 360))}) scale(${f(radius)})" ` +
    (outline
      ? `fill="none" stroke="${colour}" stroke-width="${f(0.22)}" stroke-linejoin="round"/>`
      : `fill="${colour}"/>`);
  if (r() < 0.5) { // distractor: a small shape of another class, away from the centre
    const other = SYNTHETIC_CLASSES[
      (p.label + int(1, SYNTHETIC_CLASSES.length - 1)) % SYNTHETIC_CLASSES.length
    ];
    const a = u(0, 6.28), d = u(0.3, 0.42) * short;
    parts.push(
      shape(
        other,
        W / 2 + d * Math.cos(a),
        H / 2 + d * Math.sin(a),
        u(0.08, 0.13) * short,
        clutterColour(),
        r() < 0.3,
      ),
    );
  }
  const name = SYNTHETIC_CLASSES[p.label];
  const radius = u(0.2, 0.32) * short;
  parts.push(shape(
    name,
    W / 2 + u(-0.16, 0.16) * short,
    H / 2 + u(-0.16, 0.16) * short,
    radius,
    hsl(u(0, 360), u(45, 100), light(true)),
    // An outlined circle would be a ring; an outlined crescent or ring is ambiguous.
    r() < 0.25 && name !== "circle" && name !== "ring" && name !== "crescent",
  ));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `viewBox="0 0 ${W} ${H}">${parts.join("")}</svg>`;
  return { svg, width: W, height: H };
}

/** Options of the synthetic dataset. */
export interface SyntheticSpec {
  /** Stored side S. */
  size: number;
  /** Cache folder (default out/data/synthetic-<size>). */
  cacheDir?: string;
  /** Training images per class (default 500). */
  trainPerClass?: number;
  /** Validation images per class (default 100). */
  valPerClass?: number;
  /** Generator seed (default 0). */
  seed?: number;
  /** Rendering jobs in flight (default 4). */
  concurrency?: number;
  /** "auto" (bar on a TTY, lines otherwise, default) or "quiet". */
  progress?: "auto" | "quiet";
}

/**
 * Generates the synthetic dataset into its cache folder unless a finished one with the
 * same generator version and parameters is there. Returns the folder.
 *
 * @example
 * ```ts ignore
 * const dir = await ensureSynthetic({ size: 36 }); // out/data/synthetic-36
 * ```
 */
export async function ensureSynthetic(spec: SyntheticSpec): Promise<string> {
  const S = spec.size;
  if (!Number.isInteger(S) || S < 8) throw new RangeError(`synthetic: size must be >= 8, got ${S}`);
  const trainPerClass = spec.trainPerClass ?? 500, valPerClass = spec.valPerClass ?? 100;
  const seed = spec.seed ?? 0;
  const out = spec.cacheDir ?? defaultCacheDir("synthetic", S);
  const source = {
    kind: "synthetic",
    version: GENERATOR_VERSION,
    size: S,
    trainPerClass,
    valPerClass,
    seed,
  };
  const existing = await readIndex(out).catch(() => null);
  if (existing && JSON.stringify(existing.source) === JSON.stringify(source)) return out;
  const { decodeSquare, renderSvgPng } = await import("./decode.ts");
  const items = (split: "train" | "val", perClass: number): BuildItem[] => {
    const list: BuildItem[] = [];
    for (let label = 0; label < SYNTHETIC_CLASSES.length; label++) {
      for (let index = 0; index < perClass; index++) {
        list.push({
          key: `${split}/${SYNTHETIC_CLASSES[label]}/${index}`,
          label,
          load: async () => {
            const png = await renderSvgPng(
              syntheticSvg({ size: S, seed, split, label, index }).svg,
            );
            return await decodeSquare(png, S);
          },
        });
      }
    }
    return list;
  };
  await buildShards({
    dir: out,
    name: "synthetic",
    classes: [...SYNTHETIC_CLASSES],
    imageSize: S,
    source,
    splits: { train: items("train", trainPerClass), val: items("val", valPerClass) },
    concurrency: spec.concurrency ?? 4,
    progress: spec.progress ?? "auto",
  });
  return out;
}
