// The network: a config's layer table, planned, bound to kernels.
//
// `planNetwork` (model/plan.ts) lists the stages of `networkStages` (model/network.ts)
// in forward order with every tensor each one reads and writes; here each stage becomes
// an object with `forward` and `backward`, and the network runs that straight list
// forward and the same list reversed backward. Exchanges are the only stages that touch
// both parts (see docs/architecture.md):
//
//   forward   each column gets cat(part 0's output, part 1's output) along axis 1
//   backward  each part's input gradient is the SUM of both consumers' partial input
//             gradients' slices (for the logits: the replicated loss's gradient, sliced)
//
// With two columns an exchange submits the recorded work, moves what the other column
// needs through the host in ONE `exchange()` call, and continues; with one column the
// same concatenation and sums are on-device `Slice` dispatches and the whole step is a
// single submit. The tensors are allocated once, from the plan, at creation.

import { AvgPool } from "../kernels/avgpool.ts";
import type { Column } from "../kernels/columns.ts";
import { Slice } from "../kernels/concat.ts";
import { Conv2d, ConvWorkspace } from "../kernels/conv2d.ts";
import { Dropout } from "../kernels/dropout.ts";
import { Elementwise } from "../kernels/elementwise.ts";
import { Encoder, sync } from "../kernels/encoder.ts";
import { NonFinite } from "../kernels/finite.ts";
import { Linear } from "../kernels/linear.ts";
import { Lrn } from "../kernels/lrn.ts";
import { MaxPool } from "../kernels/maxpool.ts";
import { Sgd } from "../kernels/sgd.ts";
import { SoftmaxCrossEntropy } from "../kernels/softmax_xent.ts";
import { readTensors, Tensor } from "../kernels/tensor.ts";
import { exchange } from "../kernels/transfer.ts";
import {
  type AlexNetConfig,
  joinParameter,
  type LrnLayer,
  type MaxPoolLayer,
  partsOf,
  splitParameter,
  type Stage,
} from "./config.ts";
import {
  checkMemoryPlan,
  columnOf,
  type ColumnTensors,
  convParams,
  type NetworkPlan,
  type ParameterTensors,
  type PartTensors,
  type PlannedExchange,
  type PlannedLayer,
  planNetwork,
  type PlanOptions,
  type TensorSpec,
} from "./plan.ts";

/** Open encoders, one per column, created on first use and submitted together. */
export class Recorder {
  readonly #columns: readonly Column[];
  readonly #label: string;
  #open: (Encoder | null)[];
  /** Submits performed so far. */
  submits = 0;

  /** Records on `columns`; `label` names the command buffers. */
  constructor(columns: readonly Column[], label = "alexnet") {
    this.#columns = columns;
    this.#label = label;
    this.#open = columns.map(() => null);
  }

  /** The open encoder of column `c`. */
  at(c: number): Encoder {
    return this.#open[c] ??= new Encoder(this.#columns[c], `${this.#label} (column ${c})`);
  }

  /** Submits every open encoder. */
  flush(): void {
    for (const [c, e] of this.#open.entries()) {
      if (e) {
        e.submit();
        this.submits++;
        this.#open[c] = null;
      }
    }
  }
}

/** How a forward pass runs. */
export interface ForwardMode {
  /** Training: dropout on (with `step` selecting the masks). Evaluation: dropout is the identity. */
  train: boolean;
  /** The dropout counter (the global step). */
  step: number;
}

interface Node {
  readonly name: string;
  forward(rec: Recorder, mode: ForwardMode): Promise<void> | void;
  backward(rec: Recorder, step: number): Promise<void> | void;
}

