// The two-column AlexNet: the paper's layer table bound to kernels and planned tensors.
//
// `networkStages` (model/plan.ts) lists the per-half layers and the exchange points in
// forward order; here each entry becomes an object with `forward` and `backward`, and
// the network runs that straight list forward and the same list reversed backward.
// Exchanges are the only entries that touch both halves:
//
//   forward   each column gets cat(half 0's output, half 1's output) along axis 1
//   backward  each half's input gradient is the SUM of both consumers' partial input
//             gradients' slices (for the logits: the replicated loss's gradient, sliced)
//
// With two columns an exchange submits the recorded work, moves what the other column
// needs through the host in ONE `exchange()` call, and continues; with one column the
// same concatenation and sums are on-device `Slice` dispatches and the whole step is a
// single submit. The tensors are allocated once, from the plan, at creation.

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
import { type AlexNetConfig, joinParameter, parameterShapes, splitParameter } from "./config.ts";
import {
  checkMemoryPlan,
  columnOf,
  convParams,
  type ExchangeStage,
  type Half,
  HALVES,
  type LayerStage,
  networkStages,
  type PlanOptions,
  planTensors,
  type Stage,
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

const SUFFIX: Record<ParameterKind, string> = { weight: "", grad: ".grad", momentum: ".v" };

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The two-column network with every tensor allocated and every pipeline compiled.
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
  /** The paper's table: per-half layers and exchanges in forward order. */
  readonly stages: readonly Stage[];
  /** Every planned tensor, by key (`h<half>:<name>` or `c<column>:<name>`). */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** The planned specs the tensors were allocated from. */
  readonly specs: readonly TensorSpec[];
  /** Created for inference only (see AlexNetOptions.inference). */
  readonly inference: boolean;
  #nodes: Node[] = [];
  #workspaces = new Map<number, ConvWorkspace>();
  #options: PlanOptions;
  #xent: SoftmaxCrossEntropy[] = [];
  #sgd: Sgd[] = [];
  #finite: NonFinite[] = [];

  private constructor(opts: AlexNetOptions, specs: TensorSpec[], tensors: Map<string, Tensor>) {
    this.#options = { winogradMinPairs: opts.winogradMinPairs, inference: opts.inference };
    this.inference = opts.inference ?? false;
    this.config = opts.config;
    this.batch = opts.batch;
    this.columns = opts.columns;
    this.stages = networkStages(opts.config, opts.batch);
    this.specs = specs;
    this.tensors = tensors;
  }

  /** Column `c`'s Winograd scratch, over its planned tensors when the plan has them. */
  #workspace(c: number): ConvWorkspace {
    let ws = this.#workspaces.get(c);
    if (!ws) {
      const key = (k: string) => `c${c}:workspace.${k}`;
      const planned = this.tensors.has(key("U"))
        ? { U: this.get(key("U")), M: this.get(key("M")), V: this.get(key("V")) }
        : undefined;
      this.#workspaces.set(c, ws = new ConvWorkspace(this.columns[c], planned));
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
    const specs = planTensors(opts.config, opts.batch, count, opts);
    const tensors = new Map<string, Tensor>();
    for (const s of specs) {
      tensors.set(s.key, Tensor.zeros(opts.columns[s.column], s.shape, s.key, s.dtype));
    }
    const net = new AlexNet(opts, specs, tensors);
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

  /** The tensor with key `key`; throws naming the key when it is not planned. */
  get(key: string): Tensor {
    const t = this.tensors.get(key);
    if (!t) throw new Error(`AlexNet: no planned tensor ${key}`);
    return t;
  }

  /** A per-half tensor, e.g. `half(1, "conv3.y")`. */
  half(h: Half, name: string): Tensor {
    return this.get(`h${h}:${name}`);
  }

  /** A per-column tensor, e.g. `col(0, "logits")`. */
  col(c: number, name: string): Tensor {
    return this.get(`c${c}:${name}`);
  }

  #trainable(what: string): void {
    if (this.inference) {
      throw new Error(`AlexNet.${what}: this network was created for inference only`);
    }
  }

  /** Column index of half `h`. */
  columnOf(h: Half): number {
    return columnOf(h, this.columnCount);
  }

  async #build(opts: AlexNetOptions): Promise<void> {
    const seed = opts.seed ?? 0;
    const p = opts.dropout ?? this.config.dropout;
    for (const [i, s] of this.stages.entries()) {
      if (s.type === "exchange") this.#nodes.push(await this.#exchange(s));
      else {
        const halves = await Promise.all(
          HALVES.map((h) => this.#layer(s, h, p, mix(seed, i * 2 + h))),
        );
        this.#nodes.push({
          name: s.name,
          forward: (rec, mode) => halves.forEach((l) => l.forward(rec, mode)),
          backward: (rec, step) => halves.forEach((l) => l.backward(rec, step)),
        });
      }
    }
    for (const [i, c] of this.columns.entries()) {
      this.#xent.push(
        await SoftmaxCrossEntropy.create(c, { batch: this.batch, classes: this.config.classes }),
      );
      if (!this.inference) {
        const sizes = this.#params(i).map((q) => q.w.size);
        this.#sgd.push(await Sgd.create(c, { sizes }));
      }
      this.#finite.push(await NonFinite.create(c));
    }
  }

  /** One half of a layer: its kernel bound to its tensors. */
  async #layer(s: LayerStage, h: Half, p: number, seed: number): Promise<Node> {
    const c = this.columnOf(h);
    const column = this.columns[c];
    const x = s.input.from === "image"
      ? this.col(c, "input")
      : s.input.from === "exchange"
      ? this.col(c, s.input.name)
      : this.half(h, `${s.input.name}.y`);
    // Gradients exist only in a training plan; an inference network's backward throws
    // before it would read them.
    const grad = (key: string): Tensor =>
      this.inference ? undefined as unknown as Tensor : this.half(h, key);
    const dX = s.input.from === "image"
      ? undefined
      : s.input.from === "exchange"
      ? grad(`${s.name}.dx`)
      : grad(`${s.input.name}.dy`);
    const y = this.half(h, `${s.name}.y`), dY = grad(`${s.name}.dy`);
    const [n, ci, hi, wi] = s.inShape;
    const out = s.outShape[h];
    switch (s.type) {
      case "conv": {
        const w = this.half(h, `${s.param}.weight`), b = this.half(h, `${s.param}.bias`);
        const dW = grad(`${s.param}.weight.grad`);
        const db = grad(`${s.param}.bias.grad`);
        const conv = await Conv2d.create(column, {
          ...convParams(s, h, this.#options),
          workspace: this.#workspace(c),
        });
        return {
          name: s.name,
          forward: (rec) => conv.forward(rec.at(c), { x, w, b, y }),
          backward: (rec) => conv.backward(rec.at(c), { x, w, y, dY, dX, dW, db }),
        };
      }
      case "lrn": {
        const { size, alpha, beta, k } = this.config.lrn;
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
      case "pool": {
        const pool = await MaxPool.create(column, {
          batch: n,
          channels: ci,
          height: hi,
          width: wi,
          size: this.config.pool.size,
          stride: this.config.pool.stride,
        });
        const argmax = this.half(h, `${s.name}.argmax`);
        return {
          name: s.name,
          forward: (rec) => pool.forward(rec.at(c), { x, y, argmax }),
          backward: (rec) => pool.backward(rec.at(c), { argmax, dY, dX: dX! }),
        };
      }
      case "linear": {
        const w = this.half(h, `${s.param}.weight`), b = this.half(h, `${s.param}.bias`);
        const dW = grad(`${s.param}.weight.grad`);
        const db = grad(`${s.param}.bias.grad`);
        const fc = await Linear.create(column, {
          batch: n,
          inFeatures: ci,
          outFeatures: out[1],
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
        const drop = p > 0 ? await Dropout.create(column, { size: y.size, p }) : null;
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
  async #exchange(s: ExchangeStage): Promise<Node> {
    const count = this.columnCount;
    const n = this.batch;
    const total = s.parts[0] + s.parts[1];
    const offsets = [0, s.parts[0]];
    // slices[c][k]: where part k sits within a row of the concatenation, on column c.
    const slices = await Promise.all(
      this.columns.map((col) =>
        Promise.all(
          HALVES.map((k) =>
            Slice.create(col, { outer: n, part: s.parts[k], total, offset: offsets[k] })
          ),
        )
      ),
    );
    const adds = count === 2 && s.backward === "sum"
      ? await Promise.all(
        this.columns.map((col, c) => Elementwise.create(col, { size: n * s.parts[c] })),
      )
      : [];
    const out = (h: Half) => this.half(h, `${s.from}.y`);
    const dOut = (h: Half) => this.half(h, `${s.from}.dy`);
    const cat = (c: number) => this.col(c, s.name);
    return {
      name: s.name,
      forward: async (rec) => {
        if (count === 1) {
          for (const h of HALVES) slices[0][h].place(rec.at(0), { x: out(h), y: cat(0) });
          return;
        }
        for (const h of HALVES) slices[h][h].place(rec.at(h), { x: out(h), y: cat(h) });
        rec.flush();
        await exchange(
          HALVES.map((h) => ({ src: out(h), dst: this.col(1 - h, `${s.name}.remote`) })),
        );
        for (const c of HALVES) {
          slices[c][1 - c].place(rec.at(c), { x: this.col(c, `${s.name}.remote`), y: cat(c) });
        }
      },
      backward: async (rec) => {
        if (s.backward === "slice") {
          // The loss ran on every column: each half slices its classes' gradient.
          for (const h of HALVES) {
            const c = this.columnOf(h);
            slices[c][h].take(rec.at(c), { y: this.col(c, "dlogits"), x: dOut(h) });
          }
          return;
        }
        const partial = (h: Half) => this.half(h, `${s.to}.dx`);
        if (count === 1) {
          for (const g of HALVES) {
            slices[0][g].take(rec.at(0), { y: partial(0), x: dOut(g) });
            slices[0][g].take(rec.at(0), { y: partial(1), x: dOut(g), accumulate: true });
          }
          return;
        }
        for (const g of HALVES) {
          slices[g][g].take(rec.at(g), { y: partial(g), x: dOut(g) });
          slices[g][1 - g].take(rec.at(g), { y: partial(g), x: this.col(g, `${s.name}.send`) });
        }
        rec.flush();
        await exchange(
          HALVES.map((g) => ({
            src: this.col(g, `${s.name}.send`),
            dst: this.col(1 - g, `${s.name}.recv`),
          })),
        );
        for (const g of HALVES) {
          adds[g].add(rec.at(g), { src: this.col(g, `${s.name}.recv`), dst: dOut(g) });
        }
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
      xent.run(rec.at(c), {
        logits: this.col(c, "logits"),
        labels: this.col(c, "labels"),
        loss: this.col(c, "loss"),
        dLogits: this.col(c, "dlogits"),
        hits: this.col(c, "hits"),
      });
    }
  }

  /** Records softmax(logits) into column 0's `probs`. */
  softmax(rec: Recorder): void {
    this.#xent[0].softmax(rec.at(0), {
      logits: this.col(0, "logits"),
      probs: this.col(0, "probs"),
    });
  }

  /** Records the backward pass from `dlogits` to every parameter gradient. */
  async backward(rec: Recorder, step: number): Promise<void> {
    this.#trainable("backward");
    for (let i = this.#nodes.length - 1; i >= 0; i--) await this.#nodes[i].backward(rec, step);
  }

  /** Records one SGD update of every parameter on every column. */
  sgd(rec: Recorder, hyper: { lr: number; momentum: number; weightDecay: number }): void {
    this.#trainable("sgd");
    for (const [c, sgd] of this.#sgd.entries()) {
      sgd.step(rec.at(c), { params: this.#params(c), ...hyper });
    }
  }

  #params(c: number): { w: Tensor; dW: Tensor; v: Tensor }[] {
    const list: { w: Tensor; dW: Tensor; v: Tensor }[] = [];
    for (const h of HALVES) {
      if (this.columnOf(h) !== c) continue;
      for (const name of this.parameterNames()) {
        list.push({
          w: this.half(h, name),
          dW: this.half(h, `${name}.grad`),
          v: this.half(h, `${name}.v`),
        });
      }
    }
    return list;
  }

  /** PyTorch parameter names in order ("conv1.weight", "conv1.bias", ...). */
  parameterNames(): string[] {
    return parameterShapes(this.config).map((p) => p.name);
  }

  /** Writes whole (PyTorch-shaped) tensors into both halves' weights or momentum. */
  writeParameters(values: ReadonlyMap<string, Float32Array>, kind: ParameterKind = "weight"): void {
    for (const name of this.parameterNames()) {
      const whole = values.get(name);
      if (!whole) throw new Error(`AlexNet.writeParameters: missing ${name}`);
      const halves = splitParameter(name, whole, this.config);
      for (const h of HALVES) this.half(h, `${name}${SUFFIX[kind]}`).write(halves[h]);
    }
  }

  /** Reads both halves of every parameter (or gradient, or momentum) as whole PyTorch tensors. */
  async readParameters(kind: ParameterKind = "weight"): Promise<Map<string, Float32Array>> {
    // One mapping per column for all of them (a checkpoint reads every parameter).
    const names = this.parameterNames();
    const read = new Map<string, Float32Array>(); // key: "<half>:<name>"
    await Promise.all(this.columns.map(async (column, c) => {
      const keys = HALVES.filter((h) => this.columnOf(h) === c)
        .flatMap((h) => names.map((n) => [h, n] as const));
      const values = await readTensors(
        column,
        keys.map(([h, n]) => this.half(h, `${n}${SUFFIX[kind]}`) as Tensor<"f32">),
      );
      keys.forEach(([h, n], i) => read.set(`${h}:${n}`, values[i]));
    }));
    const out = new Map<string, Float32Array>();
    for (const name of names) {
      const halves: [Float32Array, Float32Array] = [read.get(`0:${name}`)!, read.get(`1:${name}`)!];
      out.set(name, joinParameter(name, halves, this.config));
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
      const names: string[] = [], tensors: Tensor[] = [];
      for (const h of HALVES) {
        if (this.columnOf(h) !== c) continue;
        for (const name of this.parameterNames()) {
          names.push(name);
          tensors.push(this.half(h, `${name}${SUFFIX[kind]}`));
        }
      }
      const counts = await this.#finite[c].count(tensors);
      counts.forEach((n, i) => {
        if (n > 0) found.set(names[i], (found.get(names[i]) ?? 0) + n);
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
      for (const p of this.#params(i)) enc.clear(p.v);
      enc.submit();
    }
  }

  /** Releases every tensor back to its column's pool. */
  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
  }
}
