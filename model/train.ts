// The training loop as a library function: `train(options)` runs the paper's recipe
// (SGD, momentum 0.9, weight decay 0.0005, learning rate divided by 10 on a schedule),
// evaluates, checkpoints, and reports everything through events; the CLI
// (model/cli_train.ts) is a thin layer that prints them. Its parts, each in its own
// module: the settings and their defaults (`resolveRun` below), the network and the
// data (`openNetwork`), the training step (step.ts), evaluation (evaluate.ts), the
// schedule (schedule.ts), checkpointing and the weight check (checkpointing.ts), the
// state carried across steps and checkpoints (train_state.ts) and the events
// (events.ts).
//
// Exact resumption: every random draw is a pure function of counters — the epoch order
// of (seed, epoch), each image's crop/flip/lighting of (seed, epoch, index), dropout
// masks of (seed, layer, half, step) — so the checkpoint's state (epoch, step within the
// epoch, global step, schedule and running sums) is all a resumed run needs to repeat
// the uninterrupted run's loss sequence on the same adapter.
//
// Divergence: a non-finite loss, or non-finite weights before an evaluation or a save,
// stops training with an error naming the step; checkpoints are only written from
// finite values, so the last one on disk is the last good state.

import { type Column, openColumns } from "../kernels/columns.ts";
import type { Dataset } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import { RecentRate } from "../data/progress.ts";
import { AlexNetError } from "../errors.ts";
import { AlexNet } from "./alexnet.ts";
import { loadCheckpoint, recoverCheckpoint } from "./checkpoint.ts";
import { Checkpointer } from "./checkpointing.ts";
import { type AlexNetConfig, dropoutOf, validateConfig } from "./config.ts";
import { evaluate, type Evaluation } from "./evaluate.ts";
import type { RunRecipe, TrainEvent } from "./events.ts";
import type { InitScheme } from "./init.ts";
import { checkDatasetFits, initialParameters, trainStepOptions } from "./session.ts";
import { LrSchedule, type Schedule } from "./schedule.ts";
import { TrainStep } from "./step.ts";
import {
  countStep,
  DivergenceError,
  initialTrainState,
  restoredTrainState,
  type TrainState,
} from "./train_state.ts";

