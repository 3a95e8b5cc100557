// AlexNet configurations: the paper's network and smaller ones with the same topology.
//
// Every config has the paper's shape: 5 conv layers (ReLU each), LRN after conv1 and
// conv2, overlapping 3x3/2 max-pooling after conv1, conv2 and conv5, and 3 fully
// connected layers (fc6, fc7 with ReLU and dropout, fc8 the logits). Widths are whole-
// network numbers; each of the two columns holds half of every layer (see
// ./shapes.ts for how a column's half maps to the whole tensor). `groups: 2` means
// "each column sees only its own column's input"; `groups: 1` after conv1 means the
// layer crosses columns (conv3 in the paper) — so which layers exchange is data here.
//
// Spatial sizes (floor division as PyTorch's Conv2d / MaxPool2d(ceil_mode=False)):
//   paper 224: 55 -> pool 27 -> 27 -> pool 13 -> 13 -> 13 -> 13 -> pool 6  (fc6 in 9216)
//   small  64: 32 -> pool 15 -> 15 -> pool  7 ->  7 ->  7 ->  7 -> pool 3  (fc6 in 1152)
//   tiny   32: 32 -> pool 15 -> 15 -> pool  7 ->  7 ->  7 ->  7 -> pool 3  (fc6 in  288)
//
// `deno run model/cli_config.ts --json tiny [--classes 10]` prints a config as JSON (the
// PyTorch golden script reads it from there, so there is one source of truth).

// Shapes and the column split live beside the configs (one import for users).
export * from "./shapes.ts";

/** One convolution layer (whole-network numbers). */
export interface ConvSpec {
  /** Output channels of the whole network (even: half per column). */
  out: number;
  /** Square kernel side. */
  kernel: number;
  /** Stride. */
  stride: number;
  /** Zero padding on each side. */
  padding: number;
  /** 2: each column convolves only its own half of the input; 1: the whole input. */
  groups: 1 | 2;
  /** Local response normalization after the ReLU. */
  lrn: boolean;
  /** 3x3/2 max-pooling after the ReLU (and LRN). */
  pool: boolean;
  /** Always ReLU (the paper's non-linearity). */
  relu: true;
}

/** Local response normalization, in the paper's convention (alpha NOT divided by size). */
export interface LrnSpec {
  /** Channels in the window (n). */
  size: number;
  /** The paper's alpha; PyTorch's LocalResponseNorm takes alpha * size. */
  alpha: number;
  /** Exponent. */
  beta: number;
  /** Additive constant. */
  k: number;
}

/** A whole network description; plain data (JSON round-trips). */
export interface AlexNetConfig {
  /** Config name ("paper", "small", "tiny" or a custom one). */
  name: string;
  /** Side of the square crop fed to conv1. */
  inputSize: number;
  /** Side S of the stored images the crops come from (S >= inputSize). */
  storedSize: number;
  /** RGB. */
  inChannels: 3;
  /** Number of classes (fc8 width); fc8 is split ceil/floor over the columns. */
  classes: number;
  /** conv1..conv5. */
  conv: [ConvSpec, ConvSpec, ConvSpec, ConvSpec, ConvSpec];
  /** fc6 and fc7 widths (whole network, even). */
  fc: [number, number];
  /** Dropout probability after fc6 and fc7. */
  dropout: number;
  /** LRN constants. */
  lrn: LrnSpec;
  /** Max-pool window and stride (overlapping pooling). */
  pool: { size: 3; stride: 2 };
}

/** The names of the built-in configs. */
export type ConfigName = "paper" | "small" | "tiny";

function conv(
  out: number,
  kernel: number,
  stride: number,
  padding: number,
  groups: 1 | 2,
  lrn: boolean,
  pool: boolean,
): ConvSpec {
  return { out, kernel, stride, padding, groups, lrn, pool, relu: true };
}

const PAPER_LRN: LrnSpec = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };

