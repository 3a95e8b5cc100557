// The training loop as a library function: `train(options)` runs the paper's recipe
// (SGD, momentum 0.9, weight decay 0.0005, learning rate divided by 10 on a schedule),
// evaluates, checkpoints, and reports everything through events; the CLI
// (model/cli_train.ts) is a thin layer that prints them.
//
// Exact resumption: every random draw is a pure function of counters — the epoch order
// of (seed, epoch), each image's crop/flip/lighting of (seed, epoch, index), dropout
// masks of (seed, layer, half, step) — so the checkpoint's state (epoch, step within the
// epoch, global step, schedule and running sums) is all a resumed run needs to repeat
// the uninterrupted run's loss sequence on the same adapter.
//
// Divergence: a non-finite loss (or non-finite weights when a checkpoint is about to be
// written) stops training with an error naming the step; checkpoints are only written
// from finite weights, so the last one on disk is the last good state.

import { type Column, openColumns } from "../kernels/columns.ts";
import type { Dataset } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import { RecentRate } from "../data/progress.ts";
import { AlexNetError, CheckpointError, DataError } from "../errors.ts";
import { AlexNet } from "./alexnet.ts";
import { loadCheckpoint, recoverCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { type AlexNetConfig, validateConfig } from "./config.ts";
import { evaluate, type Evaluation } from "./evaluate.ts";
import { initParameters, type InitScheme } from "./init.ts";
import { TrainStep } from "./step.ts";

/** How the learning rate falls. */
export type Schedule = "step" | "plateau" | "constant";

/** Options of {@link train}. */
export interface TrainOptions {
  /** The data (see data/dataset.ts `openDataset`). */
  dataset: Dataset;
  /** The network; its `classes` must equal the dataset's and `storedSize` its image size. */
  config: AlexNetConfig;
  /** 1 or 2 devices (default 2), or columns opened by the caller (kept open at the end). */
  columns?: 1 | 2 | readonly Column[];
  /** Epochs to train (default 90). */
  epochs?: number;
  /** Images per step (default 128). */
  batch?: number;
  /** Initial learning rate (default 0.01). */
  lr?: number;
  /** Momentum (default 0.9). */
  momentum?: number;
  /** Weight decay (default 0.0005). */
  weightDecay?: number;
  /** "step": ÷10 every `stepEpochs`; "plateau" (default): ÷10 when validation top-1 error stops improving; "constant". */
  schedule?: Schedule;
  /** Epochs between ÷10 of the step schedule (default 30). */
  stepEpochs?: number;
  /** Evaluations without improvement before the plateau schedule divides by 10 (default 2). */
  patience?: number;
  /** Seed of initialisation, data order, augmentation and dropout (default 1). */
  seed?: number;
  /** Weight init: "paper" (N(0, 0.01), default) or "kaiming" (for small configs). */
  init?: InitScheme;
  /** Overrides the weight init's standard deviation. */
  initStd?: number;
  /**
   * Multiplies fc8's initial weights (default 1). A small gain (e.g. 0.05) starts the
   * logits near zero, so the first updates of a kaiming-initialised small config do not
   * come from a saturated softmax (which kills conv5's units in a few steps).
   */
  outputGain?: number;
  /** Random crops, flips and lighting (default true); false: centre crops. */
  augment?: boolean;
  /** Dropout probability, overriding the config's. */
  dropout?: number;
  /** Multiplies mean-subtracted pixels (default 1, the paper's 0..255 scale). */
  inputScale?: number;
  /** Paper's PCA lighting noise (default true). */
  lighting?: boolean;
  /** Folder for checkpoints (`<out>/checkpoint`) and the metrics log; none: nothing written. */
  out?: string;
  /** Checkpoint folder to continue from. */
  resume?: string;
  /** Evaluate every this many epochs (default 1; 0: only at the end). */
  evalEvery?: number;
  /** Evaluate with the 10-crop average (default false: centre crop). */
  tenCrop?: boolean;
  /** Evaluate on at most this many validation images (default all). */
  evalLimit?: number;
  /** Also checkpoint every this many steps (default 0: at epoch ends only). */
  checkpointEvery?: number;
  /**
   * Stop after this many global steps (counting steps of a resumed run's checkpoint):
   * evaluate and checkpoint as at an epoch end, then return with `stopped` true.
   */
  maxSteps?: number;
  /** Bytes one column may hold (default: no limit but the devices'); see AlexNetOptions. */
  memoryBudget?: number;
  /** Loader reader workers (default 2). */
  workers?: number;
  /** Receives progress. May be async: training waits for it. */
  onEvent?: (event: TrainEvent) => void | Promise<void>;
  /** Stops training after the current step (checkpointed, not evaluated). */
  signal?: AbortSignal;
}

/** Progress reported by {@link train}. */
export type TrainEvent =
  | {
    type: "start";
    config: string;
    columns: number;
    devices: string[];
    batch: number;
    stepsPerEpoch: number;
    epochs: number;
    totalSteps: number;
    /** Bytes held per column after allocation. */
    memory: number[];
    /** Interrupted saves repaired before starting (see recoverCheckpoint). */
    recovered?: { restored?: string; removed: string[] };
    /** Whether the paper's PCA lighting noise is on (off when asked, or for greyscale data). */
    lighting: boolean;
    /** Everything that decides the run's numbers, as resolved (defaults filled in). */
    recipe: RunRecipe;
    resumedFrom?: { dir: string; epoch: number; step: number };
  }
  | {
    type: "step";
    epoch: number;
    /** Global step (1-based count of completed steps). */
    step: number;
    /** Step within the epoch (1-based). */
    stepInEpoch: number;
    stepsPerEpoch: number;
    loss: number;
    /** Training batch errors (before the update). */
    top1Error: number;
    top5Error: number;
    lr: number;
    /** Images per second over the recent steps (this step's rate at first). */
    imagesPerSecond: number;
    /**
     * Estimated milliseconds to the end of training at the recent steps' rate; absent
     * after the first step of a process, which compiles the shaders.
     */
    etaMs?: number;
    /** Milliseconds of this step (upload to readback). */
    stepMs: number;
  }
  | {
    type: "epoch";
    epoch: number;
    step: number;
    loss: number;
    top1Error: number;
    top5Error: number;
    lr: number;
    seconds: number;
  }
  | ({ type: "evaluation"; epoch: number; step: number; split: "val" } & Evaluation)
  | { type: "lr"; epoch: number; lr: number; reason: string }
  | { type: "checkpoint"; dir: string; epoch: number; step: number };

/** The resolved settings of a run, recorded in its start event (and metrics.jsonl). */
export interface RunRecipe {
  /** The network (with the dataset's class count). */
  config: AlexNetConfig;
  /** The dataset's name and fingerprint. */
  dataset: { name: string; fingerprint: string };
  /** Epochs asked for. */
  epochs: number;
  /** Images per step. */
  batch: number;
  /** Initial learning rate. */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** Weight decay. */
  weightDecay: number;
  /** Learning-rate schedule. */
  schedule: Schedule;
  /** Epochs per ÷10 of the step schedule. */
  stepEpochs: number;
  /** The run's seed. */
  seed: number;
  /** Weight init. */
  init: InitScheme;
  /** fc8's init gain. */
  outputGain: number;
  /** Multiplier of the mean-subtracted pixels. */
  inputScale: number;
  /** Dropout of fc6/fc7 in effect. */
  dropout: number;
  /** Random crops and flips. */
  augment: boolean;
  /** PCA lighting noise in effect. */
  lighting: boolean;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Completed epochs (an interrupted epoch does not count). */
  epochs: number;
  /** Completed steps. */
  steps: number;
  /** Loss of every step run by this call, in order. */
  losses: number[];
  /** The last evaluation, if any. */
  evaluation?: Evaluation;
  /** The learning rate at the end. */
  lr: number;
  /** Where the last checkpoint was written. */
  checkpoint?: string;
  /** Whether training stopped early (maxSteps or signal). */
  stopped: boolean;
}

/** Training state saved with a checkpoint (state.json's `train`). */
export interface TrainState {
  /** Current epoch (0-based). */
  epoch: number;
  /** Completed steps in that epoch. */
  stepInEpoch: number;
  /** Completed steps overall. */
  step: number;
  /** Current learning rate. */
  lr: number;
  /** Best validation top-1 error so far (plateau schedule). */
  best: number;
  /** Evaluations since the best. */
  bad: number;
  /** Running sums of the current epoch. */
  sums: { loss: number; top1: number; top5: number; images: number };
  /** The run's seed (must match on resume). */
  seed: number;
  /** The run's batch size (must match on resume). */
  batch: number;
  /** Fingerprint of the dataset trained on. */
  dataset: string;
}

/** Thrown when the loss or the weights become NaN or infinite. */
export class DivergenceError extends AlexNetError {
  /** The global step at which it happened. */
  readonly step: number;
  /** The last checkpoint written (still good), if any. */
  readonly checkpoint?: string;

  /** `message` says what happened and where the last good checkpoint is. */
  constructor(message: string, step: number, checkpoint?: string) {
    super(message);
    this.step = step;
    this.checkpoint = checkpoint;
  }
}

/** What a built-in config is trained with besides the paper's SGD (see {@link recipeFor}). */
export interface Recipe {
  /** Weight init. */
  init: InitScheme;
  /** fc8's init gain ({@link TrainOptions.outputGain}). */
  outputGain: number;
  /** Multiplies mean-subtracted pixels ({@link TrainOptions.inputScale}). */
  inputScale: number;
  /** Dropout of fc6/fc7 overriding the config's, if any. */
  dropout?: number;
  /** Initial learning rate. */
  lr: number;
}

/**
 * The recipe `deno task train` uses for a built-in config. `paper` is the paper's
 * (N(0, 0.01) init, lr 0.01, dropout 0.5, 0..255 pixels). The small configs deviate,
 * each for a measured reason (the README's "Recipe" section gives the runs):
 * kaiming init with fc8 scaled by 0.05 and pixels scaled by 1/64, because the paper's
 * N(0, 0.01) leaves a 5-layer network this narrow at chance for epochs; and `tiny`
 * trains without dropout at lr 0.02, because its 128-wide fc layers with dropout 0.5
 * learn several times slower, which a run of a few minutes cannot afford.
 *
 * @example
 * ```ts
 * import { recipeFor } from "./train.ts";
 * recipeFor("tiny").lr; // 0.02
 * ```
 */
export function recipeFor(config: "paper" | "small" | "tiny"): Recipe {
  if (config === "paper") return { init: "paper", outputGain: 1, inputScale: 1, lr: 0.01 };
  const small: Recipe = { init: "kaiming", outputGain: 0.05, inputScale: 1 / 64, lr: 0.01 };
  return config === "small" ? small : { ...small, dropout: 0, lr: 0.02 };
}

/** The learning rate the `step` schedule gives at `epoch`. */
export function stepScheduleLr(lr0: number, epoch: number, every = 30): number {
  return lr0 * 0.1 ** Math.floor(epoch / every);
}

/**
 * Trains the network on the dataset, reporting progress through `onEvent`.
 *
 * @example
 * ```ts ignore
 * const dataset = await openDataset({ kind: "synthetic", size: 36 });
 * const result = await train({
 *   dataset,
 *   config: { ...configs.tiny, classes: dataset.classes.length },
 *   epochs: 10,
 *   batch: 32,
 *   out: "out/run1",
 *   onEvent: (e) => console.log(e),
 * });
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const cfg = options.config;
  validateConfig(cfg);
  const ds = options.dataset;
  if (ds.classes.length !== cfg.classes) {
    throw new DataError(
      `config ${cfg.name} has ${cfg.classes} classes, the dataset ${ds.name} has ${ds.classes.length}`,
    );
  }
  if (ds.imageSize !== cfg.storedSize) {
    throw new DataError(
      `config ${cfg.name} expects ${cfg.storedSize}px stored images, the dataset ${ds.name} ` +
        `has ${ds.imageSize}px (prepare it with --size ${cfg.storedSize})`,
    );
  }
  const batch = options.batch ?? 128;
  const epochs = options.epochs ?? 90;
  const seed = options.seed ?? 1;
  const lr0 = options.lr ?? 0.01;
  const schedule = options.schedule ?? "plateau";
  const evalEvery = options.evalEvery ?? 1;
  if (ds.train.count < batch) {
    throw new DataError(
      `the dataset ${ds.name} has ${ds.train.count} training images, fewer than one batch of ${batch}`,
    );
  }
  const emit = async (e: TrainEvent) => {
    await options.onEvent?.(e);
    if (metrics) {
      const line = new TextEncoder().encode(JSON.stringify({ time: Date.now(), ...e }) + "\n");
      try {
        await metrics.write(line);
      } catch (err) {
        throw new AlexNetError(
          `cannot write ${options.out}/metrics.jsonl: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  };

  let owned: { destroy(): void } | null = null;
  let columns: readonly Column[];
  if (Array.isArray(options.columns)) columns = options.columns as readonly Column[];
  else {
    const opened = await openColumns({ count: (options.columns as 1 | 2 | undefined) ?? 2 });
    owned = opened;
    columns = opened.columns;
  }
  let metrics: Deno.FsFile | null = null;
  let net: AlexNet;
  try {
    net = await AlexNet.create({
      config: cfg,
      batch,
      columns,
      dropout: options.dropout,
      seed,
      memoryBudget: options.memoryBudget,
    });
  } catch (e) {
    owned?.destroy();
    throw e;
  }
  const lighting = options.lighting !== false && ds.pca.colour;
  const step = await TrainStep.create(net, {
    mean: ds.mean,
    // The paper's noise [p1 p2 p3][a1 l1, a2 l2, a3 l3] with a ~ N(0, 0.1) is meant in
    // units where l is the spread along each eigenvector: on our 0..255 scale that is the
    // standard deviation sqrt(eigval) (as fb.resnet.torch's constants are), giving offsets
    // of a few intensity levels; the raw variance would shift pixels by hundreds.
    // Greyscale data has no colour to shift: the lighting is off (the dataset report
    // says so).
    pca: !lighting
      ? undefined
      : { eigvecs: ds.pca.eigvecs, eigvals: ds.pca.eigvals.map(Math.sqrt) }, // clamped at 0 on open
    inputScale: options.inputScale,
  });
  const loader = new Loader(ds, "train", {
    batch,
    seed,
    shuffle: true,
    dropLast: true,
    workers: options.workers ?? 2,
    augment: options.augment === false ? undefined : { cropSize: cfg.inputSize },
  });
  const stepsPerEpoch = loader.batchCount;
  if (stepsPerEpoch < 1) {
    loader.close();
    throw new Error(`train: the loader makes no batch of ${batch}`); // checked above
  }

  let state: TrainState = {
    epoch: 0,
    stepInEpoch: 0,
    step: 0,
    lr: lr0,
    best: Infinity,
    bad: 0,
    sums: { loss: 0, top1: 0, top5: 0, images: 0 },
    seed,
    batch,
    dataset: ds.fingerprint,
  };
  let resumedFrom: { dir: string; epoch: number; step: number } | undefined;
  let checkpoint: string | undefined;
  let savedStep = 0;
  let recovered: { restored?: string; removed: string[] } | undefined;
  try {
    if (options.out) {
      const r = await recoverCheckpoint(`${options.out}/checkpoint`);
      if (r.restored || r.removed.length > 0) recovered = r;
    }
    if (options.resume) {
      const ck = await loadCheckpoint(options.resume, { expectConfig: cfg });
      const saved = (ck.state as { train?: TrainState }).train;
      if (ck.recoveredFrom) checkpoint = ck.recoveredFrom;
      if (!saved) {
        throw new CheckpointError(
          `${options.resume}: state.json has no training state`,
          options.resume,
        );
      }
      for (const k of ["seed", "batch", "dataset"] as const) {
        if (saved[k] !== state[k]) {
          throw new CheckpointError(
            `${options.resume}: checkpoint was trained with ${k} ${saved[k]}, this run has ${
              state[k]
            }`,
            options.resume,
          );
        }
      }
      state = structuredClone(saved);
      net.writeParameters(ck.weights, "weight");
      net.writeParameters(ck.momentum, "momentum");
      resumedFrom = {
        dir: ck.recoveredFrom ?? options.resume,
        epoch: state.epoch,
        step: state.step,
      };
      checkpoint ??= options.resume;
      savedStep = state.step;
    } else {
      const init = initParameters(cfg, seed, { scheme: options.init, std: options.initStd });
      const gain = options.outputGain ?? 1;
      if (gain !== 1) init.get("fc8.weight")!.forEach((v, i, a) => a[i] = v * gain);
      net.writeParameters(init, "weight");
      net.clearMomentum();
    }
    if (options.out) {
      await Deno.mkdir(options.out, { recursive: true });
      metrics = await Deno.open(`${options.out}/metrics.jsonl`, {
        create: true,
        append: true,
      });
    }
    await emit({
      type: "start",
      config: cfg.name,
      columns: columns.length,
      devices: columns.map((c) => c.description),
      batch,
      stepsPerEpoch,
      epochs,
      totalSteps: epochs * stepsPerEpoch,
      memory: columns.map((c) => c.memory.held),
      recovered,
      lighting,
      recipe: {
        config: cfg,
        dataset: { name: ds.name, fingerprint: ds.fingerprint },
        epochs,
        batch,
        lr: lr0,
        momentum: options.momentum ?? 0.9,
        weightDecay: options.weightDecay ?? 0.0005,
        schedule,
        stepEpochs: options.stepEpochs ?? 30,
        seed,
        init: options.init ?? "paper",
        outputGain: options.outputGain ?? 1,
        inputScale: options.inputScale ?? 1,
        dropout: options.dropout ?? cfg.dropout,
        augment: options.augment !== false,
        lighting,
      },
      resumedFrom,
    });

    // Weights can go NaN while the loss stays finite: a GPU count of the non-finite
    // values (a few bytes read back) before every evaluation and every save.
    const requireFinite = async (kinds: ("weight" | "momentum")[]): Promise<void> => {
      for (const kind of kinds) {
        const bad = await net.nonFiniteParameters(kind);
        if (bad.length === 0) continue;
        const what = bad.map((b) =>
          `${b.name}${kind === "momentum" ? " momentum" : ""} (${b.count})`
        );
        throw new DivergenceError(
          `training diverged: NaN or infinite values in ${what.slice(0, 3).join(", ")}` +
            `${what.length > 3 ? ` and ${what.length - 3} more` : ""} by step ${state.step} ` +
            `(lr ${state.lr}); stopped. ` +
            (checkpoint
              ? `The last good checkpoint is ${checkpoint} (step ${savedStep}).`
              : "No checkpoint was written."),
          state.step,
          checkpoint,
        );
      }
    };

    const save = async (): Promise<void> => {
      if (!options.out) return;
      await requireFinite(["weight", "momentum"]);
      const weights = await net.readParameters("weight");
      const momentum = await net.readParameters("momentum");
      const dir = `${options.out}/checkpoint`;
      await saveCheckpoint(dir, {
        weights,
        momentum,
        state: {
          config: cfg,
          epoch: state.epoch,
          step: state.step,
          lr: state.lr,
          dataFingerprint: ds.fingerprint,
          classes: ds.classes,
          // What inference needs to prepare an image like training did.
          input: { mean: Array.from(ds.mean), inputScale: options.inputScale ?? 1 },
          train: state,
        },
      });
      checkpoint = dir;
      savedStep = state.step;
      await emit({ type: "checkpoint", dir, epoch: state.epoch, step: state.step });
    };

    const validate = async (): Promise<Evaluation> => {
      await requireFinite(["weight"]);
      const e = await evaluate(step, ds, { tenCrop: options.tenCrop, limit: options.evalLimit });
      await emit({ type: "evaluation", epoch: state.epoch, step: state.step, split: "val", ...e });
      return e;
    };

    const losses: number[] = [];
    let evaluation: Evaluation | undefined;
    let stopped = false;
    const recent = new RecentRate({ window: 20, skip: 1 });
    let lastStepEnd = performance.now();
    const totalSteps = epochs * stepsPerEpoch;
    outer: while (state.epoch < epochs) {
      if (schedule === "step") {
        const lr = stepScheduleLr(lr0, state.epoch, options.stepEpochs ?? 30);
        if (lr !== state.lr) {
          state.lr = lr;
          await emit({ type: "lr", epoch: state.epoch, lr, reason: "step schedule" });
        }
      }
      const epochStart = performance.now();
      lastStepEnd = epochStart; // the ETA's rate leaves out evaluations and saves
      loader.epoch = state.epoch;
      let skip = state.stepInEpoch;
      for await (const b of loader) {
        if (skip > 0) {
          skip--;
          continue;
        }
        const ts = performance.now();
        const r = await step.run(b, {
          step: state.step,
          hyper: {
            lr: state.lr,
            momentum: options.momentum ?? 0.9,
            weightDecay: options.weightDecay ?? 0.0005,
          },
        });
        const stepMs = performance.now() - ts;
        if (!Number.isFinite(r.loss)) {
          throw new DivergenceError(
            `training diverged: loss is ${r.loss} at epoch ${state.epoch + 1}, step ${
              state.step + 1
            } ` +
              `(lr ${state.lr}); stopped. ` +
              (checkpoint
                ? `The last good checkpoint is ${checkpoint} (step ${savedStep}).`
                : "No checkpoint was written."),
            state.step + 1,
            checkpoint,
          );
        }
        losses.push(r.loss);
        state.step++;
        state.stepInEpoch++;
        state.sums.loss += r.loss * r.count;
        state.sums.top1 += r.top1;
        state.sums.top5 += r.top5;
        state.sums.images += r.count;
        const now = performance.now();
        recent.add((now - lastStepEnd) / 1000);
        const secondsPerStep = recent.secondsPerItem ?? (now - lastStepEnd) / 1000;
        lastStepEnd = now;
        const eta = recent.eta(totalSteps - state.step);
        await emit({
          type: "step",
          epoch: state.epoch,
          step: state.step,
          stepInEpoch: state.stepInEpoch,
          stepsPerEpoch,
          loss: r.loss,
          top1Error: 1 - r.top1 / r.count,
          top5Error: 1 - r.top5 / r.count,
          lr: state.lr,
          imagesPerSecond: batch / secondsPerStep,
          etaMs: eta === undefined ? undefined : eta * 1000,
          stepMs,
        });
        if (options.checkpointEvery && state.step % options.checkpointEvery === 0) {
          await save();
        }
        if (options.signal?.aborted) {
          stopped = true;
          if (savedStep !== state.step) await save();
          break outer;
        }
        if (options.maxSteps !== undefined && state.step >= options.maxSteps) {
          stopped = true;
          // At an epoch's last step the epoch ends as usual below.
          if (state.stepInEpoch === stepsPerEpoch) break;
          evaluation = await validate();
          if (savedStep !== state.step) await save();
          break outer;
        }
      }
      const s = state.sums;
      await emit({
        type: "epoch",
        epoch: state.epoch,
        step: state.step,
        loss: s.loss / s.images,
        top1Error: 1 - s.top1 / s.images,
        top5Error: 1 - s.top5 / s.images,
        lr: state.lr,
        seconds: (performance.now() - epochStart) / 1000,
      });
      const finished = state.epoch + 1;
      const last = finished === epochs || stopped;
      if ((evalEvery > 0 && finished % evalEvery === 0) || last) {
        evaluation = await validate();
        if (schedule === "plateau") {
          if (evaluation.top1Error < state.best) {
            state.best = evaluation.top1Error;
            state.bad = 0;
          } else if (++state.bad >= (options.patience ?? 2)) {
            state.bad = 0;
            state.lr /= 10;
            await emit({
              type: "lr",
              epoch: state.epoch,
              lr: state.lr,
              reason: "validation error stopped improving",
            });
          }
        }
      }
      state.epoch++;
      state.stepInEpoch = 0;
      state.sums = { loss: 0, top1: 0, top5: 0, images: 0 };
      await save();
      if (stopped) break;
    }
    return {
      epochs: state.epoch,
      steps: state.step,
      losses,
      evaluation,
      lr: state.lr,
      checkpoint,
      stopped,
    };
  } finally {
    loader.close();
    step.dispose();
    net.dispose();
    metrics?.close();
    owned?.destroy();
  }
}