export type { RunRecipe, TrainEvent } from "./events.ts";
export { type Recipe, recipeFor } from "./recipe.ts";
export { LrSchedule, type Schedule, type ScheduleState, stepScheduleLr } from "./schedule.ts";
export {
  DivergenceError,
  initialTrainState,
  restoredTrainState,
  type TrainState,
} from "./train_state.ts";
export { Checkpointer, type CheckpointInfo } from "./checkpointing.ts";

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
   * Multiplies the logits layer's (fc8's) initial weights (default 1). A small gain (e.g. 0.05) starts the
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
  const run = resolveRun(options);
  const { cfg, ds } = run;
  const { batch, epochs } = run.recipe;
  const network = await openNetwork(run, options);
  const { net, step, loader } = network;
  const stepsPerEpoch = loader.batchCount;
  let metrics: MetricsLog | null = null;
  const emit = async (e: TrainEvent) => {
    await options.onEvent?.(e);
    await metrics?.write(e);
  };
  const checkpoints = new Checkpointer(
    net,
    options.out ? `${options.out}/checkpoint` : undefined,
    {
      config: cfg,
      dataFingerprint: ds.fingerprint,
      classes: ds.classes,
      input: { mean: Array.from(ds.mean), inputScale: run.recipe.inputScale },
    },
    (dir, s) => emit({ type: "checkpoint", dir, epoch: s.epoch, step: s.step }),
  );
  let state = initialTrainState({
    lr: run.recipe.lr,
    seed: run.recipe.seed,
    batch,
    dataset: ds.fingerprint,
  });
  try {
    // Data: a kill at any moment of an earlier save is repaired before anything else.
    let recovered: { restored?: string; removed: string[] } | undefined;
    if (options.out) {
      const r = await recoverCheckpoint(`${options.out}/checkpoint`);
      if (r.restored || r.removed.length > 0) recovered = r;
    }
    let resumedFrom: { dir: string; epoch: number; step: number } | undefined;
    if (options.resume) {
      const ck = await loadCheckpoint(options.resume, { expectConfig: cfg });
      state = restoredTrainState(ck.state as { train?: TrainState }, state, options.resume);
      net.writeParameters(ck.weights, "weight");
      net.writeParameters(ck.momentum, "momentum");
      const dir = ck.recoveredFrom ?? options.resume;
      resumedFrom = { dir, epoch: state.epoch, step: state.step };
      checkpoints.checkpoint = dir;
      checkpoints.savedStep = state.step;
    } else {
      net.writeParameters(
        initialParameters(cfg, { ...run.recipe, initStd: options.initStd }),
        "weight",
      );
      net.clearMomentum();
    }
    if (options.out) metrics = await MetricsLog.open(options.out);
    await emit({
      type: "start",
      config: cfg.name,
      columns: net.columns.length,
      devices: net.columns.map((c) => c.description),
      batch,
      stepsPerEpoch,
      epochs,
      totalSteps: epochs * stepsPerEpoch,
      memory: net.columns.map((c) => c.memory.held),
      recovered,
      lighting: run.recipe.lighting,
      recipe: run.recipe,
      resumedFrom,
    });

    const validate = async (): Promise<Evaluation> => {
      await checkpoints.requireFinite(state, ["weight"]);
      const e = await evaluate(step, ds, { tenCrop: options.tenCrop, limit: options.evalLimit });
      await emit({ type: "evaluation", epoch: state.epoch, step: state.step, split: "val", ...e });
      return e;
    };
    const hyper = {
      momentum: run.recipe.momentum,
      weightDecay: run.recipe.weightDecay,
    };
    const losses: number[] = [];
    let evaluation: Evaluation | undefined;
    let stopped = false;
    const recent = new RecentRate({ window: 20, skip: 1 });
    const totalSteps = epochs * stepsPerEpoch;
    outer: while (state.epoch < epochs) {
      const reason = run.schedule.epochStart(state, state.epoch);
      if (reason) await emit({ type: "lr", epoch: state.epoch, lr: state.lr, reason });
      const epochStart = performance.now();
      let lastStepEnd = epochStart; // the ETA's rate leaves out evaluations and saves
      loader.epoch = state.epoch;
      let skip = state.stepInEpoch;
      for await (const b of loader) {
        if (skip > 0) {
          skip--;
          continue;
        }
        const ts = performance.now();
        const r = await step.run(b, { step: state.step, hyper: { lr: state.lr, ...hyper } });
        const stepMs = performance.now() - ts;
        if (!Number.isFinite(r.loss)) {
          throw new DivergenceError(
            `training diverged: loss is ${r.loss} at epoch ${state.epoch + 1}, step ${
              state.step + 1
            } (lr ${state.lr}); stopped. ${checkpoints.lastGood()}`,
            state.step + 1,
            checkpoints.checkpoint,
          );
        }
        losses.push(r.loss);
        countStep(state, r);
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
          await checkpoints.save(state);
        }
        if (options.signal?.aborted) {
          stopped = true;
          if (checkpoints.savedStep !== state.step) await checkpoints.save(state);
          break outer;
        }
        if (options.maxSteps !== undefined && state.step >= options.maxSteps) {
          stopped = true;
          // At an epoch's last step the epoch ends as usual below.
          if (state.stepInEpoch === stepsPerEpoch) break;
          evaluation = await validate();
          if (checkpoints.savedStep !== state.step) await checkpoints.save(state);
          break outer;
        }
      }
      const sums = state.sums;
      await emit({
        type: "epoch",
        epoch: state.epoch,
        step: state.step,
        loss: sums.loss / sums.images,
        top1Error: 1 - sums.top1 / sums.images,
        top5Error: 1 - sums.top5 / sums.images,
        lr: state.lr,
        seconds: (performance.now() - epochStart) / 1000,
      });
      const finished = state.epoch + 1;
      if ((run.evalEvery > 0 && finished % run.evalEvery === 0) || finished === epochs || stopped) {
        evaluation = await validate();
        const reason = run.schedule.evaluated(state, evaluation.top1Error);
        if (reason) await emit({ type: "lr", epoch: state.epoch, lr: state.lr, reason });
      }
      state.epoch++;
      state.stepInEpoch = 0;
      state.sums = { loss: 0, top1: 0, top5: 0, images: 0 };
      await checkpoints.save(state);
      if (stopped) break;
    }
    return {
      epochs: state.epoch,
      steps: state.step,
      losses,
      evaluation,
      lr: state.lr,
      checkpoint: checkpoints.checkpoint,
      stopped,
    };
  } finally {
    network.close();
    metrics?.close();
  }
}

