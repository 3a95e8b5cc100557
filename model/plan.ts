// The allocation plan of the two-column network: every tensor a training step touches,
// per half and per column, with its shape, dtype and byte size, derived from the config
// alone (no GPU). `model/alexnet.ts` allocates exactly these tensors once, up front, so
// a step creates no buffers, and `computeMemoryPlan` answers "does the paper config fit
// a 3 GB GTX 580 per column" without allocating anything.
//
// Naming: a HALF is half of the paper's network (index 0 or 1); a COLUMN is a device.
// With two columns half h lives on column h; with one column both halves live on
// column 0. Per-half tensors are keyed `h<half>:<name>`, per-column ones `c<col>:<name>`.
//
// The stage table (`networkStages`) is the paper's layer table: conv1..conv5 with their
// LRN and pooling, fc6..fc8 with dropout after fc6 and fc7, and the EXCHANGE points
// where a layer reads both halves' outputs. Which layers cross columns is data: a conv
// layer whose whole-network `groups` is 1 reads both halves (conv3 in the paper), and
// every fully connected layer reads the whole previous layer. The logits are the last
// exchange: the loss is computed on every column (it is tiny), so its gradient needs
// no transfer back.

import { MemoryPlanError } from "../errors.ts";
import {
  type AlexNetConfig,
  type LayerShape,
  layerShapes,
  parameterShapes,
  sizeOf,
} from "./config.ts";
import type { DType } from "../kernels/tensor.ts";
import { type Conv2dParams, conv2dWorkspace } from "../kernels/conv2d.ts";
import { maxPoolArgmaxShape, maxPoolShape } from "../kernels/maxpool.ts";

/** 0 or 1: which half of the paper's network. */
export type Half = 0 | 1;

/** The halves, in order. */
export const HALVES: readonly Half[] = [0, 1];

/** Column (device index) that runs half `h` when the model has `columns` devices. */
export function columnOf(h: Half, columns: number): number {
  return columns === 2 ? h : 0;
}

/** A per-half layer of the stage table. */
export interface LayerStage {
  /** Discriminant. */
  type: "conv" | "lrn" | "pool" | "linear" | "dropout";
  /** Layer name, e.g. "conv3", "lrn1", "pool5", "fc6", "dropout6". */
  name: string;
  /**
   * Where the input comes from: the augmented image (per column), the previous layer of
   * the same half, or an exchange (per column, both halves' outputs concatenated).
   */
  input: { from: "image" } | { from: "layer"; name: string } | { from: "exchange"; name: string };
  /** Input shape per half (identical for both halves except possibly fc8's classes). */
  inShape: readonly number[];
  /** Output shape per half, indexed by half. */
  outShape: readonly [readonly number[], readonly number[]];
  /** PyTorch parameter prefix ("conv1", "fc6") for layers with weights. */
  param?: string;
  /** Per-half conv/pool/linear hyper-parameters. */
  conv?: { kernel: number; stride: number; padding: number; relu: boolean };
  /** Fully connected: relu fused. */
  relu?: boolean;
}

/** An exchange point: both halves' outputs of `from` concatenated along axis 1. */
export interface ExchangeStage {
  /** Discriminant. */
  type: "exchange";
  /** The exchange's name and the key of its per-column output, e.g. "conv3.x", "logits". */
  name: string;
  /** The per-half layer whose outputs are concatenated, e.g. "pool2". */
  from: string;
  /** The layer that reads the concatenation ("loss" for the logits). */
  to: string;
  /** Per-sample elements contributed by each half. */
  parts: readonly [number, number];
  /** Shape of the concatenation (per column). */
  shape: readonly number[];
  /** "sum": per-half consumers' partial input gradients are summed; "slice": the consumer (the loss) is replicated, its gradient is just sliced. */
  backward: "sum" | "slice";
}

/** One entry of the network's stage table, in forward order. */
export type Stage = LayerStage | ExchangeStage;

/**
 * The network as the paper's table: per-half layers in forward order (from
 * `layerShapes`) with the exchange points between them. Backward is the same list
 * reversed.
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { networkStages } from "./plan.ts";
 * const names = networkStages(configs.paper, 128).map((s) => s.name);
 * // conv1 lrn1 pool1 conv2 lrn2 pool2 conv3.x conv3 conv4 conv5 pool5 fc6.x fc6 dropout6 ...
 * ```
 */