/** Options of {@link AlexNet.create}. */
export interface AlexNetOptions {
  /** The network. */
  config: AlexNetConfig;
  /** Images per step (static: tensors are planned for it). */
  batch: number;
  /** One column (both halves on it) or two (half h on column h). */
  columns: readonly Column[];
  /** Dropout probability, overriding `config.dropout` (0 disables it, e.g. for parity tests). */
  dropout?: number;
  /** Selects the dropout masks (default 0); the same seed gives the same masks on 1 or 2 columns. */
  seed?: number;
  /**
   * Convs run Winograd from this many in x out channels per group (default 1536; 0 =
   * every conv it applies to, as the parity test does).
   */
  winogradMinPairs?: number;
  /**
   * Bytes one column may hold (e.g. the machine's memory); with the devices' buffer
   * limits, checked from the plan before anything is allocated (a MemoryPlanError).
   */
  memoryBudget?: number;
  /**
   * Inference only: no gradients, momentum or backward buffers are allocated (for
   * `predict`); `backward`, `sgd` and momentum reads then throw.
   */
  inference?: boolean;
}

/** What {@link AlexNet.readParameters} reads: weights, their gradients or momentum. */
export type ParameterKind = "weight" | "grad" | "momentum";

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function need<T>(t: T | undefined, what: string): T {
  if (t === undefined) {
    throw new Error(`AlexNet.${what}: this network was created for inference only`);
  }
  return t;
}

/**
 * The network with every tensor allocated and every pipeline compiled: the config's
 * layer table, planned (model/plan.ts) and bound to kernels.
 *
 * @example
 * ```ts ignore
 * const { columns } = await openColumns({ count: 2 });
 * const net = await AlexNet.create({ config: configs.tiny, batch: 8, columns });
 * net.writeParameters(initParameters(configs.tiny, 1));
 * const rec = new Recorder(net.columns);
 * await net.forward(rec, { train: false, step: 0 });
 * rec.flush();
 * ```
 */
export class AlexNet {
  /** The network's config. */
  readonly config: AlexNetConfig;
  /** Images per step. */
  readonly batch: number;
  /** The devices. */
  readonly columns: readonly Column[];
  /** The typed plan bound to GPU tensors: every stage's tensors, per part and column. */
  readonly plan: NetworkPlan<Tensor>;
  /** The planned specs the tensors were allocated from, in allocation order. */
  readonly specs: readonly TensorSpec[];
  /** Created for inference only (see AlexNetOptions.inference). */
  readonly inference: boolean;
  /** Parts of the network: 2 for the paper's two columns, 1 for a one-column network. */
  readonly parts: 1 | 2;
  #nodes: Node[] = [];
  #workspaces = new Map<number, ConvWorkspace>();
  #options: PlanOptions;
  #xent: SoftmaxCrossEntropy[] = [];
  #sgd: Sgd[] = [];
  /** Per column, the parameters SGD updates (fixed at creation). */
  #sgdParams: { w: Tensor; dW: Tensor; v: Tensor }[][] = [];
  #finite: NonFinite[] = [];

  private constructor(opts: AlexNetOptions, plan: NetworkPlan<Tensor>, specs: TensorSpec[]) {
    this.#options = { winogradMinPairs: opts.winogradMinPairs, inference: opts.inference };
    this.inference = opts.inference ?? false;
    this.config = opts.config;
    this.batch = opts.batch;
    this.columns = opts.columns;
    this.parts = partsOf(opts.config);
    this.plan = plan;
    this.specs = specs;
  }

  /** The stage table: layers and exchanges in forward order. */
  get stages(): readonly Stage[] {
    return this.plan.stages.map((s) => s.stage);
  }

  /** Column `c`'s tensors: data, logits, loss and its readouts. */
  io(c: number): ColumnTensors<Tensor> {
    return this.plan.columns[c];
  }

