// The allocation plan of the network: every tensor a training step touches, per part
// and per column, with its shape, dtype and byte size, derived from the config's layer
// table alone (no GPU). `model/alexnet.ts` allocates exactly these tensors once, up
// front, so a step creates no buffers, and `computeMemoryPlan` answers "does the paper
// config fit a 3 GB GTX 580 per column" without allocating anything.
//
// The plan is typed: `planNetwork` returns, for every stage of the network, the tensors
// it reads and writes as objects (a layer part's `x`, `y`, `dY`, `dX`, `weight.value`,
// `weight.grad`, ...), already wired to the stage before it or to an exchange. The model
// binds kernels to those objects; nothing is looked up by name at run time.
//
// Naming: a PART is a column's share of the network (index 0 or 1; a one-column network
// has one part); a COLUMN is a device. With two columns part p lives on column p; with
// one column every part lives on column 0. Planned tensors are labelled `h<part>:<name>`
// (per part) or `c<column>:<name>` (per column), e.g. `h1:conv3.weight.grad`.
//
// The logits are the last exchange: the loss is computed on every column (it is tiny),
// so its gradient needs no transfer back.

import { MemoryPlanError } from "../errors.ts";
import {
  type AlexNetConfig,
  type ConvLayer,
  type ExchangeStage,
  type LayerStage,
  type MaxPoolLayer,
  networkStages,
  type ParameterShape,
  parameterShapes,
  partsOf,
} from "./config.ts";
import type { DType } from "../kernels/tensor.ts";
import { type Conv2dParams, conv2dWorkspace } from "../kernels/conv2d.ts";
import { maxPoolArgmaxShape, maxPoolShape } from "../kernels/maxpool.ts";

/** Column (device index) that runs part `p` when the model has `columns` devices. */
export function columnOf(p: number, columns: number): number {
  return columns === 2 ? p : 0;
}

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

/** A parameter's tensors on one part: its value and (training only) gradient and momentum. */
export interface ParameterTensors<T> {
  /** The weights. */
  value: T;
  /** d loss / d value (absent in an inference plan). */
  grad?: T;
  /** The momentum buffer (absent in an inference plan). */
  momentum?: T;
}

/** What one part of a layer stage reads and writes. */
export interface PartTensors<T> {
  /** Device index. */
  column: number;
  /** Input: the column's image batch, an exchange's concatenation, or the stage before. */
  x: T;
  /** Output. */
  y: T;
  /** d loss / d y (training only). */
  dY?: T;
  /** Where d loss / d x goes: this part's partial (read by the exchange) or the stage before's dY; none for the image. */
  dX?: T;
  /** Max-pooling: each window's choice, written forward, read backward. */
  argmax?: T;
  /** Conv and fc: the weight's tensors. */
  weight?: ParameterTensors<T>;
  /** Conv and fc: the bias's tensors. */
  bias?: ParameterTensors<T>;
}

/** A layer stage and its tensors per part. */
export interface PlannedLayer<T> {
  /** The stage. */
  stage: LayerStage;
  /** Indexed by part. */
  parts: PartTensors<T>[];
}

/** What an exchange uses on one column. */
export interface ExchangeTensors<T> {
  /** The concatenation the reading stage sees. */
  cat: T;
  /** The other column's part, received (two columns). */
  remote?: T;
  /** The other part's slice of this column's partial gradient, to send (two columns, training). */
  send?: T;
  /** This part's slice of the other column's partial gradient, received (two columns, training). */
  recv?: T;
}

/** An exchange stage and its tensors. */
export interface PlannedExchange<T> {
  /** The stage. */
  stage: ExchangeStage;
  /** Per part: the output of the stage it concatenates. */
  from: T[];
  /** Per part: d loss / d that output (training only), which the exchange writes. */
  dFrom: (T | undefined)[];
  /** Per part: the reading stage's partial input gradients (a "sum" exchange, training only). */
  partials: (T | undefined)[];
  /** Indexed by column. */
  columns: ExchangeTensors<T>[];
}

