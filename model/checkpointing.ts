// Checkpointing during training: before anything is evaluated or saved, a GPU count of
// the parameters' non-finite values (weights can go NaN while the loss stays finite);
// saves of the weights, momentum and training state through saveCheckpoint (atomic,
// never from non-finite values); and the last good checkpoint, for the error that ends
// a diverged run.

import type { AlexNet } from "./alexnet.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import type { AlexNetConfig } from "./config.ts";
import { DivergenceError, type TrainState } from "./train_state.ts";

/** What every checkpoint of a run stores besides the weights and the training state. */
export interface CheckpointInfo {
  /** The network. */
  config: AlexNetConfig;
  /** The dataset's fingerprint. */
  dataFingerprint: string;
  /** Class names, for predict. */
  classes: readonly string[];
  /** What inference needs to prepare an image as training did. */
  input: { mean: number[]; inputScale: number };
}

/**
 * Writes a run's checkpoints to `<dir>` and guards them.
 *
 * @example
 * ```ts ignore
 * const ck = new Checkpointer(net, "out/train/checkpoint", info, (dir, s) => console.log(dir, s));
 * await ck.requireFinite(state, ["weight"]); // before an evaluation
 * await ck.save(state);
 * ```
 */
export class Checkpointer {
  /** The last checkpoint written (or resumed from). */
  checkpoint?: string;
  /** The step it holds. */
  savedStep = 0;
  #net: AlexNet;
  #dir?: string;
  #info: CheckpointInfo;
  #saved: (dir: string, state: TrainState) => void | Promise<void>;

  /** `dir` undefined: nothing is written; `saved` is called after each save. */
  constructor(
    net: AlexNet,
    dir: string | undefined,
    info: CheckpointInfo,
    saved: (dir: string, state: TrainState) => void | Promise<void>,
  ) {
    this.#net = net;
    this.#dir = dir;
    this.#info = info;
    this.#saved = saved;
  }

  /** Throws a DivergenceError naming the tensors if any of `kinds` holds NaN or Inf. */
  async requireFinite(state: TrainState, kinds: ("weight" | "momentum")[]): Promise<void> {
    for (const kind of kinds) {
      const bad = await this.#net.nonFiniteParameters(kind);
      if (bad.length === 0) continue;
      const what = bad.map((b) =>
        `${b.name}${kind === "momentum" ? " momentum" : ""} (${b.count})`
      );
      throw new DivergenceError(
        `training diverged: NaN or infinite values in ${what.slice(0, 3).join(", ")}` +
          `${what.length > 3 ? ` and ${what.length - 3} more` : ""} by step ${state.step} ` +
          `(lr ${state.lr}); stopped. ` + this.lastGood(),
        state.step,
        this.checkpoint,
      );
    }
  }

  /** "The last good checkpoint is DIR (step N)." or "No checkpoint was written." */
  lastGood(): string {
    return this.checkpoint
      ? `The last good checkpoint is ${this.checkpoint} (step ${this.savedStep}).`
      : "No checkpoint was written.";
  }

  /** Saves the network and `state` (after checking both are finite); no-op without a dir. */
  async save(state: TrainState): Promise<void> {
    if (!this.#dir) return;
    await this.requireFinite(state, ["weight", "momentum"]);
    const weights = await this.#net.readParameters("weight");
    const momentum = await this.#net.readParameters("momentum");
    await saveCheckpoint(this.#dir, {
      weights,
      momentum,
      state: {
        config: this.#info.config,
        epoch: state.epoch,
        step: state.step,
        lr: state.lr,
        dataFingerprint: this.#info.dataFingerprint,
        classes: this.#info.classes,
        input: this.#info.input,
        train: state,
      },
    });
    this.checkpoint = this.#dir;
    this.savedStep = state.step;
    await this.#saved(this.#dir, state);
  }
}
