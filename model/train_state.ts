// The state a run carries from step to step and stores in its checkpoints
// (state.json's `train`), and the error that ends a diverged run.

import { AlexNetError, CheckpointError } from "../errors.ts";
import type { ScheduleState } from "./schedule.ts";

/** Training state saved with a checkpoint (state.json's `train`). */
export interface TrainState extends ScheduleState {
  /** Current epoch (0-based). */
  epoch: number;
  /** Completed steps in that epoch. */
  stepInEpoch: number;
  /** Completed steps overall. */
  step: number;
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

/**
 * The state of a run that has not taken a step yet.
 *
 * @example
 * ```ts
 * import { initialTrainState } from "./train_state.ts";
 * const s = initialTrainState({ lr: 0.01, seed: 1, batch: 128, dataset: "abc" });
 * s.step; // 0
 * ```
 */
export function initialTrainState(
  o: { lr: number; seed: number; batch: number; dataset: string },
): TrainState {
  return {
    epoch: 0,
    stepInEpoch: 0,
    step: 0,
    lr: o.lr,
    best: Infinity,
    bad: 0,
    sums: { loss: 0, top1: 0, top5: 0, images: 0 },
    seed: o.seed,
    batch: o.batch,
    dataset: o.dataset,
  };
}

/**
 * Counts one finished step into `state`: the step counters and the epoch's running sums
 * (loss weighted by the images of the batch). Shared by train() and TrainSession.
 *
 * @example
 * ```ts
 * import { countStep, initialTrainState } from "./train_state.ts";
 * const s = initialTrainState({ lr: 0.01, seed: 1, batch: 2, dataset: "abc" });
 * countStep(s, { loss: 2.5, top1: 1, top5: 2, count: 2 });
 * console.log(s.step, s.sums.loss); // 1 5
 * ```
 */
export function countStep(
  state: TrainState,
  r: { loss: number; top1: number; top5: number; count: number },
): void {
  state.step++;
  state.stepInEpoch++;
  state.sums.loss += r.loss * r.count;
  state.sums.top1 += r.top1;
  state.sums.top5 += r.top5;
  state.sums.images += r.count;
}

/**
 * The training state a checkpoint's state.json holds, checked against this run: the
 * seed, batch and dataset must be the same for the resumed run to repeat the original.
 *
 * @example
 * ```ts ignore
 * const ck = await loadCheckpoint(dir);
 * const state = restoredTrainState(ck.state, { seed: 1, batch: 128, dataset: ds.fingerprint }, dir);
 * ```
 */
export function restoredTrainState(
  saved: { train?: TrainState },
  run: Pick<TrainState, "seed" | "batch" | "dataset">,
  dir: string,
): TrainState {
  const train = saved.train;
  if (!train) throw new CheckpointError(`${dir}: state.json has no training state`, dir);
  for (const k of ["seed", "batch", "dataset"] as const) {
    if (train[k] !== run[k]) {
      throw new CheckpointError(
        `${dir}: checkpoint was trained with ${k} ${train[k]}, this run has ${run[k]}`,
        dir,
      );
    }
  }
  return structuredClone(train);
}
