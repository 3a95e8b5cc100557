// One training step: upload the batch, augment on the GPU (crop, mirror, mean
// subtraction, PCA lighting), forward, loss, backward, SGD. Everything is recorded into
// the planned tensors; the only host round trips are the exchanges between columns (none
// with one column) and one small readback of the loss and the top-1/top-5 hits for the
// progress display. After the first step nothing is allocated: tensors come from the
// plan, bind groups and uniform slots are cached, and the readback buffer is reused.
//
// The readback is mapped right after the loss, not after the update: Deno resolves a
// map by waiting for the column's queue and then sleeping a fixed ~10 ms poll interval
// (measured: 11.5 ms even when the work is long done). Mapped before the backward, that
// sleep overlaps the backward's GPU work, and the step returns once the backward and
// update are submitted instead of idling the GPU for one more poll interval at its end.
// The next step's work queues behind them, so results are unchanged.

import { Augment, centreCropParams } from "../kernels/augment.ts";
import { augmentParams, type Batch } from "../data/batch.ts";
import type { Column } from "../kernels/columns.ts";
import { sync } from "../kernels/encoder.ts";
import { type AlexNet, Recorder } from "./alexnet.ts";

/** SGD hyper-parameters of one step (paper: momentum 0.9, weight decay 0.0005). */
export interface StepHyper {
  /** Learning rate. */
  lr: number;
  /** Momentum (default 0.9). */
  momentum?: number;
  /** Weight decay (default 0.0005). */
  weightDecay?: number;
}

/**
 * A batch as the data loader yields it: images, labels and (for training) the
 * per-image crop/flip/lighting draws; without draws the centre crop is used.
 */
export type StepBatch = Pick<Batch, "images" | "labels" | "size" | "augment">;

/** What one step reports (one readback per step). */
export interface StepResult {
  /** Mean cross-entropy loss over the batch. */
  loss: number;
  /** Images whose top-1 prediction was right (before the update). */
  top1: number;
  /** Images whose label was among the top 5 (before the update). */
  top5: number;
  /** Images in the batch. */
  count: number;
}

/** Options of {@link TrainStep.create}. */
export interface TrainStepOptions {
  /** Mean image [3, S, S] of the training set (0..255 scale). */
  mean: Float32Array;
  /** PCA of the training pixels for the lighting noise (eigvecs 3x3 row-major, column i = p_i). */
  pca?: { eigvecs: Float32Array; eigvals: Float32Array };
  /**
   * Multiplies the mean-subtracted pixels (default 1: the paper's 0..255 scale); one
   * number per channel for a per-channel normalisation (torchvision: 1 / (255 std_c)).
   */
  inputScale?: number | readonly number[];
}

/**
 * One SGD step of an {@link AlexNet}: records augment -> forward -> loss -> backward ->
 * update, then reads back the loss and hits.
 *
 * @example
 * ```ts ignore
 * const step = await TrainStep.create(net, { mean: ds.mean, pca: ds.pca });
 * for await (const b of loader) {
 *   const r = await step.run(b, { step: i++, hyper: { lr: 0.01 } });
 *   console.log(r.loss);
 * }
 * ```
 */
export class TrainStep {
  /** The network stepped. */
  readonly net: AlexNet;
  #augment: Augment[];
  #opts: TrainStepOptions;
  #centre: Float32Array;
  #labels: Uint32Array;
  #readback: GPUBuffer;
  #ran = false;