export function networkStages(cfg: AlexNetConfig, batch: number): Stage[] {
  const stages: Stage[] = [];
  let input: LayerStage["input"] = { from: "image" };
  let prev: LayerShape | null = null;
  const perSample = (shape: readonly number[]) => sizeOf(shape.slice(1));
  for (const l of layerShapes(cfg, batch)) {
    if (l.exchange) {
      const p = prev!;
      const parts: [number, number] = [perSample(p.output[0]), perSample(p.output[1])];
      stages.push({
        type: "exchange",
        name: `${l.name}.x`,
        from: p.name,
        to: l.name,
        parts,
        shape: l.input[0],
        backward: "sum",
      });
      input = { from: "exchange", name: `${l.name}.x` };
    }
    const stage: LayerStage = {
      type: KIND[l.kind],
      name: l.name,
      input,
      inShape: l.input[0],
      outShape: [l.output[0], l.output[1]],
    };
    if (l.kind === "conv") {
      const c = cfg.conv[Number(l.name.slice(4)) - 1];
      stage.param = l.name;
      stage.conv = { kernel: c.kernel, stride: c.stride, padding: c.padding, relu: c.relu };
    } else if (l.kind === "fc") {
      stage.param = l.name;
      stage.relu = l.name !== "fc8";
    }
    stages.push(stage);
    input = { from: "layer", name: l.name };
    prev = l;
  }
  const last = prev!;
  stages.push({
    type: "exchange",
    name: "logits",
    from: last.name,
    to: "loss",
    parts: [perSample(last.output[0]), perSample(last.output[1])],
    shape: [batch, cfg.classes],
    backward: "slice",
  });
  return stages;
}

const KIND: Record<LayerShape["kind"], LayerStage["type"]> = {
  conv: "conv",
  lrn: "lrn",
  pool: "pool",
  fc: "linear",
  dropout: "dropout",
};

/** What a planned tensor holds (for the per-role memory breakdown). */
export type TensorRole =
  | "data"
  | "activation"
  | "gradient"
  | "parameter"
  | "parameterGrad"
  | "momentum"
  | "exchange"
  | "loss"
  | "workspace";

/** Kernel choices that change what is planned. */
export interface PlanOptions {
  /** Passed to every conv (see Conv2dParams.winogradMinPairs; 0 = Winograd wherever it applies). */
  winogradMinPairs?: number;
  /**
   * Plan for inference only: no parameter gradients, momentum, activation gradients or
   * backward exchange buffers (a network created so cannot train).
   */
  inference?: boolean;
}

/** One tensor of the plan. */
export interface TensorSpec {
  /** `h<half>:<name>` or `c<column>:<name>`. */
  key: string;
  /** Device index. */
  column: number;
  /** Dimensions. */
  shape: readonly number[];
  /** Element type. */
  dtype: DType;
  /** What it holds. */
  role: TensorRole;
}

/** Bytes a tensor holds on its column: Column.acquire's rounding (16-byte granules, at least 16). */
export function accountedBytes(spec: Pick<TensorSpec, "shape" | "dtype">): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const bytes = Math.max(size * (spec.dtype === "u8" ? 1 : 4), 4);
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/**
 * Every tensor of a training step on `columns` devices at `batch`, in allocation order.
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { planTensors } from "./plan.ts";
 * const specs = planTensors(configs.tiny, 4, 2);
 * console.log(specs.find((s) => s.key === "h1:conv3.weight")?.shape);
 * ```
 */
