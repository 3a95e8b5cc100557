// The built-in networks, as instances of the layer table (model/network.ts).
//
// `paper` is the network of Krizhevsky et al. (2012): five convs (ReLU each), LRN after
// conv1 and conv2, overlapping 3x3/2 max-pooling after conv1, conv2 and conv5, and fc6,
// fc7 (ReLU, dropout) and fc8, spread over two columns — conv3 and the fc layers read
// both columns ("cross"), conv2, conv4 and conv5 only their own ("split"). `small` and
// `tiny` keep that topology with smaller widths. `torchvision` is torchvision's
// one-column `alexnet()` (64/192/384/256/256, no LRN, 6x6 adaptive average pooling,
// dropout before fc6 and fc7), with torchvision's parameter names.
//
// Spatial sizes (floor division as PyTorch's Conv2d / MaxPool2d(ceil_mode=False)):
//   paper 224: 55 -> pool 27 -> 27 -> pool 13 -> 13 -> 13 -> 13 -> pool 6  (fc6 in 9216)
//   small  64: 32 -> pool 15 -> 15 -> pool  7 ->  7 ->  7 ->  7 -> pool 3  (fc6 in 1152)
//   tiny   32: 32 -> pool 15 -> 15 -> pool  7 ->  7 ->  7 ->  7 -> pool 3  (fc6 in  288)
//
// `deno run model/cli_config.ts --json tiny [--classes 10]` prints a config as JSON (the
// PyTorch fixtures and peers read it from there, so there is one source of truth).

import {
  type AlexNetConfig,
  type Layer,
  type LrnLayer,
  networkStages,
  type Placement,
} from "./network.ts";

// The table, its derivations and the column split live beside the configs.
export * from "./network.ts";

/** The names of the built-in configs. */
export type ConfigName = "paper" | "small" | "tiny" | "torchvision";

/** One conv of {@link twoColumnAlexNet}'s compact form (whole-network numbers). */
export interface AlexNetConv {
  /** Output channels. */
  out: number;
  /** Square kernel side. */
  kernel: number;
  /** Stride. */
  stride: number;
  /** Zero padding. */
  padding: number;
  /** "cross": reads both columns (conv1, conv3); "split": its own column only. */
  placement: "cross" | "split";
  /** LRN after the ReLU. */
  lrn: boolean;
  /** 3x3/2 max-pooling after the ReLU (and LRN). */
  pool: boolean;
  /** Bias under the paper's init. */
  initBias: 0 | 1;
}

/** The paper's LRN constants (section 3.3): n = 5, alpha = 1e-4, beta = 0.75, k = 2. */
export const PAPER_LRN: Readonly<Omit<LrnLayer, "kind" | "name">> = Object.freeze({
  size: 5,
  alpha: 1e-4,
  beta: 0.75,
  k: 2,
});

/**
 * The paper's two-column topology as a layer table: `conv<i>` (ReLU, then `lrn<i>` and
 * `pool<i>` where asked), a flatten, `fc6` and `fc7` (ReLU, `dropout6`/`dropout7`) and
 * `fc8` giving the classes. Biases follow the paper's init (1 in the convs marked so,
 * fc6 and fc7).
 *
 * @example
 * ```ts
 * import { twoColumnAlexNet } from "./config.ts";
 * const cfg = twoColumnAlexNet({
 *   name: "mini", inputSize: 32, storedSize: 36, classes: 10, fc: [64, 64], dropout: 0.5,
 *   conv: [
 *     { out: 8, kernel: 5, stride: 1, padding: 2, placement: "cross", lrn: true, pool: true, initBias: 0 },
 *     { out: 16, kernel: 3, stride: 1, padding: 1, placement: "split", lrn: false, pool: true, initBias: 1 },
 *   ],
 * });
 * console.assert(cfg.layers.at(-1)!.kind === "fc");
 * ```
 */
