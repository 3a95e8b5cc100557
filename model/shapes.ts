// Activation and parameter shapes of a config, and how the two columns split them.
//
// Parameters are named and shaped as PyTorch's module would name them
// (`conv2.weight` [256, 48, 5, 5] for Conv2d(96, 256, 5, groups=2), `fc6.weight`
// [4096, 9216]), in PyTorch's order: conv1..conv5 then fc6..fc8, weight before bias.
//
// Column split (the rule every other module relies on):
// - Every parameter splits along its first (output) dimension: column 0 holds output
//   units [0, ceil(out/2)), column 1 holds [ceil(out/2), out). Only fc8 can be odd
//   (the class count); every other width is validated even.
// - So a column's half of a weight is a contiguous slice of the whole tensor. What the
//   half's second dimension means depends on the layer: for `groups: 2` convs (conv2,
//   conv4, conv5 in the paper) it is the column's own input half (PyTorch's grouped
//   weight is already [out, in/2, k, k], and group g = column g); for conv1 it is the
//   3 image channels (both columns see the whole image); for `groups: 1` convs (conv3)
//   and every fc layer it is the whole previous layer, ordered column 0's channels
//   then column 1's — exactly the concatenation of the two columns' NCHW outputs.
// - fc6's input is that concatenation flattened (C, H, W): index c*H*W + h*W + w over
//   the 2*C_col channels, which is PyTorch's `torch.flatten(x, 1)` of the whole tensor.
// - Momentum buffers (`conv1.weight.momentum`) split exactly like their parameter.

import { type AlexNetConfig, halves, windowOutput } from "./config.ts";

/** The two columns' versions of one thing. */
export type PerColumn<T> = [T, T];

/** One step of the forward pass, with per-column input and output shapes (NCHW / NF). */
export interface LayerShape {
  /** "conv1", "lrn1", "pool1", ..., "fc6", "dropout6", "fc7", "dropout7", "fc8". */
  name: string;
  /** Operation kind. */
  kind: "conv" | "lrn" | "pool" | "fc" | "dropout";
  /** The input each column's kernel reads (after any exchange). */
  input: PerColumn<number[]>;
  /** Each column's output (fc8: its share of the logits). */
  output: PerColumn<number[]>;
  /** The input is gathered from both columns (an exchange precedes this layer). */
  exchange: boolean;
}

/** A parameter's whole-network shape and its two column halves. */
export interface ParameterShape {
  /** PyTorch name, e.g. "conv2.weight". */
  name: string;
  /** Whole-network shape (PyTorch's). */
  shape: number[];
  /** Each column's half: the whole shape with the first dimension split ceil/floor. */
  columns: PerColumn<number[]>;
}

function same<T>(x: T): PerColumn<T> {
  return [structuredClone(x), structuredClone(x)];
}

/**
 * Every forward step's per-column shapes for a batch, in execution order.
 *
 * @example
 * ```ts
 * import { configs, layerShapes } from "./config.ts";
 * const pool5 = layerShapes(configs.paper, 128).find((l) => l.name === "pool5")!;
 * console.assert(pool5.output[0].join() === "128,128,6,6");
 * ```
 */
export function layerShapes(cfg: AlexNetConfig, batch: number): LayerShape[] {
  if (!Number.isInteger(batch) || batch < 1) {
    throw new RangeError(`layerShapes: batch must be a positive integer, got ${batch}`);
  }
  const out: LayerShape[] = [];
  let side = cfg.inputSize;
  let channels: number = cfg.inChannels; // whole-network channels of the current activation
  let split = false; // is the current activation split over columns (vs. replicated)?
  cfg.conv.forEach((l, i) => {
    const n = i + 1;
    const exchange = split && l.groups === 1;
    const inC = split && l.groups === 2 ? channels / 2 : channels;
    const input = [batch, inC, side, side];
    side = windowOutput(side, l.kernel, l.stride, l.padding);
    channels = l.out;
    split = true;
    const act = [batch, channels / 2, side, side];
    out.push({ name: `conv${n}`, kind: "conv", input: same(input), output: same(act), exchange });
    if (l.lrn) {
      out.push({
        name: `lrn${n}`,
        kind: "lrn",
        input: same(act),
        output: same(act),
        exchange: false,
      });
    }
    if (l.pool) {
      side = windowOutput(side, cfg.pool.size, cfg.pool.stride);
      const pooled = [batch, channels / 2, side, side];
      out.push({
        name: `pool${n}`,
        kind: "pool",
        input: same(act),
        output: same(pooled),
        exchange: false,
      });
    }
  });
  let features = channels * side * side;
  cfg.fc.forEach((width, i) => {
    const n = i + 6;
    const y = [batch, width / 2];
    out.push({
      name: `fc${n}`,
      kind: "fc",
      input: same([batch, features]),
      output: same(y),
      exchange: true,
    });
    out.push({
      name: `dropout${n}`,
      kind: "dropout",
      input: same(y),
      output: same(y),
      exchange: false,
    });
    features = width;
  });
  const [c0, c1] = halves(cfg.classes);
  out.push({
    name: "fc8",
    kind: "fc",
    input: same([batch, features]),
    output: [[batch, c0], [batch, c1]],
    exchange: true,
  });
  return out;
}

