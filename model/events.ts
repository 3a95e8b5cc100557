// What training reports: one event per start, step, epoch, evaluation, learning-rate
// change and checkpoint. The CLI prints them; metrics.jsonl stores them one per line
// (viz/ reads that log back).

import type { AlexNetConfig } from "./config.ts";
import type { Evaluation } from "./classify.ts";
import type { InitScheme } from "./init.ts";
import type { Schedule } from "./schedule.ts";

/** Progress reported by `train()`. */
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