export function twoColumnAlexNet(spec: {
  name: string;
  inputSize: number;
  storedSize: number;
  classes: number;
  conv: readonly AlexNetConv[];
  fc: readonly number[];
  dropout: number;
  lrn?: Omit<LrnLayer, "kind" | "name">;
}): AlexNetConfig {
  const layers: Layer[] = [];
  spec.conv.forEach((c, i) => {
    const n = i + 1;
    const { out, kernel, stride, padding, placement, initBias } = c;
    layers.push({ kind: "conv", name: `conv${n}`, out, kernel, stride, padding, placement });
    if (initBias) (layers.at(-1) as { initBias?: number }).initBias = initBias;
    layers.push({ kind: "relu" });
    if (c.lrn) layers.push({ kind: "lrn", name: `lrn${n}`, ...(spec.lrn ?? PAPER_LRN) });
    if (c.pool) layers.push({ kind: "maxpool", name: `pool${n}`, size: 3, stride: 2 });
  });
  layers.push({ kind: "flatten" });
  const first = spec.conv.length + 1;
  spec.fc.forEach((out, i) => {
    const n = first + i;
    layers.push({ kind: "fc", name: `fc${n}`, out, placement: "cross", initBias: 1 });
    layers.push({ kind: "relu" });
    layers.push({ kind: "dropout", name: `dropout${n}`, p: spec.dropout });
  });
  layers.push({
    kind: "fc",
    name: `fc${first + spec.fc.length}`,
    out: "classes",
    placement: "cross",
  });
  const { name, inputSize, storedSize, classes } = spec;
  return { name, inputSize, storedSize, inChannels: 3, classes, layers };
}

function conv(
  out: number,
  kernel: number,
  stride: number,
  padding: number,
  placement: "cross" | "split",
  lrn: boolean,
  pool: boolean,
): AlexNetConv {
  // The paper's init: bias 1 in the convs that read only their own column.
  const initBias = placement === "split" ? 1 : 0;
  return { out, kernel, stride, padding, placement, lrn, pool, initBias };
}

/**
 * torchvision's `alexnet()` (one column): its `features`, `avgpool` and `classifier`
 * modules as a layer table, with torchvision's `state_dict` names (`features.0.weight`
 * ... `classifier.6.bias`), so a torchvision checkpoint saved as safetensors loads.
 *
 * @example
 * ```ts
 * import { parameterShapes, torchvisionAlexNet } from "./config.ts";
 * const names = parameterShapes(torchvisionAlexNet(1000)).map((p) => p.name);
 * console.assert(names[0] === "features.0.weight" && names.at(-1) === "classifier.6.bias");
 * ```
 */
export function torchvisionAlexNet(classes = 1000): AlexNetConfig {
  const whole: Placement = "whole";
  const c = (name: string, out: number, kernel: number, stride: number, padding: number) =>
    ({ kind: "conv", name, out, kernel, stride, padding, placement: whole }) as const;
  return {
    name: "torchvision",
    inputSize: 224,
    storedSize: 256,
    inChannels: 3,
    classes,
    layers: [
      c("features.0", 64, 11, 4, 2),
      { kind: "relu" },
      { kind: "maxpool", name: "features.2", size: 3, stride: 2 },
      c("features.3", 192, 5, 1, 2),
      { kind: "relu" },
      { kind: "maxpool", name: "features.5", size: 3, stride: 2 },
      c("features.6", 384, 3, 1, 1),
      { kind: "relu" },
      c("features.8", 256, 3, 1, 1),
      { kind: "relu" },
      c("features.10", 256, 3, 1, 1),
      { kind: "relu" },
      { kind: "maxpool", name: "features.12", size: 3, stride: 2 },
      { kind: "avgpool", name: "avgpool", output: 6 },
      { kind: "flatten" },
      { kind: "dropout", name: "classifier.0", p: 0.5 },
      { kind: "fc", name: "classifier.1", out: 4096, placement: whole },
      { kind: "relu" },
      { kind: "dropout", name: "classifier.3", p: 0.5 },
      { kind: "fc", name: "classifier.4", out: 4096, placement: whole },
      { kind: "relu" },
      { kind: "fc", name: "classifier.6", out: "classes", placement: whole },
    ],
  };
}

/**
 * The built-in configs. `paper` is the paper's network (60,965,224 parameters).
 * `small` (64x64 crops from 72x72) and `tiny` (32x32 crops from 36x36) keep the
 * topology and shrink widths; conv1 uses stride 2 / 1 so the pyramid ends at 3x3.
 * `tiny`'s fc layers are 128 wide so its PyTorch golden fixture stays under 2 MB and a
 * step is cheap on the software adapter. `torchvision` is torchvision's one-column
 * AlexNet (61,100,840 parameters).
 */
