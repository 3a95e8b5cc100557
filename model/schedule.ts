// The learning-rate schedules: "step" divides the rate by 10 every `stepEpochs` epochs;
// "plateau" (the paper's) divides it by 10 when the validation error has not improved
// for `patience` evaluations; "constant" never changes it. The state they need (rate,
// best error, evaluations since) lives in the training state, so it is checkpointed.

/** How the learning rate falls. */
export type Schedule = "step" | "plateau" | "constant";

/** The learning rate the `step` schedule gives at `epoch`. */
export function stepScheduleLr(lr0: number, epoch: number, every = 30): number {
  return lr0 * 0.1 ** Math.floor(epoch / every);
}

/** What a schedule reads and updates (part of the checkpointed training state). */
export interface ScheduleState {
  /** Current learning rate. */
  lr: number;
  /** Best validation top-1 error so far (plateau). */
  best: number;
  /** Evaluations since the best (plateau). */
  bad: number;
}

/**
 * A learning-rate schedule over a {@link ScheduleState}. Each method updates the state
 * and returns the reason when the rate changed (for the "lr" event).
 *
 * @example
 * ```ts
 * import { LrSchedule } from "./schedule.ts";
 * const s = new LrSchedule({ kind: "plateau", lr0: 0.01, patience: 2 });
 * const state = { lr: 0.01, best: Infinity, bad: 0 };
 * s.evaluated(state, 0.5); s.evaluated(state, 0.5); // no improvement, twice
 * state.lr; // 0.001
 * ```
 */
export class LrSchedule {
  /** Which schedule. */
  readonly kind: Schedule;
  /** The initial rate. */
  readonly lr0: number;
  /** Epochs per ÷10 of the step schedule. */
  readonly stepEpochs: number;
  /** Evaluations without improvement before the plateau schedule divides by 10. */
  readonly patience: number;

  /** `stepEpochs` defaults to 30 and `patience` to 2. */
  constructor(o: { kind: Schedule; lr0: number; stepEpochs?: number; patience?: number }) {
    this.kind = o.kind;
    this.lr0 = o.lr0;
    this.stepEpochs = o.stepEpochs ?? 30;
    this.patience = o.patience ?? 2;
  }

  /** At the start of `epoch`: the step schedule's rate. */
  epochStart(state: ScheduleState, epoch: number): string | undefined {
    if (this.kind !== "step") return undefined;
    const lr = stepScheduleLr(this.lr0, epoch, this.stepEpochs);
    if (lr === state.lr) return undefined;
    state.lr = lr;
    return "step schedule";
  }

  /** After an evaluation with validation top-1 error `top1`: the plateau rule. */
  evaluated(state: ScheduleState, top1: number): string | undefined {
    if (this.kind !== "plateau") return undefined;
    if (top1 < state.best) {
      state.best = top1;
      state.bad = 0;
      return undefined;
    }
    if (++state.bad < this.patience) return undefined;
    state.bad = 0;
    state.lr /= 10;
    return "validation error stopped improving";
  }
}