export function planTensors(
  cfg: AlexNetConfig,
  batch: number,
  columns: 1 | 2,
  opts: PlanOptions = {},
): TensorSpec[] {
  const stages = networkStages(cfg, batch);
  const params = new Map(parameterShapes(cfg).map((p) => [p.name, p.columns]));
  const specs: TensorSpec[] = [];
  const add = (
    key: string,
    column: number,
    shape: readonly number[],
    role: TensorRole,
    dtype: DType = "f32",
  ) => specs.push({ key, column, shape, dtype, role });
  const S = cfg.storedSize, C = cfg.inputSize, n = batch;
  const train = !opts.inference;
  for (let c = 0; c < columns; c++) {
    add(`c${c}:images`, c, [n, S, S, 3], "data", "u8");
    add(`c${c}:mean`, c, [3, S, S], "data");
    add(`c${c}:crops`, c, [n, 8], "data");
    add(`c${c}:input`, c, [n, 3, C, C], "data");
    add(`c${c}:labels`, c, [n], "data", "u32");
  }
  for (const h of HALVES) {
    const col = columnOf(h, columns);
    for (const s of stages) {
      if (s.type === "exchange") continue;
      for (const kind of s.param ? ["weight", "bias"] : []) {
        const name = `${s.param}.${kind}`;
        const shape = params.get(name)![h];
        add(`h${h}:${name}`, col, shape, "parameter");
        if (train) {
          add(`h${h}:${name}.grad`, col, shape, "parameterGrad");
          add(`h${h}:${name}.v`, col, shape, "momentum");
        }
      }
      add(`h${h}:${s.name}.y`, col, s.outShape[h], "activation");
      if (train) add(`h${h}:${s.name}.dy`, col, s.outShape[h], "gradient");
      if (s.type === "pool") {
        // Each window's choice, written by the forward for the backward (packed u32).
        const [batch, channels, height, width] = s.inShape;
        const pool = maxPoolShape({ batch, channels, height, width, ...cfg.pool });
        add(`h${h}:${s.name}.argmax`, col, maxPoolArgmaxShape(pool), "activation", "u32");
      }
      // A layer reading an exchange writes its own partial gradient of the whole input;
      // the exchange sums the halves' partials. conv1's input is the image: no gradient.
      if (train && s.input.from === "exchange") {
        add(`h${h}:${s.name}.dx`, col, s.inShape, "gradient");
      }
    }
  }
  for (let c = 0; c < columns; c++) {
    for (const s of stages) {
      if (s.type !== "exchange") continue;
      add(`c${c}:${s.name}`, c, s.shape, s.name === "logits" ? "loss" : "exchange");
      if (columns === 2) {
        const own = s.parts[c], other = s.parts[1 - c];
        add(`c${c}:${s.name}.remote`, c, [n, other], "exchange");
        if (train && s.backward === "sum") {
          add(`c${c}:${s.name}.send`, c, [n, other], "exchange");
          add(`c${c}:${s.name}.recv`, c, [n, own], "exchange");
        }
      }
    }
    add(`c${c}:loss`, c, [n], "loss");
    add(`c${c}:dlogits`, c, [n, cfg.classes], "loss");
    add(`c${c}:hits`, c, [2], "loss", "u32");
    add(`c${c}:probs`, c, [n, cfg.classes], "loss");
  }
  // Winograd scratch: one set per column, as large as its largest conv needs (they run
  // one after another, see ConvWorkspace).
  for (let c = 0; c < columns; c++) {
    const need = { U: 0, M: 0, V: 0 };
    for (const s of stages) {
      if (s.type !== "conv") continue;
      for (const h of HALVES) {
        if (columnOf(h, columns) !== c) continue;
        const w = conv2dWorkspace(convParams(s, h, opts));
        for (const k of ["U", "M", "V"] as const) need[k] = Math.max(need[k], w[k]);
      }
    }
    if (need.U + need.M + need.V === 0) continue;
    for (const k of ["U", "M", "V"] as const) {
      add(`c${c}:workspace.${k}`, c, [Math.max(need[k], 1)], "workspace");
    }
  }
  return specs;
}

/**
 * The Conv2d parameters of a conv stage's half, as the model creates it (one source for
 * the model and its memory plan).
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { convParams, networkStages } from "./plan.ts";
 * const conv3 = networkStages(configs.paper, 128).find((s) => s.name === "conv3")!;
 * console.log(convParams(conv3 as never, 0).outChannels); // 192: one column's half
 * ```
 */
export function convParams(s: LayerStage, h: Half, opts: PlanOptions = {}): Conv2dParams {
  const [n, ci, hi, wi] = s.inShape;
  return {
    ...(opts.winogradMinPairs === undefined ? {} : { winogradMinPairs: opts.winogradMinPairs }),
    batch: n,
    inChannels: ci,
    height: hi,
    width: wi,
    outChannels: s.outShape[h][1],
    kernel: s.conv!.kernel,
    stride: s.conv!.stride,
    padding: s.conv!.padding,
    relu: s.conv!.relu,
    // conv1 reads the image: its input gradient is never computed.
    inputGrad: s.input.from !== "image",
  };
}

