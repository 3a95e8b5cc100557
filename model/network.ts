// The network as data: one ordered table of layers, and everything derived from it.
//
// A config's `layers` is the network in forward order, as a PyTorch `nn.Sequential`
// would list it (conv, relu, lrn, maxpool, avgpool, flatten, fc, dropout). Layers with
// weights (conv, fc) carry a PLACEMENT, which is how the paper spreads them over its two
// columns (see docs/architecture.md):
//
//   "cross"  each column computes half of the outputs from the WHOLE input: when the
//            input is split over the columns, an exchange gathers it first (conv1 reads
//            the image, which both columns hold; conv3 and fc6..fc8 in the paper cross).
//   "split"  each column computes half of the outputs from ITS OWN half of the input
//            (PyTorch's `groups=2`; conv2, conv4 and conv5 in the paper).
//   "whole"  the layer is not split: the network is one column (torchvision's AlexNet).
//
// Every other layer works on whatever its input is, per column. From the table alone
// `networkStages` derives the per-column stages with their shapes and the exchanges
// between them, and `parameterShapes` the parameter names (`<layer name>.weight`,
// `.bias`), whole shapes and column halves in PyTorch's order. Everything else (the
// memory plan, the model, init, checkpoints, the PyTorch and TF.js peers, which read
// the table as JSON) is built from those two.
//
// The column split (the rule every other module relies on):
// - Every parameter splits along its first (output) dimension: column 0 holds output
//   units [0, ceil(out/2)), column 1 holds [ceil(out/2), out). So a column's half of a
//   weight is a contiguous slice of the whole tensor; its second dimension is the
//   column's own input half for "split" layers (PyTorch's grouped weight) and the whole
//   input, ordered column 0's channels then column 1's, for "cross" layers.
// - A split activation is the concatenation of the columns' parts along axis 1, so
//   flattening it (C, H, W) is PyTorch's `torch.flatten(x, 1)` of the whole tensor.
// - Momentum buffers (`conv1.weight.momentum`) split exactly like their parameter.

/** How a layer with weights is spread over the columns (see the file header). */
export type Placement = "cross" | "split" | "whole";

/** A convolution; ReLU is a separate `relu` entry after it (fused into the kernel). */
export interface ConvLayer {
  /** Discriminant. */
  kind: "conv";
  /** Parameter prefix and stage name, e.g. "conv1" or "features.0". */
  name: string;
  /** Output channels of the whole network. */
  out: number;
  /** Square kernel side. */
  kernel: number;
  /** Stride. */
  stride: number;
  /** Zero padding on each side. */
  padding: number;
  /** How the columns share it. */
  placement: Placement;
  /** Bias under the paper's init (section 5: 1 in conv2, conv4, conv5; default 0). */
  initBias?: number;
}

/** A fully connected layer (its input is flattened). */
export interface FcLayer {
  /** Discriminant. */
  kind: "fc";
  /** Parameter prefix and stage name, e.g. "fc6" or "classifier.1". */
  name: string;
  /** Output features, or "classes" for the logits layer (the dataset's class count). */
  out: number | "classes";
  /** How the columns share it ("cross" or "whole"). */
  placement: Placement;
  /** Bias under the paper's init (1 in fc6 and fc7; default 0). */
  initBias?: number;
}

/** ReLU, fused into the conv or fc right before it. */
export interface ReluLayer {
  /** Discriminant. */
  kind: "relu";
}

/** Local response normalization over channels, in the paper's convention (alpha NOT divided by size). */
export interface LrnLayer {
  /** Discriminant. */
  kind: "lrn";
  /** Stage name. */
  name: string;
  /** Channels in the window (n, odd). */
  size: number;
  /** The paper's alpha; PyTorch's LocalResponseNorm takes alpha * size. */
  alpha: number;
  /** Exponent. */
  beta: number;
  /** Additive constant. */
  k: number;
}

/** Max-pooling (PyTorch's floor convention, no padding). */
export interface MaxPoolLayer {
  /** Discriminant. */
  kind: "maxpool";
  /** Stage name. */
  name: string;
  /** Window side. */
  size: number;
  /** Stride. */
  stride: number;
}

/**
 * Adaptive average pooling to `output` x `output` (PyTorch's AdaptiveAvgPool2d: cell i
 * averages rows floor(i H / o) .. ceil((i + 1) H / o) - 1); `output: 1` is the global
 * average pool.
 */
export interface AvgPoolLayer {
  /** Discriminant. */
  kind: "avgpool";
  /** Stage name. */
  name: string;
  /** Output side. */
  output: number;
}