  private constructor(net: AlexNet, augment: Augment[], opts: TrainStepOptions) {
    this.net = net;
    this.#augment = augment;
    this.#opts = opts;
    this.#centre = centreCropParams(
      Array.from({ length: net.batch }, (_, i) => i),
      net.config.storedSize,
      net.config.inputSize,
    );
    this.#labels = new Uint32Array(net.batch);
    const c0: Column = net.columns[0];
    this.#readback = c0.device.createBuffer({
      label: "step readback (loss, hits)",
      size: Math.ceil((net.batch * 4 + 8) / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Compiles the augment pipelines and uploads the mean image. */
  static async create(net: AlexNet, opts: TrainStepOptions): Promise<TrainStep> {
    const S = net.config.storedSize;
    if (opts.mean.length !== 3 * S * S) {
      throw new RangeError(
        `TrainStep: mean must have 3 x ${S} x ${S} = ${
          3 * S * S
        } elements, got ${opts.mean.length}`,
      );
    }
    const augment = await Promise.all(net.columns.map((c) =>
      Augment.create(c, {
        count: net.batch,
        srcSize: S,
        cropSize: net.config.inputSize,
        scale: opts.inputScale ?? 1,
      })
    ));
    for (let c = 0; c < net.columns.length; c++) net.io(c).mean.write(opts.mean);
    return new TrainStep(net, augment, opts);
  }

  /**
   * Writes `images` (padded by the caller to the batch), `rows` (the augment params) and
   * `labels` to every column and records the augmentation into each column's `input`.
   */
  write(rec: Recorder, images: Uint8Array, rows: Float32Array, labels?: Uint32Array): void {
    const { net } = this;
    for (let c = 0; c < net.columns.length; c++) {
      net.io(c).images.write(images);
      net.io(c).crops.write(rows);
      if (labels) net.io(c).labels.write(labels);
      this.#augment[c].run(rec.at(c), {
        images: net.io(c).images,
        mean: net.io(c).mean,
        params: net.io(c).crops,
        out: net.io(c).input,
      });
    }
  }

  /** Writes the images, labels and crop rows of `batch` to every column and records the augmentation. */
  upload(rec: Recorder, batch: StepBatch): void {
    const { net } = this;
    const n = net.batch, S = net.config.storedSize;
    if (batch.labels.length !== n || batch.images.length !== n * S * S * 3) {
      throw new RangeError(
        `TrainStep: a batch must hold ${n} images of ${S}x${S}x3 and ${n} labels, got ` +
          `${batch.images.length} bytes and ${batch.labels.length} labels`,
      );
    }
    for (let i = 0; i < n; i++) {
      const l = batch.labels[i];
      if (!(l >= 0 && l < net.config.classes)) {
        throw new RangeError(
          `TrainStep: label ${l} of image ${i} is not in 0..${net.config.classes - 1}`,
        );
      }
      this.#labels[i] = l;
    }
    const rows = batch.augment ? augmentParams(batch as Batch, this.#opts.pca) : this.#centre;
    this.write(rec, batch.images, rows, this.#labels);
  }

  /**
   * Runs one full step on `batch`; `step` is the global step (it selects the dropout
   * masks). With `update: false` the gradients are computed but the weights are kept.
   */
  async run(
    batch: StepBatch,
    opts: { step: number; hyper: StepHyper; update?: boolean },
  ): Promise<StepResult> {
    const rec = new Recorder(this.net.columns, `step ${opts.step}`);
    this.upload(rec, batch);
    return await this.#train(rec, opts);
  }

  /**
   * Runs one step on an already prepared input `[batch, 3, C, C]` (no augmentation):
   * for parity tests against a reference implementation.
   */
  async runInput(
    input: Float32Array,
    labels: Int32Array,
    opts: { step: number; hyper: StepHyper; update?: boolean },
  ): Promise<StepResult> {
    const { net } = this;
    for (let c = 0; c < net.columns.length; c++) {
      net.io(c).input.write(input);
      net.io(c).labels.write(Uint32Array.from(labels));
    }
    return await this.#train(new Recorder(net.columns, `step ${opts.step}`), opts);
  }

  async #train(
    rec: Recorder,
    opts: { step: number; hyper: StepHyper; update?: boolean },
  ): Promise<StepResult> {
    const { net } = this;
    await net.forward(rec, { train: true, step: opts.step });
    net.loss(rec);
    const n = net.batch;
    const enc = rec.at(0).raw();
    enc.copyBufferToBuffer(net.io(0).loss.buffer, 0, this.#readback, 0, n * 4);
    enc.copyBufferToBuffer(net.io(0).hits.buffer, 0, this.#readback, n * 4, 8);
    rec.flush();
    const c0 = net.columns[0];
    // Started now so its poll interval overlaps the backward (see the header).
    const mapped = c0.guard(this.#readback.mapAsync(GPUMapMode.READ, 0, n * 4 + 8));
    mapped.catch(() => {}); // a failure is rethrown by the await below, not reported twice
    try {
      await net.backward(rec, opts.step);
      if (opts.update !== false) {
        net.sgd(rec, {
          lr: opts.hyper.lr,
          momentum: opts.hyper.momentum ?? 0.9,
          weightDecay: opts.hyper.weightDecay ?? 0.0005,
        });
      }
      rec.flush();
    } catch (e) {
      // Leave the readback unmapped for the next step whatever the backward threw.
      await mapped.then(() => this.#readback.unmap(), () => {});
      throw e;
    }
    await mapped;
    const bytes = this.#readback.getMappedRange(0, n * 4 + 8);
    const losses = new Float32Array(bytes, 0, n);
    const hits = new Uint32Array(bytes, n * 4, 2);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += losses[i];
    const result = { loss: sum / n, top1: hits[0], top5: hits[1], count: n };
    this.#readback.unmap();
    // A step returns once its backward is submitted, and a software adapter compiles a
    // pipeline at its first dispatch: the first step waits for all of its work, so the
    // whole compilation lands in it rather than in the step after.
    if (!this.#ran) {
      await Promise.all(net.columns.map((c) => sync(c)));
      this.#ran = true;
    }
    for (const c of net.columns) c.check();
    return result;
  }

  /** Destroys the readback buffer (the network's tensors belong to the network). */
  dispose(): void {
    this.#readback.destroy();
  }
}