/**
 * The built-in configs. `paper` is the paper's network (60,965,224 parameters).
 * `small` (64x64 crops from 72x72) and `tiny` (32x32 crops from 36x36) keep the
 * topology and shrink widths; conv1 uses stride 2 / 1 so the pyramid ends at 3x3.
 * `tiny`'s fc layers are 128 wide so its PyTorch golden fixture stays under 2 MB and a
 * step is cheap on the software adapter.
 */
export const configs: Readonly<Record<ConfigName, AlexNetConfig>> = Object.freeze({
  paper: {
    name: "paper",
    inputSize: 224,
    storedSize: 256,
    inChannels: 3,
    classes: 1000,
    conv: [
      conv(96, 11, 4, 2, 1, true, true),
      conv(256, 5, 1, 2, 2, true, true),
      conv(384, 3, 1, 1, 1, false, false),
      conv(384, 3, 1, 1, 2, false, false),
      conv(256, 3, 1, 1, 2, false, true),
    ],
    fc: [4096, 4096],
    dropout: 0.5,
    lrn: PAPER_LRN,
    pool: { size: 3, stride: 2 },
  },
  small: {
    name: "small",
    inputSize: 64,
    storedSize: 72,
    inChannels: 3,
    classes: 10,
    conv: [
      conv(48, 5, 2, 2, 1, true, true),
      conv(128, 5, 1, 2, 2, true, true),
      conv(192, 3, 1, 1, 1, false, false),
      conv(192, 3, 1, 1, 2, false, false),
      conv(128, 3, 1, 1, 2, false, true),
    ],
    fc: [1024, 1024],
    dropout: 0.5,
    lrn: PAPER_LRN,
    pool: { size: 3, stride: 2 },
  },
  tiny: {
    name: "tiny",
    inputSize: 32,
    storedSize: 36,
    inChannels: 3,
    classes: 10,
    conv: [
      conv(16, 5, 1, 2, 1, true, true),
      conv(32, 5, 1, 2, 2, true, true),
      conv(48, 3, 1, 1, 1, false, false),
      conv(48, 3, 1, 1, 2, false, false),
      conv(32, 3, 1, 1, 2, false, true),
    ],
    fc: [128, 128],
    dropout: 0.5,
    lrn: PAPER_LRN,
    pool: { size: 3, stride: 2 },
  },
});

/**
 * A deep copy of a built-in config with the dataset's class count.
 *
 * @example
 * ```ts
 * import { configFor } from "./config.ts";
 * const cfg = configFor("tiny", 10);
 * console.assert(cfg.classes === 10);
 * ```
 */
export function configFor(name: string, classes?: number): AlexNetConfig {
  if (!Object.hasOwn(configs, name)) {
    throw new RangeError(
      `config: unknown name "${name}" (expected one of ${Object.keys(configs).join(", ")})`,
    );
  }
  const cfg: AlexNetConfig = structuredClone(configs[name as ConfigName]);
  if (classes !== undefined) cfg.classes = classes;
  return validateConfig(cfg);
}

/** Output side of a convolution or pooling window (PyTorch's floor convention). */
export function windowOutput(size: number, kernel: number, stride: number, padding = 0): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/** Splits a width over the two columns: [ceil(n/2), floor(n/2)]. */
export function halves(n: number): [number, number] {
  return [Math.ceil(n / 2), Math.floor(n / 2)];
}