/** Flattens [N, C, H, W] to [N, C*H*W] (no data moves). */
export interface FlattenLayer {
  /** Discriminant. */
  kind: "flatten";
}

/** Dropout (inverted: kept units are scaled by 1 / (1 - p) in training). */
export interface DropoutLayer {
  /** Discriminant. */
  kind: "dropout";
  /** Stage name. */
  name: string;
  /** Probability of dropping a unit. */
  p: number;
}

/** One entry of the layer table. */
export type Layer =
  | ConvLayer
  | FcLayer
  | ReluLayer
  | LrnLayer
  | MaxPoolLayer
  | AvgPoolLayer
  | FlattenLayer
  | DropoutLayer;

/** A whole network description; plain data (JSON round-trips). */
export interface AlexNetConfig {
  /** Config name ("paper", "small", "tiny", "torchvision" or a custom one). */
  name: string;
  /** Side of the square crop fed to the first layer. */
  inputSize: number;
  /** Side S of the stored images the crops come from (S >= inputSize). */
  storedSize: number;
  /** RGB. */
  inChannels: 3;
  /** Number of classes (the width of the fc whose `out` is "classes"). */
  classes: number;
  /** The layers in forward order. */
  layers: Layer[];
}

/** A stage's kind: a layer kind that does work (relu and flatten are folded in). */
export type StageKind = "conv" | "lrn" | "maxpool" | "avgpool" | "fc" | "dropout";

/** A layer of the table as each column runs it: kernel, shapes, where its input comes from. */
export interface LayerStage {
  /** Discriminant. */
  type: StageKind;
  /** The layer's name, e.g. "conv3", "lrn1", "pool5", "fc6", "dropout6". */
  name: string;
  /** The table entry. */
  layer: ConvLayer | FcLayer | LrnLayer | MaxPoolLayer | AvgPoolLayer | DropoutLayer;
  /** Index of the entry in `config.layers`. */
  index: number;
  /**
   * Where the input comes from: the augmented image (per column), the previous stage of
   * the same part, or an exchange (per column, every part's output concatenated).
   */
  input: { from: "image" } | { from: "layer"; name: string } | { from: "exchange"; name: string };
  /** Input shape of each part (the same for every part); flattened when the layer needs it. */
  inShape: readonly number[];
  /** Output shape, per part. */
  outShape: readonly (readonly number[])[];
  /** A ReLU follows (fused into conv and fc). */
  relu: boolean;
}

/** An exchange point: every part's output of `from` concatenated along axis 1. */
export interface ExchangeStage {
  /** Discriminant. */
  type: "exchange";
  /** Its name and the per-column tensor it fills, e.g. "conv3.x", "logits". */
  name: string;
  /** The stage whose per-part outputs are concatenated, e.g. "pool2". */
  from: string;
  /** The stage that reads the concatenation ("loss" for the logits). */
  to: string;
  /** Per-sample elements contributed by each part. */
  parts: readonly number[];
  /** Shape of the concatenation (per column). */
  shape: readonly number[];
  /**
   * "sum": the reading stage's per-part partial input gradients are summed; "slice": the
   * reader (the loss) runs on every column, so its gradient is just sliced.
   */
  backward: "sum" | "slice";
}

/** One entry of the network's stage table, in forward order. */
export type Stage = LayerStage | ExchangeStage;

/** A parameter's whole-network shape and its parts. */
export interface ParameterShape {
  /** PyTorch name, e.g. "conv2.weight" or "features.3.weight". */
  name: string;
  /** The layer it belongs to. */
  layer: string;
  /** "weight" or "bias". */
  kind: "weight" | "bias";
  /** Whole-network shape (PyTorch's). */
  shape: number[];
  /** Each part's slice: the whole shape with the first dimension split ceil/floor (one part: whole). */
  columns: number[][];
  /** The bias under the paper's init (the layer's `initBias`, default 0). */
  initBias: number;
}