export const configs: Readonly<Record<ConfigName, AlexNetConfig>> = Object.freeze({
  paper: twoColumnAlexNet({
    name: "paper",
    inputSize: 224,
    storedSize: 256,
    classes: 1000,
    conv: [
      conv(96, 11, 4, 2, "cross", true, true),
      conv(256, 5, 1, 2, "split", true, true),
      conv(384, 3, 1, 1, "cross", false, false),
      conv(384, 3, 1, 1, "split", false, false),
      conv(256, 3, 1, 1, "split", false, true),
    ],
    fc: [4096, 4096],
    dropout: 0.5,
  }),
  small: twoColumnAlexNet({
    name: "small",
    inputSize: 64,
    storedSize: 72,
    classes: 10,
    conv: [
      conv(48, 5, 2, 2, "cross", true, true),
      conv(128, 5, 1, 2, "split", true, true),
      conv(192, 3, 1, 1, "cross", false, false),
      conv(192, 3, 1, 1, "split", false, false),
      conv(128, 3, 1, 1, "split", false, true),
    ],
    fc: [1024, 1024],
    dropout: 0.5,
  }),
  tiny: twoColumnAlexNet({
    name: "tiny",
    inputSize: 32,
    storedSize: 36,
    classes: 10,
    conv: [
      conv(16, 5, 1, 2, "cross", true, true),
      conv(32, 5, 1, 2, "split", true, true),
      conv(48, 3, 1, 1, "cross", false, false),
      conv(48, 3, 1, 1, "split", false, false),
      conv(32, 3, 1, 1, "split", false, true),
    ],
    fc: [128, 128],
    dropout: 0.5,
  }),
  torchvision: torchvisionAlexNet(1000),
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

/**
 * The dropout probability of a config's dropout layers (the largest, 0 without any).
 *
 * @example
 * ```ts
 * import { configs, dropoutOf } from "./config.ts";
 * console.assert(dropoutOf(configs.paper) === 0.5);
 * ```
 */
export function dropoutOf(cfg: AlexNetConfig): number {
  return Math.max(0, ...cfg.layers.map((l) => l.kind === "dropout" ? l.p : 0));
}

function fail(cfg: { name?: unknown }, field: string, expected: string, got: unknown): never {
  const name = typeof cfg?.name === "string" ? cfg.name : "(unnamed)";
  throw new TypeError(`config ${name}: ${field} must be ${expected}, got ${JSON.stringify(got)}`);
}

function posInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/** The fixed-topology form `state.json` files of version 0.1 hold (5 convs, 2 fc). */
interface LegacyConfig {
  name: string;
  inputSize: number;
  storedSize: number;
  classes: number;
  conv: {
    out: number;
    kernel: number;
    stride: number;
    padding: number;
    groups: number;
    lrn: boolean;
    pool: boolean;
  }[];
  fc: number[];
  dropout: number;
  lrn: Omit<LrnLayer, "kind" | "name">;
}

function fromLegacy(c: LegacyConfig): AlexNetConfig {
  if (!Array.isArray(c.conv) || !Array.isArray(c.fc)) fail(c, "layers", "an array", undefined);
  return twoColumnAlexNet({
    ...c,
    conv: c.conv.map((l) => ({
      ...l,
      placement: l.groups === 2 ? "split" : "cross",
      initBias: l.groups === 2 ? 1 : 0,
    })),
  });
}

/**
 * Checks a (possibly hand-written) config; throws a TypeError naming the first bad
 * field or layer, e.g. `config mine: layers[2] (conv "conv2").out must be an even
 * positive integer (2 columns), got 47`. Returns the config, typed. A config in the
 * fixed five-conv form older checkpoints hold (`conv`, `fc`, `dropout`, `lrn`) is
 * converted to its layer table.
 *
 * @example
 * ```ts
 * import { configs, validateConfig } from "./config.ts";
 * validateConfig(configs.paper);
 * ```
 */
export function validateConfig(value: unknown): AlexNetConfig {
  let c = value as AlexNetConfig;
  if (typeof c !== "object" || c === null) fail({}, "the config", "an object", value);
  if (typeof c.name !== "string" || c.name === "") fail(c, "name", "a non-empty string", c.name);
  if (!("layers" in c) && "conv" in c) c = fromLegacy(c as unknown as LegacyConfig);
  if (!posInt(c.inputSize)) fail(c, "inputSize", "a positive integer", c.inputSize);
  if (!posInt(c.storedSize) || c.storedSize < c.inputSize) {
    fail(c, "storedSize", `an integer >= inputSize (${c.inputSize})`, c.storedSize);
  }
  if (c.inChannels !== 3) fail(c, "inChannels", "3 (RGB)", c.inChannels);
  if (!posInt(c.classes) || c.classes < 2) fail(c, "classes", "an integer >= 2", c.classes);
  networkStages(c, 1); // walks the table, naming the first bad layer
  return c;
}
