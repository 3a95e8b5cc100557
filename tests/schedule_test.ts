// The learning-rate schedules against hand-worked sequences.

import assert from "node:assert/strict";
import { LrSchedule, stepScheduleLr } from "../model/schedule.ts";
import { initialTrainState, restoredTrainState } from "../model/train_state.ts";

Deno.test("step schedule: ÷10 every stepEpochs, one reason per change", () => {
  const s = new LrSchedule({ kind: "step", lr0: 0.02, stepEpochs: 9 });
  const state = { lr: 0.02, best: Infinity, bad: 0 };
  const seen: [number, string | undefined][] = [];
  for (let epoch = 0; epoch < 20; epoch++) {
    const reason = s.epochStart(state, epoch);
    if (reason) seen.push([epoch, reason]);
    assert.equal(state.lr, stepScheduleLr(0.02, epoch, 9));
  }
  assert.deepEqual(seen, [[9, "step schedule"], [18, "step schedule"]]);
  assert.ok(Math.abs(state.lr - 0.0002) < 1e-12);
  // Evaluations do not move it.
  assert.equal(s.evaluated(state, 0.9), undefined);
});

Deno.test("plateau schedule: ÷10 after `patience` evaluations without a new best", () => {
  const s = new LrSchedule({ kind: "plateau", lr0: 0.01, patience: 2 });
  const state = { lr: 0.01, best: Infinity, bad: 0 };
  const errors = [0.8, 0.6, 0.6, 0.7, 0.5, 0.55, 0.5, 0.4];
  const lrs = errors.map((e) => (s.evaluated(state, e), state.lr));
  // 0.8 best, 0.6 best, 0.6 (1 bad), 0.7 (2 bad: ÷10), 0.5 best, 0.55 (1), 0.5 (2: ÷10),
  // 0.4 best.
  assert.deepEqual(lrs.map((x) => +x.toPrecision(3)), [
    0.01,
    0.01,
    0.01,
    0.001,
    0.001,
    0.001,
    0.0001,
    0.0001,
  ]);
  assert.equal(state.best, 0.4);
  assert.equal(s.epochStart(state, 100), undefined); // epochs do not move it
});

Deno.test("constant schedule never changes the rate", () => {
  const s = new LrSchedule({ kind: "constant", lr0: 0.05 });
  const state = { lr: 0.05, best: Infinity, bad: 0 };
  for (let e = 0; e < 100; e++) s.epochStart(state, e), s.evaluated(state, 0.9);
  assert.equal(state.lr, 0.05);
});

Deno.test("a checkpoint's training state is restored only for the same seed, batch and data", () => {
  const run = { seed: 1, batch: 32, dataset: "abc" };
  const saved = { ...initialTrainState({ lr: 0.01, ...run }), step: 7 };
  const restored = restoredTrainState({ train: saved }, run, "ck");
  assert.deepEqual(restored, saved);
  assert.notEqual(restored, saved); // a copy
  assert.throws(
    () => restoredTrainState({ train: saved }, { ...run, batch: 64 }, "ck"),
    /^CheckpointError: ck: checkpoint was trained with batch 32, this run has 64$/,
  );
  assert.throws(() => restoredTrainState({}, run, "ck"), /ck: state.json has no training state/);
});
