// Training one step at a time over an in-memory dataset, with nothing but WebGPU: what
// a web page drives (one `next()` per animation frame or button press). It starts the
// network exactly as `train()` does — the same initial weights (initialParameters),
// the same augmentation and lighting (trainStepOptions), the same batches (the Deno
// Loader's order and draws, data/memory.ts), the same dropout seed and step schedule —
// so its losses are `train()`'s for the same seed, up to the adapter's rounding.
// No evaluation, checkpoint files or events: the page shows the step results, and
// `checkpoint()` gives the bytes of a checkpoint `deno task predict` loads.

import type { Column } from "../kernels/columns.ts";
import type { MemoryDataset } from "../data/memory.ts";
import { MemoryBatches } from "../data/memory.ts";
import { DataError } from "../errors.ts";
import { AlexNet } from "./alexnet.ts";
import { type CheckpointFiles, encodeCheckpoint } from "./checkpoint_format.ts";
import { type AlexNetConfig, parameterShapes, validateConfig } from "./config.ts";
import { initParameters, type InitScheme } from "./init.ts";
import { LrSchedule, type Schedule } from "./schedule.ts";
import { type StepResult, TrainStep, type TrainStepOptions } from "./step.ts";
import { countStep, initialTrainState, type TrainState } from "./train_state.ts";

/**
 * Throws a DataError unless `dataset` suits `config` at `batch`: the same class count,
 * the config's stored image side (`hint` is appended to that message) and at least one
 * batch of training images. train() and TrainSession check the same things.
 *
 * @example
 * ```ts
 * import { configFor } from "./config.ts";
 * import { checkDatasetFits } from "./session.ts";
 * const ds = { name: "mine", classes: ["a", "b"], imageSize: 36, train: { count: 64 } };
 * checkDatasetFits(configFor("tiny", 2), ds, 32); // fits: returns
 * ```
 */
export function checkDatasetFits(
  config: AlexNetConfig,
  dataset: {
    name: string;
    classes: readonly string[];
    imageSize: number;
    train: { count: number };
  },
  batch: number,
  hint = "",
): void {
  const { name, classes, imageSize, train } = dataset;
  if (classes.length !== config.classes) {
    throw new DataError(
      `config ${config.name} has ${config.classes} classes, the dataset ${name} has ${classes.length}`,
    );
  }
  if (imageSize !== config.storedSize) {
    throw new DataError(
      `config ${config.name} expects ${config.storedSize}px stored images, the dataset ${name} ` +
        `has ${imageSize}px${hint}`,
    );
  }
  if (train.count < batch) {
    throw new DataError(
      `the dataset ${name} has ${train.count} training images, fewer than one batch of ${batch}`,
    );
  }
}

/**
 * The initial weights of a run: `initParameters` with fc8 scaled by `outputGain`
 * (the small configs' recipe, see recipe.ts).
 *
 * @example
 * ```ts
 * import { configFor } from "./config.ts";
 * import { initialParameters } from "./session.ts";
 * const w = initialParameters(configFor("tiny", 10), { seed: 1, init: "kaiming", outputGain: 0.05 });
 * w.get("fc8.weight")!.length; // 10 * 128
 * ```
 */
export function initialParameters(
  config: AlexNetConfig,
  o: { seed: number; init: InitScheme; initStd?: number; outputGain?: number },
): Map<string, Float32Array> {
  const init = initParameters(config, o.seed, { scheme: o.init, std: o.initStd });
  const gain = o.outputGain ?? 1;
  // The logits layer's weight (fc8 in the paper's table), whatever the table calls it.
  const logits = parameterShapes(config).filter((p) => p.kind === "weight").at(-1)!.name;
  if (gain !== 1) init.get(logits)!.forEach((v, i, a) => a[i] = v * gain);
  return init;
}

/**
 * The training step's input options for a dataset: its mean image, and (with
 * `lighting`) the paper's PCA noise scaled by the standard deviation along each
 * eigenvector — on the 0..255 scale that is sqrt(eigval), as fb.resnet.torch's
 * constants are; the raw variance would shift pixels by hundreds.
 *
 * @example
 * ```ts
 * import { trainStepOptions } from "./session.ts";
 * const pca = { eigvecs: new Float32Array(9), eigvals: Float32Array.of(400, 100, 25) };
 * trainStepOptions({ mean: new Float32Array(3), pca }, { lighting: true, inputScale: 1 })
 *   .pca!.eigvals; // [20, 10, 5]
 * ```
 */
export function trainStepOptions(
  ds: { mean: Float32Array; pca: { eigvecs: Float32Array; eigvals: Float32Array } },
  o: { lighting: boolean; inputScale: number },
): TrainStepOptions {
  return {
    mean: ds.mean,
    pca: o.lighting
      ? { eigvecs: ds.pca.eigvecs, eigvals: ds.pca.eigvals.map(Math.sqrt) }
      : undefined,
    inputScale: o.inputScale,
  };
}

/** Options of {@link TrainSession.create}. */
export interface SessionOptions {
  /** The data, in memory (data/memory.ts `fetchDataset`). */
  dataset: MemoryDataset;
  /** The network; its `classes` and `storedSize` must match the dataset. */
  config: AlexNetConfig;
  /** Columns opened by the caller (kept open by `dispose()`). */
  columns: readonly Column[];
  /** Images per step. */
  batch: number;
  /** Seed of initialisation, order, augmentation and dropout (default 1). */
  seed?: number;
  /** Weight init (default "paper"). */
  init?: InitScheme;
  /** fc8's init gain (default 1). */
  outputGain?: number;
  /** Multiplies mean-subtracted pixels (default 1). */
  inputScale?: number;
  /** Dropout probability overriding the config's. */
  dropout?: number;
  /** Initial learning rate (default 0.01). */
  lr?: number;
  /** Momentum (default 0.9). */
  momentum?: number;
  /** Weight decay (default 0.0005). */
  weightDecay?: number;
  /** "step" (÷10 every `stepEpochs`) or "constant" (default). */
  schedule?: Extract<Schedule, "step" | "constant">;
  /** Epochs between ÷10 of the step schedule (default 30). */
  stepEpochs?: number;
  /** Random crops, flips and lighting (default true). */
  augment?: boolean;
  /** PCA lighting noise (default true; off for greyscale data). */
  lighting?: boolean;
}