/** Output side of a convolution or pooling window (PyTorch's floor convention). */
export function windowOutput(size: number, kernel: number, stride: number, padding = 0): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/** Splits a width over the two columns: [ceil(n/2), floor(n/2)]. */
export function halves(n: number): [number, number] {
  return [Math.ceil(n / 2), Math.floor(n / 2)];
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * How many parts the network has: 2 when its layers are spread over two columns, 1 when
 * every layer is "whole".
 *
 * @example
 * ```ts
 * import { configs, partsOf } from "./config.ts";
 * console.assert(partsOf(configs.paper) === 2 && partsOf(configs.torchvision) === 1);
 * ```
 */
export function partsOf(cfg: Pick<AlexNetConfig, "layers">): 1 | 2 {
  return cfg.layers.some((l) => (l.kind === "conv" || l.kind === "fc") && l.placement !== "whole")
    ? 2
    : 1;
}

function fail(cfg: { name?: unknown }, field: string, expected: string, got: unknown): never {
  const name = typeof cfg?.name === "string" ? cfg.name : "(unnamed)";
  throw new TypeError(`config ${name}: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
}

const posInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;

/** Splits `n` over `parts` parts (ceil first). */
function share(n: number, parts: number): number[] {
  return parts === 2 ? halves(n) : [n];
}

/** What the walk knows about the activation between two layers. */
interface Activation {
  /** Whole-network channels (or features once flat). */
  channels: number;
  /** Spatial side (1 once flat). */
  side: number;
  /** Flattened to [N, features]. */
  flat: boolean;
  /** Split over the parts (each holds its share of the channels) or held whole by each. */
  split: boolean;
  /** The stage that wrote it (undefined: the image). */
  from?: LayerStage;
  /** The previous entry was a conv or fc (a relu may fuse into it). */
  fusable: boolean;
}

/**
 * Walks the layer table: checks every entry (throwing a TypeError that names the entry
 * and what was expected, e.g. `config mine: layers[6] (fc "fc6").placement must be
 * "cross" or "whole" ...`) and returns the stages in forward order with the exchange
 * points between them. Backward is the same list reversed.
 *
 * @example
 * ```ts
 * import { configs, networkStages } from "./config.ts";
 * const names = networkStages(configs.paper, 128).map((s) => s.name);
 * // conv1 lrn1 pool1 conv2 lrn2 pool2 conv3.x conv3 conv4 conv5 pool5 fc6.x fc6 dropout6 ...
 * console.assert(names[6] === "conv3.x");
 * ```
 */
export function networkStages(cfg: AlexNetConfig, batch: number): Stage[] {
  if (!Number.isInteger(batch) || batch < 1) {
    throw new RangeError(`networkStages: batch must be a positive integer, got ${batch}`);
  }
  if (!Array.isArray(cfg.layers) || cfg.layers.length === 0) {
    fail(cfg, "layers", "a non-empty array of layers", cfg.layers);
  }
  const parts = partsOf(cfg);
  const n = batch;
  const stages: Stage[] = [];
  const names = new Set<string>();
  let a: Activation = {
    channels: cfg.inChannels,
    side: cfg.inputSize,
    flat: false,
    split: false,
    fusable: false,
  };
  const perPart = (act: Activation, p: number): number[] => {
    const c = act.split ? share(act.channels, parts)[p] : act.channels;
    return act.flat ? [n, c] : [n, c, act.side, act.side];
  };
  const inputOf = (): LayerStage["input"] =>
    a.from ? { from: "layer", name: a.from.name } : { from: "image" };
  const exchange = (to: string): LayerStage["input"] => {
    const from = a.from!;
    const name = `${to}.x`;
    stages.push({
      type: "exchange",
      name,
      from: from.name,
      to,
      parts: from.outShape.map((s) => sizeOf(s.slice(1))),
      shape: [n, a.channels, ...(a.flat ? [] : [a.side, a.side])],
      backward: "sum",
    });
    return { from: "exchange", name };
  };
  cfg.layers.forEach((l, i) => {
    const at = `layers[${i}]`;
    if (typeof l !== "object" || l === null) fail(cfg, at, "a layer object", l);
    const what = "name" in l ? `${at} (${l.kind} "${l.name}")` : `${at} (${l.kind})`;
    if (l.kind === "relu") {
      if (!a.fusable) fail(cfg, what, "right after a conv or fc layer (it is fused into it)", l);
      a.from!.relu = true;
      a = { ...a, fusable: false };
      return;
    }
    if (l.kind === "flatten") {
      if (a.flat) fail(cfg, what, "applied to an unflattened activation", "already flat");
      a = { ...a, channels: a.channels * a.side * a.side, side: 1, flat: true, fusable: false };
      return;
    }
    const kinds = ["conv", "fc", "lrn", "maxpool", "avgpool", "dropout"];
    if (!kinds.includes(l.kind)) {
      fail(cfg, `${at}.kind`, `one of ${[...kinds, "relu", "flatten"].join(", ")}`, l.kind);
    }
    if (typeof l.name !== "string" || l.name === "" || names.has(l.name) || l.name === "loss") {
      fail(cfg, `${at}.name`, "a unique non-empty string", l.name);
    }
    names.add(l.name);
    if (l.kind !== "conv" && !a.from) {
      fail(cfg, what, "after a conv layer (the first layer reads the image)", l.kind);
    }
    const spatial = (kind: string) => {
      if (a.flat) fail(cfg, what, `a ${kind} of an unflattened activation`, "a flat input");
    };
    let input = inputOf();
    let outChannels = a.channels, side = a.side, split = a.split;
    if (l.kind === "conv" || l.kind === "fc") {
      const placements = parts === 2 ? ["cross", "split"] : ["whole"];
      if (l.kind === "fc" && parts === 2) placements.pop();
      if (!placements.includes(l.placement)) {
        fail(
          cfg,
          `${what}.placement`,
          parts === 2
            ? `${placements.map((p) => `"${p}"`).join(" or ")} (the other layers are spread ` +
              `over two columns; "whole" layers make a one-column network)`
            : `"whole" (a one-column network)`,
          l.placement,
        );
      }
      if (l.kind === "conv" && l.placement === "split" && !a.split) {
        fail(
          cfg,
          `${what}.placement`,
          `"cross" (its input is not split over the columns)`,
          "split",
        );
      }
      if (l.initBias !== undefined && !Number.isFinite(l.initBias)) {
        fail(cfg, `${what}.initBias`, "a finite number", l.initBias);
      }
      if (l.kind === "conv") {
        spatial("conv");
        for (const k of ["kernel", "stride"] as const) {
          if (!posInt(l[k])) fail(cfg, `${what}.${k}`, "a positive integer", l[k]);
        }
        if (!Number.isInteger(l.padding) || l.padding < 0 || l.padding >= l.kernel) {
          fail(cfg, `${what}.padding`, "an integer in [0, kernel)", l.padding);
        }
        side = windowOutput(a.side, l.kernel, l.stride, l.padding);
        if (side < 1) fail(cfg, what, "a layer with output side >= 1", `side ${side}`);
      } else if (!a.flat) {
        fail(cfg, what, "after a flatten (fc reads [N, features])", "an unflattened input");
      }
      const out = l.out === "classes" ? cfg.classes : l.out;
      const last = cfg.layers.slice(i + 1).every((r) => r.kind === "relu" || r.kind === "dropout");
      if (l.kind === "fc" && l.out === "classes") {
        if (!last) fail(cfg, `${what}.out`, "a number (only the last fc gives the classes)", out);
      } else if (parts === 2 && (!posInt(out) || out % 2 !== 0)) {
        fail(cfg, `${what}.out`, "an even positive integer (2 columns)", l.out);
      } else if (!posInt(out)) {
        fail(cfg, `${what}.out`, "a positive integer", l.out);
      }
      if (l.placement === "cross" && a.split) input = exchange(l.name);
      outChannels = out;
      split = parts === 2;
    } else if (l.kind === "lrn") {
      spatial("lrn");
      if (!posInt(l.size) || l.size % 2 === 0) {
        fail(cfg, `${what}.size`, "an odd positive integer", l.size);
      }
      for (const k of ["alpha", "beta", "k"] as const) {
        if (typeof l[k] !== "number" || !Number.isFinite(l[k]) || l[k] < 0) {
          fail(cfg, `${what}.${k}`, "a finite non-negative number", l[k]);
        }
      }
    } else if (l.kind === "maxpool") {
      spatial("maxpool");
      if (!posInt(l.size)) fail(cfg, `${what}.size`, "a positive integer", l.size);
      if (!posInt(l.stride)) fail(cfg, `${what}.stride`, "a positive integer", l.stride);
      if (a.side < l.size) {
        fail(cfg, what, `applied to a side >= ${l.size}`, `side ${a.side}`);
      }
      side = windowOutput(a.side, l.size, l.stride);
    } else if (l.kind === "avgpool") {
      spatial("avgpool");
      if (!posInt(l.output)) fail(cfg, `${what}.output`, "a positive integer", l.output);
      side = l.output;
    } else if (l.kind === "dropout") {
      if (typeof l.p !== "number" || !(l.p >= 0 && l.p < 1)) {
        fail(cfg, `${what}.p`, "a number in [0, 1)", l.p);
      }
    }
    const inShape = input.from === "exchange"
      ? [n, a.channels, ...(a.flat ? [] : [a.side, a.side])]
      : perPart(a, 0);
    const next: Activation = {
      channels: outChannels,
      side,
      flat: a.flat,
      split,
      fusable: l.kind === "conv" || l.kind === "fc",
    };
    const stage: LayerStage = {
      type: l.kind,
      name: l.name,
      layer: l,
      index: i,
      input,
      inShape,
      outShape: Array.from({ length: parts }, (_, p) => perPart(next, p)),
      relu: false,
    };
    // Part 1 of a split input has its own channel count (only odd widths differ).
    if (a.split && input.from !== "exchange" && parts === 2 && perPart(a, 1)[1] !== inShape[1]) {
      fail(cfg, what, "fed an even width (both columns' halves equal)", perPart(a, 1)[1]);
    }
    stages.push(stage);
    a = { ...next, from: stage };
  });
  if (!a.flat) fail(cfg, "the last layer", "followed by a flatten and an fc (logits)", "4-D");
  if (a.channels !== cfg.classes) {
    fail(cfg, "the network's output", `${cfg.classes} features (classes)`, a.channels);
  }
  const last = a.from!;
  stages.push({
    type: "exchange",
    name: "logits",
    from: last.name,
    to: "loss",
    parts: last.outShape.map((s) => sizeOf(s.slice(1))),
    shape: [n, cfg.classes],
    backward: "slice",
  });
  return stages;
}

/**
 * Parameter names and shapes in PyTorch order (weight before bias, layers in table
 * order), with each part's slice.
 *
 * @example
 * ```ts
 * import { configs, parameterShapes } from "./config.ts";
 * const p = parameterShapes(configs.paper);
 * console.assert(p[2].name === "conv2.weight" && p[2].shape.join() === "256,48,5,5");
 * ```
 */
export function parameterShapes(cfg: AlexNetConfig): ParameterShape[] {
  const parts = partsOf(cfg);
  const out: ParameterShape[] = [];
  for (const s of networkStages(cfg, 1)) {
    if (s.type !== "conv" && s.type !== "fc") continue;
    const l = s.layer as ConvLayer | FcLayer;
    const whole = s.outShape.reduce((sum, o) => sum + o[1], 0);
    // A split conv's weight is PyTorch's grouped weight: its own input half per part.
    const inPer = s.inShape[1];
    const weight = l.kind === "conv" ? [whole, inPer, l.kernel, l.kernel] : [whole, inPer];
    for (const [kind, shape] of [["weight", weight], ["bias", [whole]]] as const) {
      out.push({
        name: `${l.name}.${kind}`,
        layer: l.name,
        kind,
        shape: [...shape],
        columns: share(whole, parts).map((h) => [h, ...shape.slice(1)]),
        initBias: kind === "bias" ? l.initBias ?? 0 : 0,
      });
    }
  }
  return out;
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

function lookup(name: string, cfg: AlexNetConfig): ParameterShape {
  // Momentum buffers share their parameter's shape and split.
  const base = name.endsWith(".momentum") ? name.slice(0, -".momentum".length) : name;
  const p = parameterShapes(cfg).find((s) => s.name === base);
  if (!p) throw new RangeError(`config ${cfg.name}: no parameter named "${name}"`);
  return p;
}

/**
 * Splits a whole-network parameter (or its momentum) into the parts' slices (copies).
 * See the header of this file for the layout.
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
): Float32Array[] {
  const p = lookup(name, cfg);
  const size = sizeOf(p.shape);
  if (whole.length !== size) {
    throw new RangeError(
      `splitParameter ${name}: expected ${size} elements [${p.shape}], got ${whole.length}`,
    );
  }
  let at = 0;
  return p.columns.map((c) => whole.slice(at, at += sizeOf(c)));
}

/**
 * Inverse of {@link splitParameter}: concatenates the parts into the whole tensor.
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
  parts: readonly Float32Array[],
  cfg: AlexNetConfig,
): Float32Array {
  const p = lookup(name, cfg);
  if (parts.length !== p.columns.length) {
    throw new RangeError(
      `joinParameter ${name}: expected ${p.columns.length} part(s), got ${parts.length}`,
    );
  }
  const whole = new Float32Array(sizeOf(p.shape));
  let at = 0;
  p.columns.forEach((shape, c) => {
    const size = sizeOf(shape);
    if (parts[c].length !== size) {
      throw new RangeError(
        `joinParameter ${name}: column ${c} expected ${size} elements [${shape}], got ${
          parts[c].length
        }`,
      );
    }
    whole.set(parts[c], at);
    at += size;
  });
  return whole;
}