/** A run's settings, validated and with every default filled in. */
interface Run {
  cfg: AlexNetConfig;
  ds: Dataset;
  evalEvery: number;
  schedule: LrSchedule;
  recipe: RunRecipe;
}

function resolveRun(options: TrainOptions): Run {
  const cfg = validateConfig(options.config);
  const ds = options.dataset;
  const batch = options.batch ?? 128;
  checkDatasetFits(cfg, ds, batch, ` (prepare it with --size ${cfg.storedSize})`);
  const recipe: RunRecipe = {
    config: cfg,
    dataset: { name: ds.name, fingerprint: ds.fingerprint },
    epochs: options.epochs ?? 90,
    batch,
    lr: options.lr ?? 0.01,
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 0.0005,
    schedule: options.schedule ?? "plateau",
    stepEpochs: options.stepEpochs ?? 30,
    seed: options.seed ?? 1,
    init: options.init ?? "paper",
    outputGain: options.outputGain ?? 1,
    inputScale: options.inputScale ?? 1,
    dropout: options.dropout ?? dropoutOf(cfg),
    augment: options.augment !== false,
    // Greyscale data has no colour to shift: the lighting is off (its report says so).
    lighting: options.lighting !== false && ds.pca.colour,
  };
  return {
    cfg,
    ds,
    evalEvery: options.evalEvery ?? 1,
    schedule: new LrSchedule({
      kind: recipe.schedule,
      lr0: recipe.lr,
      stepEpochs: recipe.stepEpochs,
      patience: options.patience,
    }),
    recipe,
  };
}

/** The devices, the network, its training step and the training loader of a run. */
interface Network {
  net: AlexNet;
  step: TrainStep;
  loader: Loader;
  close(): void;
}

async function openNetwork(run: Run, options: TrainOptions): Promise<Network> {
  const { cfg, ds, recipe } = run;
  const batch = recipe.batch;
  let columns: readonly Column[];
  let owned: { destroy(): void } | null = null;
  if (Array.isArray(options.columns)) columns = options.columns as readonly Column[];
  else {
    const opened = await openColumns({ count: (options.columns as 1 | 2 | undefined) ?? 2 });
    owned = opened;
    columns = opened.columns;
  }
  let net: AlexNet | undefined;
  try {
    net = await AlexNet.create({
      config: cfg,
      batch,
      columns,
      dropout: options.dropout,
      seed: recipe.seed,
      memoryBudget: options.memoryBudget,
    });
    // Browser sessions (session.ts) start from the same options, so their losses match.
    const step = await TrainStep.create(net, trainStepOptions(ds, recipe));
    const loader = new Loader(ds, "train", {
      batch,
      seed: recipe.seed,
      shuffle: true,
      dropLast: true,
      workers: options.workers ?? 2,
      augment: recipe.augment ? { cropSize: cfg.inputSize } : undefined,
    });
    const created = net;
    return {
      net: created,
      step,
      loader,
      close() {
        loader.close();
        step.dispose();
        created.dispose();
        owned?.destroy();
      },
    };
  } catch (e) {
    net?.dispose();
    owned?.destroy();
    throw e;
  }
}

/** `<out>/metrics.jsonl`: every event as one JSON line, appended. */
class MetricsLog {
  #file: Deno.FsFile;
  #path: string;

  private constructor(file: Deno.FsFile, path: string) {
    this.#file = file;
    this.#path = path;
  }

  static async open(out: string): Promise<MetricsLog> {
    await Deno.mkdir(out, { recursive: true });
    const path = `${out}/metrics.jsonl`;
    return new MetricsLog(await Deno.open(path, { create: true, append: true }), path);
  }

  async write(e: TrainEvent): Promise<void> {
    const line = new TextEncoder().encode(JSON.stringify({ time: Date.now(), ...e }) + "\n");
    try {
      await this.#file.write(line);
    } catch (err) {
      throw new AlexNetError(`cannot write ${this.#path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  close(): void {
    this.#file.close();
  }
}
