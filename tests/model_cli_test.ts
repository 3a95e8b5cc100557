// Command lines: flags are validated before anything runs (exit code 2 with a message).

import assert from "node:assert/strict";
import { main as predictMain } from "../model/cli_predict.ts";
import { main as trainMain, parseTrainArgs, TRAIN_DEFAULTS } from "../model/cli_train.ts";

function quiet<T>(f: () => Promise<T>): Promise<T> {
  const [log, error] = [console.log, console.error];
  console.log = console.error = () => {};
  return f().finally(() => {
    console.log = log;
    console.error = error;
  });
}

Deno.test("train flags: defaults, values, and errors with exit code 2", async () => {
  const d = parseTrainArgs([]);
  assert.equal(d.config, TRAIN_DEFAULTS.config);
  assert.equal(d.dataset, "synthetic");
  assert.equal(d.columns, TRAIN_DEFAULTS.columns);
  // Rate and dropout come from the config's recipe unless given.
  assert.deepEqual([d.lr, d.dropout, d.steps], [undefined, undefined, undefined]);
  const s = parseTrainArgs(["--steps", "20", "--dropout", "0.25", "--checkpoint-every", "50"]);
  assert.deepEqual([s.steps, s.dropout, s.checkpointEvery], [20, 0.25, 50]);
  const c = parseTrainArgs([
    "--columns",
    "1",
    "--epochs",
    "3",
    "--lr",
    "0.02",
    "--ten-crop",
    "--schedule",
    "plateau",
  ]);
  assert.deepEqual([c.columns, c.epochs, c.lr, c.tenCrop, c.schedule], [
    1,
    3,
    0.02,
    true,
    "plateau",
  ]);
  for (
    const [args, message] of [
      [["--bogus"], /Unknown option '--bogus'/],
      [["--columns", "3"], /--columns must be one of 1, 2, got "3"/],
      [["--epochs", "0"], /--epochs must be an integer from 1 to 10000, got "0"/],
      [["--batch", "2.5"], /--batch must be an integer from 1 to 65536/],
      [["--lr", "abc"], /--lr must be a positive number, got "abc"/],
      [["--lr=-1"], /--lr must be a positive number/],
      [["--schedule", "cosine"], /--schedule must be one of step, plateau, constant/],
      [["--dataset", "folder"], /--dataset folder needs --data DIR/],
      [["--config", "huge"], /--config must be one of tiny, small, paper/],
      [["--steps", "0"], /--steps must be an integer from 1 to 1000000000, got "0"/],
      [["--dropout", "1"], /--dropout must be a probability in \[0, 1\), got "1"/],
      [["--dropout", "x"], /--dropout must be a probability/],
      [["stray"], /Unexpected argument 'stray'/],
      [["--seed", "1e20"], /--seed must be an integer from 0 to 4294967295, got "1e20"/],
      [["--batch", "100000"], /--batch must be an integer from 1 to 65536/],
      [["--checkpoint-every", "1.5"], /--checkpoint-every must be an integer from 1/],
    ] as const
  ) {
    assert.throws(() => parseTrainArgs([...args]), message, args.join(" "));
    assert.equal(await quiet(() => trainMain([...args])), 2, args.join(" "));
  }
  assert.equal(await quiet(() => trainMain(["--help"])), 0);
});

Deno.test("predict flags: errors exit 2, an unreadable checkpoint exits 1", async () => {
  assert.equal(await quiet(() => predictMain(["a.jpg"])), 2);
  assert.equal(await quiet(() => predictMain(["--checkpoint", "x"])), 2);
  assert.equal(await quiet(() => predictMain(["--checkpoint", "x", "--top", "0", "a.jpg"])), 2);
  assert.equal(await quiet(() => predictMain(["--checkpoint", "/nonexistent/ck", "a.jpg"])), 1);
  assert.equal(await quiet(() => predictMain(["--help"])), 0);
});