/** What {@link TrainSession.next} reports. */
export interface SessionStep extends StepResult {
  /** Epoch of the step (0-based). */
  epoch: number;
  /** Completed steps overall, this one included. */
  step: number;
  /** The learning rate used. */
  lr: number;
}

/**
 * A training run over an in-memory dataset, advanced one step at a time.
 *
 * @example
 * ```ts ignore
 * const ds = await fetchDataset("/data/synthetic-36/");
 * const { columns } = await openColumns({ count: 2 });
 * const run = await TrainSession.create({
 *   dataset: ds, config: configFor("tiny", 10), columns, batch: 32, ...recipeFor("tiny"),
 * });
 * const r = await run.next(); // r.loss, r.top1, ...
 * ```
 */
export class TrainSession {
  /** The network trained. */
  readonly net: AlexNet;
  /** Its training step. */
  readonly trainStep: TrainStep;
  /** The training batches. */
  readonly batches: MemoryBatches;
  /** Progress: epoch, step, learning rate and the epoch's running sums. */
  readonly state: TrainState;
  #schedule: LrSchedule;
  #hyper: { momentum: number; weightDecay: number };
  #info: { dataset: MemoryDataset; inputScale: number };

  private constructor(
    net: AlexNet,
    step: TrainStep,
    batches: MemoryBatches,
    state: TrainState,
    schedule: LrSchedule,
    hyper: { momentum: number; weightDecay: number },
    info: { dataset: MemoryDataset; inputScale: number },
  ) {
    this.net = net;
    this.trainStep = step;
    this.batches = batches;
    this.state = state;
    this.#schedule = schedule;
    this.#hyper = hyper;
    this.#info = info;
  }

  /** Builds the network on `columns` and writes its initial weights. */
  static async create(o: SessionOptions): Promise<TrainSession> {
    const cfg = validateConfig(o.config);
    const ds = o.dataset;
    checkDatasetFits(cfg, ds, o.batch);
    const seed = o.seed ?? 1, inputScale = o.inputScale ?? 1, lr = o.lr ?? 0.01;
    const batches = new MemoryBatches(ds, "train", {
      batch: o.batch,
      seed,
      shuffle: true,
      dropLast: true,
      augment: o.augment === false ? undefined : { cropSize: cfg.inputSize },
    });
    const net = await AlexNet.create({
      config: cfg,
      batch: o.batch,
      columns: o.columns,
      dropout: o.dropout,
      seed,
    });
    try {
      const step = await TrainStep.create(
        net,
        trainStepOptions(ds, { lighting: o.lighting !== false && ds.pca.colour, inputScale }),
      );
      net.writeParameters(
        initialParameters(cfg, { seed, init: o.init ?? "paper", outputGain: o.outputGain }),
        "weight",
      );
      net.clearMomentum();
      const state = initialTrainState({ lr, seed, batch: o.batch, dataset: ds.fingerprint });
      const schedule = new LrSchedule({
        kind: o.schedule ?? "constant",
        lr0: lr,
        stepEpochs: o.stepEpochs,
      });
      return new TrainSession(net, step, batches, state, schedule, {
        momentum: o.momentum ?? 0.9,
        weightDecay: o.weightDecay ?? 0.0005,
      }, { dataset: ds, inputScale });
    } catch (e) {
      net.dispose();
      throw e;
    }
  }

  /** Runs the next step (the next epoch's first after an epoch's last). */
  async next(): Promise<SessionStep> {
    const s = this.state;
    if (s.stepInEpoch === this.batches.batchCount) {
      s.epoch++;
      s.stepInEpoch = 0;
      s.sums = { loss: 0, top1: 0, top5: 0, images: 0 };
    }
    if (s.stepInEpoch === 0) this.#schedule.epochStart(s, s.epoch);
    const batch = this.batches.at(s.epoch, s.stepInEpoch);
    const r = await this.trainStep.run(batch, {
      step: s.step,
      hyper: { lr: s.lr, ...this.#hyper },
    });
    if (!Number.isFinite(r.loss)) {
      throw new DataError(`training diverged: loss is ${r.loss} at step ${s.step + 1}`);
    }
    countStep(s, r);
    return { ...r, epoch: s.epoch, step: s.step, lr: s.lr };
  }

  /**
   * The run as checkpoint files (model.safetensors, optimizer.safetensors, state.json),
   * with what `deno task predict` needs: class names and the input's mean and scale.
   */
  async checkpoint(): Promise<CheckpointFiles> {
    const ds = this.#info.dataset, s = this.state;
    return encodeCheckpoint({
      weights: await this.net.readParameters("weight"),
      momentum: await this.net.readParameters("momentum"),
      state: {
        config: this.net.config,
        epoch: s.epoch,
        step: s.step,
        lr: s.lr,
        dataFingerprint: ds.fingerprint,
        classes: ds.classes,
        input: { mean: Array.from(ds.mean), inputScale: this.#info.inputScale },
        train: structuredClone(s),
      },
    }, "browser run");
  }

  /** Releases the step and the network (the columns stay open). */
  dispose(): void {
    this.trainStep.dispose();
    this.net.dispose();
  }
}