/** Bytes per column, from the plan. */
export interface MemoryPlan {
  /** Bytes each column holds once the model is allocated (Column.memory.held). */
  perColumn: number[];
  /** The same, split by role, per column. */
  byRole: Record<TensorRole, number>[];
  /** Every planned tensor. */
  tensors: TensorSpec[];
}

/**
 * Bytes per column the model allocates for `cfg` at `batch` on `columns` devices:
 * exactly what each column's byte accounting reports after the model is created.
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { computeMemoryPlan } from "./plan.ts";
 * const plan = computeMemoryPlan(configs.paper, 128, 2);
 * console.log((plan.perColumn[0] / 2 ** 30).toFixed(2), "GiB on column 0");
 * ```
 */
export function computeMemoryPlan(
  cfg: AlexNetConfig,
  batch: number,
  columns: 1 | 2,
  opts: PlanOptions = {},
): MemoryPlan {
  const tensors = planTensors(cfg, batch, columns, opts);
  const zero = (): Record<TensorRole, number> => ({
    data: 0,
    activation: 0,
    gradient: 0,
    parameter: 0,
    parameterGrad: 0,
    momentum: 0,
    exchange: 0,
    loss: 0,
    workspace: 0,
  });
  const perColumn = new Array<number>(columns).fill(0);
  const byRole = Array.from({ length: columns }, zero);
  for (const t of tensors) {
    const b = accountedBytes(t);
    perColumn[t.column] += b;
    byRole[t.column][t.role] += b;
  }
  return { perColumn, byRole, tensors };
}

/** What a device allows, for {@link checkMemoryPlan}. */
export interface MemoryLimits {
  /** Largest buffer (GPUSupportedLimits.maxBufferSize). */
  maxBufferSize: number;
  /** Largest buffer bound whole (activations and gradients are). */
  maxStorageBufferBindingSize: number;
  /** Bytes one column may hold in all (e.g. the machine's memory), if known. */
  bytesPerColumn?: number;
}

function planProblem(
  cfg: AlexNetConfig,
  batch: number,
  columns: 1 | 2,
  limits: MemoryLimits,
  opts: PlanOptions,
): string | undefined {
  const plan = computeMemoryPlan(cfg, batch, columns, opts);
  // Parameters, their gradients and momentum are bound in chunks; the rest whole.
  const chunked = new Set<TensorRole>(["parameter", "parameterGrad", "momentum"]);
  for (const t of plan.tensors) {
    const bytes = accountedBytes(t);
    if (bytes > limits.maxBufferSize) {
      return `tensor ${t.key} needs ${gib(bytes)}, over the device's maxBufferSize of ` +
        gib(limits.maxBufferSize);
    }
    if (!chunked.has(t.role) && bytes > limits.maxStorageBufferBindingSize) {
      return `tensor ${t.key} needs ${gib(bytes)}, over the device's ` +
        `maxStorageBufferBindingSize of ${gib(limits.maxStorageBufferBindingSize)}`;
    }
  }
  const most = Math.max(...plan.perColumn);
  if (limits.bytesPerColumn !== undefined && most > limits.bytesPerColumn) {
    return `the network needs ${gib(most)} per column, more than the ${
      gib(limits.bytesPerColumn)
    } available`;
  }
  return undefined;
}

const gib = (b: number) =>
  b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`;

/**
 * Checks from the plan alone, before anything is allocated, that the network at `batch`
 * fits the device: throws a MemoryPlanError naming the first tensor (or total) that does
 * not, and the largest batch that would.
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { checkMemoryPlan } from "./plan.ts";
 * const limits = { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 };
 * checkMemoryPlan(configs.tiny, 32, 2, limits); // fits: returns
 * ```
 */
export function checkMemoryPlan(
  cfg: AlexNetConfig,
  batch: number,
  columns: 1 | 2,
  limits: MemoryLimits,
  opts: PlanOptions = {},
): void {
  const problem = planProblem(cfg, batch, columns, limits, opts);
  if (!problem) return;
  let lo = 0, hi = batch; // lo fits (0 = none does), hi does not
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (planProblem(cfg, mid, columns, limits, opts)) hi = mid;
    else lo = mid;
  }
  throw new MemoryPlanError(
    `config ${cfg.name} at batch ${batch} on ${columns} column(s) does not fit: ${problem}; ` +
      (lo > 0 ? `the largest batch that fits is ${lo}` : "no batch fits"),
  );
}