/** The per-column tensors: data, the loss and its readouts, Winograd scratch. */
export interface ColumnTensors<T> {
  /** Device index. */
  column: number;
  /** The uploaded batch, [N, S, S, 3] u8. */
  images: T;
  /** The training set's mean image [3, S, S]. */
  mean: T;
  /** Per-image augmentation parameters [N, 8]. */
  crops: T;
  /** The augmented input [N, 3, C, C]. */
  input: T;
  /** Class indices [N] u32. */
  labels: T;
  /** Every part's logits, concatenated [N, classes]. */
  logits: T;
  /** Per-image cross-entropy [N]. */
  loss: T;
  /** d mean loss / d logits [N, classes]. */
  dlogits: T;
  /** Top-1 and top-5 hit counts [2] u32. */
  hits: T;
  /** softmax(logits) [N, classes]. */
  probs: T;
  /** Winograd scratch shared by the column's convs, when any conv uses it. */
  workspace?: { U: T; M: T; V: T };
}

/** The typed plan: every stage's tensors, the columns' tensors and the parameters'. */
export interface NetworkPlan<T> {
  /** The stages in forward order with their tensors. */
  stages: (PlannedLayer<T> | PlannedExchange<T>)[];
  /** Indexed by column. */
  columns: ColumnTensors<T>[];
  /** Every parameter (PyTorch order) with its tensors per part. */
  parameters: { shape: ParameterShape; parts: ParameterTensors<T>[] }[];
  /** Every tensor in allocation order. */
  tensors: T[];
}

/** How {@link planNetwork} makes a tensor from its spec, and a view of one with another shape. */
export interface TensorMaker<T> {
  /** A new tensor for `spec`. */
  make(spec: TensorSpec): T;
  /** The same storage seen with `shape` (same element count): fc reading a 4-D output. */
  view(t: T, shape: readonly number[]): T;
}

const SPECS: TensorMaker<TensorSpec> = {
  make: (s) => s,
  view: (t, shape) => ({ ...t, shape }),
};

/**
 * The typed plan of a training step (or inference) on `columns` devices at `batch`,
 * with every tensor made by `maker` (specs by default, GPU tensors in the model). Throws
 * a RangeError when a one-column network is asked for two columns.
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { planNetwork, type PlannedLayer, type TensorSpec } from "./plan.ts";
 * const plan = planNetwork(configs.tiny, 4, 2);
 * const conv3 = plan.stages.find((s) => s.stage.name === "conv3") as PlannedLayer<TensorSpec>;
 * console.assert(conv3.parts[1].weight!.grad!.key === "h1:conv3.weight.grad");
 * ```
 */