/**
 * Parameter names and shapes in PyTorch order, with each column's half.
 *
 * @example
 * ```ts
 * import { configs, parameterShapes } from "./config.ts";
 * const p = parameterShapes(configs.paper);
 * console.assert(p[2].name === "conv2.weight" && p[2].shape.join() === "256,48,5,5");
 * ```
 */
export function parameterShapes(cfg: AlexNetConfig): ParameterShape[] {
  const shapes: { name: string; shape: number[] }[] = [];
  let channels: number = cfg.inChannels;
  let side = cfg.inputSize;
  cfg.conv.forEach((l, i) => {
    shapes.push({
      name: `conv${i + 1}.weight`,
      shape: [l.out, channels / l.groups, l.kernel, l.kernel],
    });
    shapes.push({ name: `conv${i + 1}.bias`, shape: [l.out] });
    channels = l.out;
    side = windowOutput(side, l.kernel, l.stride, l.padding);
    if (l.pool) side = windowOutput(side, cfg.pool.size, cfg.pool.stride);
  });
  let features = channels * side * side;
  [...cfg.fc, cfg.classes].forEach((width, i) => {
    shapes.push({ name: `fc${i + 6}.weight`, shape: [width, features] });
    shapes.push({ name: `fc${i + 6}.bias`, shape: [width] });
    features = width;
  });
  return shapes.map(({ name, shape }) => {
    const [h0, h1] = halves(shape[0]);
    return { name, shape, columns: [[h0, ...shape.slice(1)], [h1, ...shape.slice(1)]] };
  });
}

/**
 * Total number of parameters (60,965,224 for the paper config).
 *
 * @example
 * ```ts
 * import { configs, parameterCount } from "./config.ts";
 * console.assert(parameterCount(configs.paper) === 60_965_224);
 * ```
 */
export function parameterCount(cfg: AlexNetConfig): number {
  return parameterShapes(cfg).reduce((sum, p) => sum + sizeOf(p.shape), 0);
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function lookup(name: string, cfg: AlexNetConfig): ParameterShape {
  // Momentum buffers share their parameter's shape and split.
  const base = name.endsWith(".momentum") ? name.slice(0, -".momentum".length) : name;
  const p = parameterShapes(cfg).find((s) => s.name === base);
  if (!p) throw new RangeError(`config ${cfg.name}: no parameter named "${name}"`);
  return p;
}

/**
 * Splits a whole-network parameter (or its momentum) into the two columns' halves
 * (copies). See the header of this file for the layout.
 *
 * @example
 * ```ts
 * import { configs, splitParameter } from "./config.ts";
 * const [h0, h1] = splitParameter("fc8.bias", new Float32Array(1000), configs.paper);
 * console.assert(h0.length === 500 && h1.length === 500);
 * ```
 */
export function splitParameter(
  name: string,
  whole: Float32Array,
  cfg: AlexNetConfig,
): PerColumn<Float32Array> {
  const p = lookup(name, cfg);
  const size = sizeOf(p.shape);
  if (whole.length !== size) {
    throw new RangeError(
      `splitParameter ${name}: expected ${size} elements [${p.shape}], got ${whole.length}`,
    );
  }
  const cut = sizeOf(p.columns[0]);
  return [whole.slice(0, cut), whole.slice(cut)];
}

/**
 * Inverse of {@link splitParameter}: concatenates the two halves into the whole tensor.
 *
 * @example
 * ```ts
 * import { configs, joinParameter, splitParameter } from "./config.ts";
 * const w = new Float32Array(96 * 3 * 11 * 11).map((_, i) => i);
 * const back = joinParameter("conv1.weight", splitParameter("conv1.weight", w, configs.paper), configs.paper);
 * console.assert(back[12345] === 12345);
 * ```
 */
export function joinParameter(
  name: string,
  halvesOf: PerColumn<Float32Array>,
  cfg: AlexNetConfig,
): Float32Array {
  const p = lookup(name, cfg);
  for (const c of [0, 1] as const) {
    const size = sizeOf(p.columns[c]);
    if (halvesOf[c].length !== size) {
      throw new RangeError(
        `joinParameter ${name}: column ${c} expected ${size} elements [${p.columns[c]}], got ${
          halvesOf[c].length
        }`,
      );
    }
  }
  const whole = new Float32Array(sizeOf(p.shape));
  whole.set(halvesOf[0], 0);
  whole.set(halvesOf[1], halvesOf[0].length);
  return whole;
}