function fail(cfg: { name?: unknown }, field: string, expected: string, got: unknown): never {
  const name = typeof cfg?.name === "string" ? cfg.name : "(unnamed)";
  throw new TypeError(`config ${name}: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
}

function posInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

function evenPosInt(v: unknown): v is number {
  return posInt(v) && v % 2 === 0;
}

/**
 * Checks a (possibly hand-written) config; throws naming the first bad field, e.g.
 * `config mine: conv[2].out must be an even positive integer ..., got 47`.
 * Returns the config, typed.
 *
 * @example
 * ```ts
 * import { configs, validateConfig } from "./config.ts";
 * validateConfig(configs.paper);
 * ```
 */
export function validateConfig(value: unknown): AlexNetConfig {
  const c = value as AlexNetConfig;
  if (typeof c !== "object" || c === null) fail({}, "the config", "an object", value);
  if (typeof c.name !== "string" || c.name === "") fail(c, "name", "a non-empty string", c.name);
  if (!posInt(c.inputSize)) fail(c, "inputSize", "a positive integer", c.inputSize);
  if (!posInt(c.storedSize) || c.storedSize < c.inputSize) {
    fail(c, "storedSize", `an integer >= inputSize (${c.inputSize})`, c.storedSize);
  }
  if (c.inChannels !== 3) fail(c, "inChannels", "3 (RGB)", c.inChannels);
  if (!posInt(c.classes) || c.classes < 2) fail(c, "classes", "an integer >= 2", c.classes);
  if (!Array.isArray(c.conv) || c.conv.length !== 5) {
    fail(c, "conv", "an array of 5 conv layers", c.conv);
  }
  c.conv.forEach((l, i) => {
    const f = `conv[${i}]`;
    if (typeof l !== "object" || l === null) fail(c, f, "an object", l);
    if (!evenPosInt(l.out)) fail(c, `${f}.out`, "an even positive integer (2 columns)", l.out);
    if (!posInt(l.kernel)) fail(c, `${f}.kernel`, "a positive integer", l.kernel);
    if (!posInt(l.stride)) fail(c, `${f}.stride`, "a positive integer", l.stride);
    if (!Number.isInteger(l.padding) || l.padding < 0 || l.padding >= l.kernel) {
      fail(c, `${f}.padding`, "an integer in [0, kernel)", l.padding);
    }
    // conv1 sees the 3-channel image in both columns; it cannot be split by input.
    const allowed = i === 0 ? [1] : [1, 2];
    if (!allowed.includes(l.groups)) {
      fail(c, `${f}.groups`, i === 0 ? "1 (both columns see the image)" : "1 or 2", l.groups);
    }
    if (typeof l.lrn !== "boolean") fail(c, `${f}.lrn`, "a boolean", l.lrn);
    if (typeof l.pool !== "boolean") fail(c, `${f}.pool`, "a boolean", l.pool);
    if (l.relu !== true) fail(c, `${f}.relu`, "true", l.relu);
  });
  if (!Array.isArray(c.fc) || c.fc.length !== 2 || !c.fc.every(evenPosInt)) {
    fail(c, "fc", "two even positive integers [fc6, fc7]", c.fc);
  }
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) {
    fail(c, "dropout", "a number in [0, 1)", c.dropout);
  }
  const lrn = c.lrn;
  if (typeof lrn !== "object" || lrn === null) fail(c, "lrn", "an object", lrn);
  if (!posInt(lrn.size) || lrn.size % 2 === 0) {
    fail(c, "lrn.size", "an odd positive integer", lrn.size);
  }
  for (const k of ["alpha", "beta", "k"] as const) {
    if (typeof lrn[k] !== "number" || !Number.isFinite(lrn[k]) || lrn[k] < 0) {
      fail(c, `lrn.${k}`, "a finite non-negative number", lrn[k]);
    }
  }
  if (c.pool?.size !== 3 || c.pool?.stride !== 2) {
    fail(c, "pool", "{size: 3, stride: 2} (overlapping pooling)", c.pool);
  }
  // Walk the pyramid so a size that collapses is reported at the layer where it does.
  let side = c.inputSize;
  c.conv.forEach((l, i) => {
    side = windowOutput(side, l.kernel, l.stride, l.padding);
    if (side < 1) fail(c, `conv[${i}]`, "a layer with output side >= 1", `side ${side}`);
    if (l.pool) {
      if (side < c.pool.size) {
        fail(c, `conv[${i}].pool`, `applied to a side >= ${c.pool.size}`, `side ${side}`);
      }
      side = windowOutput(side, c.pool.size, c.pool.stride);
    }
  });
  return c;
}