export function planNetwork<T = TensorSpec>(
  cfg: AlexNetConfig,
  batch: number,
  columns: 1 | 2,
  opts: PlanOptions = {},
  maker: TensorMaker<T> = SPECS as unknown as TensorMaker<T>,
): NetworkPlan<T> {
  const stages = networkStages(cfg, batch);
  const parts = partsOf(cfg);
  if (parts === 1 && columns === 2) {
    throw new RangeError(
      `config ${cfg.name} is a one-column network (every layer "whole"): open 1 column, not 2`,
    );
  }
  const tensors: T[] = [];
  const add = (
    key: string,
    column: number,
    shape: readonly number[],
    role: TensorRole,
    dtype: DType = "f32",
  ): T => {
    const t = maker.make({ key, column, shape, dtype, role });
    tensors.push(t);
    return t;
  };
  const S = cfg.storedSize, C = cfg.inputSize, n = batch;
  const train = !opts.inference;
  const data = Array.from({ length: columns }, (_, c) => ({
    images: add(`c${c}:images`, c, [n, S, S, 3], "data", "u8"),
    mean: add(`c${c}:mean`, c, [3, S, S], "data"),
    crops: add(`c${c}:crops`, c, [n, 8], "data"),
    input: add(`c${c}:input`, c, [n, 3, C, C], "data"),
    labels: add(`c${c}:labels`, c, [n], "data", "u32"),
  }));
  const params = new Map(parameterShapes(cfg).map((p) => [p.name, p]));
  const paramParts = new Map<string, ParameterTensors<T>[]>();
  // Per part, every layer stage's own tensors (y, dY, argmax, partial dX, parameters).
  type Own = Omit<PartTensors<T>, "x" | "dX"> & { partial?: T };
  const own: Map<string, Own>[] = [];
  for (let p = 0; p < parts; p++) {
    const col = columnOf(p, columns);
    const mine = new Map<string, Own>();
    own.push(mine);
    for (const s of stages) {
      if (s.type === "exchange") continue;
      const entry: Own = {
        column: col,
        y: undefined as T,
      };
      if (s.type === "conv" || s.type === "fc") {
        for (const kind of ["weight", "bias"] as const) {
          const name = `${s.name}.${kind}`;
          const shape = params.get(name)!.columns[p];
          const tensors: ParameterTensors<T> = {
            value: add(`h${p}:${name}`, col, shape, "parameter"),
          };
          if (train) {
            tensors.grad = add(`h${p}:${name}.grad`, col, shape, "parameterGrad");
            tensors.momentum = add(`h${p}:${name}.v`, col, shape, "momentum");
          }
          entry[kind] = tensors;
          const list = paramParts.get(name) ?? [];
          list.push(tensors);
          paramParts.set(name, list);
        }
      }
      entry.y = add(`h${p}:${s.name}.y`, col, s.outShape[p], "activation");
      if (train) entry.dY = add(`h${p}:${s.name}.dy`, col, s.outShape[p], "gradient");
      if (s.type === "maxpool") {
        // Each window's choice, written by the forward for the backward (packed u32).
        const [batch, channels, height, width] = s.inShape;
        const { size, stride } = s.layer as MaxPoolLayer;
        const pool = maxPoolShape({ batch, channels, height, width, size, stride });
        entry.argmax = add(
          `h${p}:${s.name}.argmax`,
          col,
          maxPoolArgmaxShape(pool),
          "activation",
          "u32",
        );
      }
      // A stage reading an exchange writes its own partial gradient of the whole input;
      // the exchange sums the parts' partials.
      if (train && s.input.from === "exchange") {
        entry.partial = add(`h${p}:${s.name}.dx`, col, s.inShape, "gradient");
      }
      mine.set(s.name, entry);
    }
  }
  const cats = new Map<string, T[]>();
  const exchangeColumns = new Map<string, ExchangeTensors<T>[]>();
  const loss: { loss: T; dlogits: T; hits: T; probs: T }[] = [];
  for (let c = 0; c < columns; c++) {
    for (const s of stages) {
      if (s.type !== "exchange") continue;
      const x: ExchangeTensors<T> = {
        cat: add(`c${c}:${s.name}`, c, s.shape, s.name === "logits" ? "loss" : "exchange"),
      };
      if (columns === 2) {
        const mine = s.parts[c], other = s.parts[1 - c];
        x.remote = add(`c${c}:${s.name}.remote`, c, [n, other], "exchange");
        if (train && s.backward === "sum") {
          x.send = add(`c${c}:${s.name}.send`, c, [n, other], "exchange");
          x.recv = add(`c${c}:${s.name}.recv`, c, [n, mine], "exchange");
        }
      }
      cats.set(s.name, [...cats.get(s.name) ?? [], x.cat]);
      exchangeColumns.set(s.name, [...exchangeColumns.get(s.name) ?? [], x]);
    }
    loss.push({
      loss: add(`c${c}:loss`, c, [n], "loss"),
      dlogits: add(`c${c}:dlogits`, c, [n, cfg.classes], "loss"),
      hits: add(`c${c}:hits`, c, [2], "loss", "u32"),
      probs: add(`c${c}:probs`, c, [n, cfg.classes], "loss"),
    });
  }
  // Winograd scratch: one set per column, as large as its largest conv needs (they run
  // one after another, see ConvWorkspace).
  const workspaces: ({ U: T; M: T; V: T } | undefined)[] = [];
  for (let c = 0; c < columns; c++) {
    const need = { U: 0, M: 0, V: 0 };
    for (const s of stages) {
      if (s.type !== "conv") continue;
      for (let p = 0; p < parts; p++) {
        if (columnOf(p, columns) !== c) continue;
        const w = conv2dWorkspace(convParams(s, p, opts));
        for (const k of ["U", "M", "V"] as const) need[k] = Math.max(need[k], w[k]);
      }
    }
    if (need.U + need.M + need.V === 0) {
      workspaces.push(undefined);
      continue;
    }
    const ws = (k: "U" | "M" | "V") =>
      add(`c${c}:workspace.${k}`, c, [Math.max(need[k], 1)], "workspace");
    workspaces.push({ U: ws("U"), M: ws("M"), V: ws("V") });
  }
  // Wire every stage to what it reads and where its input gradient goes.
  const wired: (PlannedLayer<T> | PlannedExchange<T>)[] = [];
  const byName = new Map(
    stages.filter((s): s is LayerStage => s.type !== "exchange").map((s) => [s.name, s]),
  );
  const fit = (t: T | undefined, shape: readonly number[]) =>
    t === undefined ? undefined : maker.view(t, shape);
  for (const s of stages) {
    if (s.type === "exchange") {
      const from = own.map((m) => m.get(s.from)!);
      wired.push({
        stage: s,
        from: from.map((f) => f.y),
        dFrom: from.map((f) => f.dY),
        partials: s.backward === "sum" ? own.map((m) => m.get(s.to)!.partial) : [],
        columns: exchangeColumns.get(s.name)!,
      });
      continue;
    }
    const input = s.input;
    wired.push({
      stage: s,
      parts: own.map((m, p) => {
        const { partial, ...mine } = m.get(s.name)!;
        const col = mine.column;
        if (input.from === "image") return { ...mine, x: data[col].input };
        if (input.from === "exchange") {
          return { ...mine, x: cats.get(input.name)![col], dX: partial };
        }
        const before = own[p].get(input.name)!;
        // fc reads [N, features]: the stage before may have written [N, C, H, W].
        if (byName.get(input.name)!.outShape[p].join() === s.inShape.join()) {
          return { ...mine, x: before.y, dX: before.dY };
        }
        return { ...mine, x: fit(before.y, s.inShape)!, dX: fit(before.dY, s.inShape) };
      }),
    });
  }
  return {
    stages: wired,
    columns: data.map((d, c) => ({
      column: c,
      ...d,
      logits: cats.get("logits")![c],
      ...loss[c],
      ...(workspaces[c] ? { workspace: workspaces[c] } : {}),
    })),
    parameters: [...params.values()].map((shape) => ({
      shape,
      parts: paramParts.get(shape.name)!,
    })),
    tensors,
  };
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
  return planNetwork(cfg, batch, columns, opts).tensors;
}

/**
 * The Conv2d parameters of a conv stage's part, as the model creates it (one source for
 * the model and its memory plan).
 *
 * @example
 * ```ts
 * import { configs, type LayerStage, networkStages } from "./config.ts";
 * import { convParams } from "./plan.ts";
 * const conv3 = networkStages(configs.paper, 128).find((s) => s.name === "conv3")!;
 * console.log(convParams(conv3 as LayerStage, 0).outChannels); // 192: one column's half
 * ```
 */
export function convParams(s: LayerStage, p: number, opts: PlanOptions = {}): Conv2dParams {
  const [n, ci, hi, wi] = s.inShape;
  const l = s.layer as ConvLayer;
  return {
    ...(opts.winogradMinPairs === undefined ? {} : { winogradMinPairs: opts.winogradMinPairs }),
    batch: n,
    inChannels: ci,
    height: hi,
    width: wi,
    outChannels: s.outShape[p][1],
    kernel: l.kernel,
    stride: l.stride,
    padding: l.padding,
    relu: s.relu,
    // The first conv reads the image: its input gradient is never computed.
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