  /** Column `c`'s Winograd scratch, over its planned tensors when the plan has them. */
  #workspace(c: number): ConvWorkspace {
    let ws = this.#workspaces.get(c);
    if (!ws) {
      this.#workspaces.set(c, ws = new ConvWorkspace(this.columns[c], this.io(c).workspace));
    }
    return ws;
  }

  /** Allocates every planned tensor and compiles every pipeline. */
  static async create(opts: AlexNetOptions): Promise<AlexNet> {
    const count = opts.columns.length;
    if (count !== 1 && count !== 2) {
      throw new RangeError(`AlexNet: columns must hold 1 or 2 columns, got ${count}`);
    }
    AlexNet.checkMemory(opts);
    const specs: TensorSpec[] = [];
    const plan = planNetwork<Tensor>(opts.config, opts.batch, count, opts, {
      make: (s) => {
        specs.push(s);
        return Tensor.zeros(opts.columns[s.column], s.shape, s.key, s.dtype);
      },
      view: (t, shape) => t.view(shape),
    });
    const net = new AlexNet(opts, plan, specs);
    await net.#build(opts);
    return net;
  }

  /**
   * Throws a MemoryPlanError, before anything is allocated, when the plan for `opts`
   * needs a buffer over the columns' limits or more than `memoryBudget` per column.
   */
  static checkMemory(opts: AlexNetOptions): void {
    const limit = (k: "maxBufferSize" | "maxStorageBufferBindingSize") =>
      Math.min(...opts.columns.map((c) => c.limits[k]));
    checkMemoryPlan(opts.config, opts.batch, opts.columns.length as 1 | 2, {
      maxBufferSize: limit("maxBufferSize"),
      maxStorageBufferBindingSize: limit("maxStorageBufferBindingSize"),
      bytesPerColumn: opts.memoryBudget,
    }, opts);
  }

  /** Number of columns (devices). */
  get columnCount(): 1 | 2 {
    return this.columns.length as 1 | 2;
  }

  /** Column index of part `p`. */
  columnOf(p: number): number {
    return columnOf(p, this.columnCount);
  }

  async #build(opts: AlexNetOptions): Promise<void> {
    const seed = opts.seed ?? 0;
    for (const [i, s] of this.plan.stages.entries()) {
      if (s.stage.type === "exchange") {
        this.#nodes.push(await this.#exchange(s as PlannedExchange<Tensor>));
        continue;
      }
      const layer = s as PlannedLayer<Tensor>;
      const parts = await Promise.all(
        layer.parts.map((t, p) => this.#layer(layer, p, t, opts.dropout, mix(seed, i * 2 + p))),
      );
      this.#nodes.push({
        name: layer.stage.name,
        forward: (rec, mode) => parts.forEach((l) => l.forward(rec, mode)),
        backward: (rec, step) => parts.forEach((l) => l.backward(rec, step)),
      });
    }
    for (const [i, c] of this.columns.entries()) {
      this.#xent.push(
        await SoftmaxCrossEntropy.create(c, { batch: this.batch, classes: this.config.classes }),
      );
      if (!this.inference) {
        const params = this.#params(i);
        this.#sgdParams.push(params);
        this.#sgd.push(await Sgd.create(c, { sizes: params.map((q) => q.w.size) }));
      }
      this.#finite.push(await NonFinite.create(c));
    }
  }

  /** One part of a layer: its kernel bound to its planned tensors. */
  async #layer(
    planned: PlannedLayer<Tensor>,
    p: number,
    t: PartTensors<Tensor>,
    dropout: number | undefined,
    seed: number,
  ): Promise<Node> {
    const s = planned.stage;
    const c = t.column;
    const column = this.columns[c];
    const { x, y } = t;
    // Gradients exist only in a training plan; an inference network's backward throws
    // before it would read them.
    const dY = t.dY!, dX = t.dX;
    const [n, ci, hi, wi] = s.inShape;
    switch (s.type) {
      case "conv": {
        const w = t.weight!.value, b = t.bias!.value;
        const dW = t.weight!.grad!, db = t.bias!.grad!;
        const conv = await Conv2d.create(column, {
          ...convParams(s, p, this.#options),
          workspace: this.#workspace(c),
        });
        return {
          name: s.name,
          forward: (rec) => conv.forward(rec.at(c), { x, w, b, y }),
          backward: (rec) => conv.backward(rec.at(c), { x, w, y, dY, dX, dW, db }),
        };
      }
      case "lrn": {
        const { size, alpha, beta, k } = s.layer as LrnLayer;
        const lrn = await Lrn.create(column, {
          batch: n,
          channels: ci,
          height: hi,
          width: wi,
          size,
          alpha,
          beta,
          k,
        });
        return {
          name: s.name,
          forward: (rec) => lrn.forward(rec.at(c), { x, y }),
          backward: (rec) => lrn.backward(rec.at(c), { x, y, dY, dX: dX! }),
        };
      }
      case "maxpool": {
        const { size, stride } = s.layer as MaxPoolLayer;
        const pool = await MaxPool.create(column, {
          batch: n,
          channels: ci,
          height: hi,
          width: wi,
          size,
          stride,
        });
        const argmax = t.argmax!;
        return {
          name: s.name,
          forward: (rec) => pool.forward(rec.at(c), { x, y, argmax }),
          backward: (rec) => pool.backward(rec.at(c), { argmax, dY, dX: dX! }),
        };
      }
      case "avgpool": {
        const pool = await AvgPool.create(column, {
          batch: n,
          channels: ci,
          height: hi,
          width: wi,
          output: s.outShape[p][2],
        });
        return {
          name: s.name,
          forward: (rec) => pool.forward(rec.at(c), { x, y }),
          backward: (rec) => pool.backward(rec.at(c), { dY, dX: dX! }),
        };
      }
      case "fc": {
        const w = t.weight!.value, b = t.bias!.value;
        const dW = t.weight!.grad!, db = t.bias!.grad!;
        const fc = await Linear.create(column, {
          batch: n,
          inFeatures: ci,
          outFeatures: s.outShape[p][1],
          relu: s.relu,
        });
        return {
          name: s.name,
          forward: (rec) => fc.forward(rec.at(c), { x, w, b, y }),
          backward: (rec) => fc.backward(rec.at(c), { x, w, y, dY, dX, dW, db }),
        };
      }
      case "dropout": {
        // p = 0 keeps every unit: skip the kernel (a copy keeps the tensor graph static).
        const prob = dropout ?? (s.layer as { p: number }).p;
        const drop = prob > 0 ? await Dropout.create(column, { size: y.size, p: prob }) : null;
        return {
          name: s.name,
          forward: (rec, mode) => {
            if (mode.train && drop) drop.forward(rec.at(c), { x, y, seed, step: mode.step });
            else rec.at(c).copy(x, y);
          },
          backward: (rec, step) => {
            if (drop) drop.backward(rec.at(c), { dY, dX: dX!, seed, step });
            else rec.at(c).copy(dY, dX!);
          },
        };
      }
    }
  }

  /** An exchange point: concatenation forward, summed (or sliced) gradients backward. */
  async #exchange(planned: PlannedExchange<Tensor>): Promise<Node> {
    const s = planned.stage;
    const count = this.columnCount;
    const parts = s.parts.length;
    const n = this.batch;
    const total = s.parts.reduce((a, b) => a + b, 0);
    const offsets = s.parts.map((_, k) => s.parts.slice(0, k).reduce((a, b) => a + b, 0));
    // slices[c][k]: where part k sits within a row of the concatenation, on column c.
    const slices = await Promise.all(
      this.columns.map((col) =>
        Promise.all(
          s.parts.map((part, k) =>
            Slice.create(col, { outer: n, part, total, offset: offsets[k] })
          ),
        )
      ),
    );
    const adds = count === 2 && s.backward === "sum"
      ? await Promise.all(
        this.columns.map((col, c) => Elementwise.create(col, { size: n * s.parts[c] })),
      )
      : [];
    const out = planned.from;
    const dOut = (p: number) => need(planned.dFrom[p], "backward");
    const cols = planned.columns;
    return {
      name: s.name,
      forward: async (rec) => {
        if (count === 1) {
          for (let p = 0; p < parts; p++) {
            slices[0][p].place(rec.at(0), { x: out[p], y: cols[0].cat });
          }
          return;
        }
        for (const p of [0, 1]) slices[p][p].place(rec.at(p), { x: out[p], y: cols[p].cat });
        rec.flush();
        await exchange([0, 1].map((p) => ({ src: out[p], dst: cols[1 - p].remote! })));
        for (const c of [0, 1]) {
          slices[c][1 - c].place(rec.at(c), { x: cols[c].remote!, y: cols[c].cat });
        }
      },
      backward: async (rec) => {
        if (s.backward === "slice") {
          // The loss ran on every column: each part slices its classes' gradient.
          for (let p = 0; p < parts; p++) {
            const c = this.columnOf(p);
            slices[c][p].take(rec.at(c), { y: this.io(c).dlogits, x: dOut(p) });
          }
          return;
        }
        const partial = (p: number) => need(planned.partials[p], "backward");
        if (count === 1) {
          for (let g = 0; g < parts; g++) {
            for (let p = 0; p < parts; p++) {
              slices[0][g].take(rec.at(0), { y: partial(p), x: dOut(g), accumulate: p > 0 });
            }
          }
          return;
        }
        for (const g of [0, 1]) {
          slices[g][g].take(rec.at(g), { y: partial(g), x: dOut(g) });
          slices[g][1 - g].take(rec.at(g), { y: partial(g), x: cols[g].send! });
        }
        rec.flush();
        await exchange([0, 1].map((g) => ({ src: cols[g].send!, dst: cols[1 - g].recv! })));
        for (const g of [0, 1]) adds[g].add(rec.at(g), { src: cols[g].recv!, dst: dOut(g) });
      },
    };
  }

  /**
   * Records the forward pass from each column's `input` to its `logits` (exchanges
   * submit and await as they go). Work may remain open in `rec`.
   */
  async forward(rec: Recorder, mode: ForwardMode): Promise<void> {
    for (const node of this.#nodes) await node.forward(rec, mode);
  }

  /** Records loss, dLogits and top-1/top-5 hits on every column from `labels`. */
  loss(rec: Recorder): void {
    for (const [c, xent] of this.#xent.entries()) {
      const io = this.io(c);
      xent.run(rec.at(c), {
        logits: io.logits,
        labels: io.labels,
        loss: io.loss,
        dLogits: io.dlogits,
        hits: io.hits,
      });
    }
  }

  /** Records softmax(logits) into column 0's `probs`. */
  softmax(rec: Recorder): void {
    this.#xent[0].softmax(rec.at(0), { logits: this.io(0).logits, probs: this.io(0).probs });
  }

  /** Records the backward pass from `dlogits` to every parameter gradient. */
  async backward(rec: Recorder, step: number): Promise<void> {
    this.#trainable("backward");
    for (let i = this.#nodes.length - 1; i >= 0; i--) await this.#nodes[i].backward(rec, step);
  }

  #trainable(what: string): void {
    if (this.inference) {
      throw new Error(`AlexNet.${what}: this network was created for inference only`);
    }
  }

  /** Records one SGD update of every parameter on every column. */
  sgd(rec: Recorder, hyper: { lr: number; momentum: number; weightDecay: number }): void {
    this.#trainable("sgd");
    for (const [c, sgd] of this.#sgd.entries()) {
      sgd.step(rec.at(c), { params: this.#sgdParams[c], ...hyper });
    }
  }

  /** Column `c`'s parameters with their gradients and momentum, in plan order. */
  #params(c: number): { w: Tensor; dW: Tensor; v: Tensor }[] {
    return this.#onColumn(c).map(({ tensors: t }) => ({
      w: t.value,
      dW: need(t.grad, "sgd"),
      v: need(t.momentum, "sgd"),
    }));
  }

  /** Column `c`'s parameter parts: name and tensors, parts in order. */
  #onColumn(c: number): { name: string; tensors: ParameterTensors<Tensor> }[] {
    const list: { name: string; tensors: ParameterTensors<Tensor> }[] = [];
    for (let p = 0; p < this.parts; p++) {
      if (this.columnOf(p) !== c) continue;
      for (const q of this.plan.parameters) list.push({ name: q.shape.name, tensors: q.parts[p] });
    }
    return list;
  }

  /** PyTorch parameter names in order ("conv1.weight", "conv1.bias", ...). */
  parameterNames(): string[] {
    return this.plan.parameters.map((p) => p.shape.name);
  }

  #kind(t: ParameterTensors<Tensor>, kind: ParameterKind): Tensor {
    if (kind === "weight") return t.value;
    return need(kind === "grad" ? t.grad : t.momentum, `${kind} read`);
  }

  /** Writes whole (PyTorch-shaped) tensors into every part's weights or momentum. */
  writeParameters(values: ReadonlyMap<string, Float32Array>, kind: ParameterKind = "weight"): void {
    for (const q of this.plan.parameters) {
      const whole = values.get(q.shape.name);
      if (!whole) throw new Error(`AlexNet.writeParameters: missing ${q.shape.name}`);
      const parts = splitParameter(q.shape.name, whole, this.config);
      q.parts.forEach((t, p) => this.#kind(t, kind).write(parts[p]));
    }
  }

  /** Reads every part of every parameter (or gradient, or momentum) as whole PyTorch tensors. */
  async readParameters(kind: ParameterKind = "weight"): Promise<Map<string, Float32Array>> {
    // One mapping per column for all of them (a checkpoint reads every parameter).
    const read = new Map<ParameterTensors<Tensor>, Float32Array>();
    await Promise.all(this.columns.map(async (column, c) => {
      const mine = this.#onColumn(c);
      const values = await readTensors(
        column,
        mine.map(({ tensors }) => this.#kind(tensors, kind) as Tensor<"f32">),
      );
      mine.forEach(({ tensors }, i) => read.set(tensors, values[i]));
    }));
    const out = new Map<string, Float32Array>();
    for (const q of this.plan.parameters) {
      const parts = q.parts.map((t) => read.get(t)!);
      out.set(q.shape.name, joinParameter(q.shape.name, parts, this.config));
    }
    return out;
  }

  /**
   * Milliseconds per node (layer or exchange) forward and backward, each submitted and
   * awaited on its own: where a step's time goes. Uses whatever input/labels are set.
   */
  async timeLayers(step = 0): Promise<{ name: string; forward: number; backward: number }[]> {
    const wait = () => Promise.all(this.columns.map((c) => sync(c)));
    const timed = async (f: (rec: Recorder) => Promise<void> | void) => {
      const rec = new Recorder(this.columns, "timeLayers");
      const t = performance.now();
      await f(rec);
      rec.flush();
      await wait();
      return performance.now() - t;
    };
    const out = this.#nodes.map((n) => ({ name: n.name, forward: 0, backward: 0 }));
    for (const [i, n] of this.#nodes.entries()) {
      out[i].forward = await timed((rec) => n.forward(rec, { train: true, step }));
    }
    out.push({ name: "loss", forward: await timed((rec) => this.loss(rec)), backward: 0 });
    for (let i = this.#nodes.length - 1; i >= 0; i--) {
      out[i].backward = await timed((rec) => this.#nodes[i].backward(rec, step));
    }
    return out;
  }

  /**
   * The parameters (or momentum buffers) holding NaN or infinite values, with how many,
   * counted on the GPU (a few bytes read back): empty when all are finite.
   */
  async nonFiniteParameters(
    kind: ParameterKind = "weight",
  ): Promise<{ name: string; count: number }[]> {
    const found = new Map<string, number>();
    await Promise.all(this.columns.map(async (_, c) => {
      const mine = this.#onColumn(c);
      const counts = await this.#finite[c].count(mine.map((m) => this.#kind(m.tensors, kind)));
      counts.forEach((n, i) => {
        if (n > 0) found.set(mine[i].name, (found.get(mine[i].name) ?? 0) + n);
      });
    }));
    return this.parameterNames().filter((n) => found.has(n)).map((name) => ({
      name,
      count: found.get(name)!,
    }));
  }

  /** Zeroes every momentum buffer. */
  clearMomentum(): void {
    this.#trainable("clearMomentum");
    for (const [i, c] of this.columns.entries()) {
      const enc = new Encoder(c, "clear momentum");
      for (const p of this.#sgdParams[i]) enc.clear(p.v);
      enc.submit();
    }
  }

  /** Releases every tensor back to its column's pool. */
  dispose(): void {
    for (const t of this.plan.tensors) t.dispose();
  }
}
