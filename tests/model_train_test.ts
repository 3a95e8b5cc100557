// Training: the tiny config memorises 64 images; an interrupted-and-resumed run repeats
// the uninterrupted run's losses exactly; a diverging run stops with a clear message and
// keeps its last good checkpoint.

import assert from "node:assert/strict";
import { Loader } from "../data/loader.ts";
import { type Dataset, openPrepared } from "../data/dataset.ts";
import { AlexNet } from "../model/alexnet.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { configFor } from "../model/config.ts";
import { evaluate } from "../model/evaluate.ts";
import { initParameters } from "../model/init.ts";
import { TrainStep } from "../model/step.ts";
import {
  DivergenceError,
  recipeFor,
  train,
  type TrainEvent,
  type TrainOptions,
} from "../model/train.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";
import { makeDataset } from "./model_helpers.ts";

const cfg = configFor("tiny", 10);
const BATCH = 4; // the batch of the other model tests: their pipelines are reused
const SMALL = { init: "kaiming", inputScale: 1 / 64 } as const;

let tmp: string | null = null;
async function dataset(name: string, train: number, val: number): Promise<Dataset> {
  tmp ??= await Deno.makeTempDir({ prefix: "alexnet-model-test-" });
  return await makeDataset(`${tmp}/${name}`, { train, val, classes: 10, size: cfg.storedSize });
}

Deno.test(
  "the tiny config memorises 64 images (train top-1 error 0) within 300 steps",
  GPU_TEST,
  async () => {
    const ds = await dataset("memorise", 64, 8);
    const columns = (await gpuColumns()).columns.slice(0, 1);
    const net = await AlexNet.create({ config: cfg, batch: BATCH, columns, seed: 1 });
    net.writeParameters(initParameters(cfg, 1, { scheme: SMALL.init }));
    net.clearMomentum();
    const step = await TrainStep.create(net, { mean: ds.mean, inputScale: SMALL.inputScale });
    const loader = new Loader(ds, "train", { batch: BATCH, seed: 1, workers: 0 });
    let steps = 0, error = 1;
    const history: string[] = [];
    try {
      for (let epoch = 0; steps < 300 && error > 0; epoch++) {
        loader.epoch = epoch;
        for await (const b of loader) {
          const r = await step.run(b, { step: steps++, hyper: { lr: 0.003 } }); // dropout on
          assert.ok(Number.isFinite(r.loss), `step ${steps}: loss ${r.loss}`);
        }
        if (epoch % 2 === 1) {
          error = (await evaluate(step, ds, { split: "train" })).top1Error;
          history.push(`${steps}: ${error.toFixed(3)}`);
        }
      }
    } finally {
      loader.close();
      step.dispose();
      net.dispose();
    }
    assert.equal(error, 0, `train top-1 error after ${steps} steps: ${history.join(", ")}`);
  },
);

Deno.test(
  "a run interrupted and resumed from its checkpoint repeats the uninterrupted losses",
  GPU_TEST,
  async () => {
    const ds = await dataset("resume", 24, 8); // 6 steps per epoch
    const columns = (await gpuColumns()).columns; // two columns: exchanges in every step
    const base: TrainOptions = {
      dataset: ds,
      config: cfg,
      columns,
      batch: BATCH,
      epochs: 2,
      lr: 0.003,
      seed: 5,
      workers: 0,
      ...SMALL,
    };
    const whole = await train({ ...base, out: `${tmp}/whole` });
    assert.equal(whole.steps, 12);
    // Interrupted mid-epoch 2 (step 8), then resumed: the loader skips the done batches and
    // every random draw (order, crops, flips, lighting, dropout) is keyed by counters.
    const first = await train({ ...base, out: `${tmp}/parts`, maxSteps: 8, checkpointEvery: 4 });
    assert.equal(first.stopped, true);
    const ck = await loadCheckpoint(`${tmp}/parts/checkpoint`, { expectConfig: cfg });
    assert.equal(ck.state.step, 8);
    const rest = await train({ ...base, out: `${tmp}/parts`, resume: `${tmp}/parts/checkpoint` });
    assert.deepEqual([...first.losses, ...rest.losses], whole.losses);
    const a = await loadCheckpoint(`${tmp}/whole/checkpoint`),
      b = await loadCheckpoint(`${tmp}/parts/checkpoint`);
    for (const [name, w] of a.weights) assert.deepEqual(b.weights.get(name), w, name);
    assert.deepEqual(rest.evaluation, whole.evaluation);
    // A mismatched run is refused with a message naming what differs.
    await assert.rejects(
      () => train({ ...base, seed: 6, resume: `${tmp}/parts/checkpoint` }),
      /trained with seed 5, this run has 6/,
    );
  },
);

Deno.test(
  "a NaN loss stops training with a clear message and keeps the last good checkpoint",
  GPU_TEST,
  async () => {
    const ds = await dataset("resume", 24, 8);
    const columns = (await gpuColumns()).columns.slice(0, 1);
    const out = `${tmp}/diverge`;
    const err = await train({
      dataset: ds,
      config: cfg,
      columns,
      batch: BATCH,
      epochs: 2,
      lr: 1e6, // the first update throws the weights far out; the next loss is NaN
      workers: 0,
      out,
      checkpointEvery: 1,
      ...SMALL,
    }).then(() => null, (e) => e);
    assert.ok(err instanceof DivergenceError, `expected a DivergenceError, got ${err}`);
    assert.match(err.message, /training diverged: loss is (NaN|-?Infinity) at epoch 1, step \d+/);
    assert.match(
      err.message,
      new RegExp(`last good checkpoint is ${out}/checkpoint \\(step ${err.step - 1}\\)`),
    );
    const ck = await loadCheckpoint(`${out}/checkpoint`, { expectConfig: cfg });
    assert.equal(ck.state.step, err.step - 1);
    for (const [name, w] of ck.weights) {
      assert.ok(w.every(Number.isFinite), `${name} is not finite`);
    }
  },
);

Deno.test(
  "predict classifies image files with a trained checkpoint (centre and 10-crop)",
  GPU_TEST,
  async () => {
    const { encodeImage } = await import("../data/decode.ts");
    const { predict } = await import("../model/cli_predict.ts");
    const files: string[] = [];
    for (let i = 0; i < BATCH; i++) {
      const [w, h] = [40 + 8 * i, 36 + 4 * i]; // non-square: decode resizes and centre-crops
      const data = new Uint8Array(w * h * 3).map((_, j) => (j * (7 + i)) % 256);
      const file = `${tmp}/img${i}.${i % 2 ? "jpg" : "png"}`;
      await Deno.writeFile(
        file,
        await encodeImage({ data, width: w, height: h, channels: 3 }, {
          kind: i % 2 ? "jpeg" : "png",
        }),
      );
      files.push(file);
    }
    const checkpoint = `${tmp}/parts/checkpoint`;
    for (const tenCrop of [false, true]) {
      const preds = await predict(checkpoint, files, { tenCrop });
      assert.deepEqual(preds.map((p) => p.file), files);
      for (const p of preds) {
        assert.equal(p.top.length, 5);
        const probs = p.top.map((t) => t.probability);
        assert.ok(
          probs.every((v, i) => v > 0 && v <= 1 && (i === 0 || v <= probs[i - 1])),
          `${probs}`,
        );
        assert.ok(probs.reduce((a, b) => a + b) <= 1 + 1e-5);
        assert.match(p.top[0].name, /^class\d$/); // the dataset's class names come with the checkpoint
      }
    }
    await assert.rejects(
      () => predict(checkpoint, [`${tmp}/missing.jpg`]),
      /missing.jpg: cannot read the image/,
    );
    // --grid: one cell per image, decoded back from the PNG the CLI wrote.
    const { main } = await import("../model/cli_predict.ts");
    const { decodeRaw } = await import("../data/decode.ts");
    const { predictionGrid } = await import("../viz/grid.ts");
    const grid = `${tmp}/grid.png`;
    assert.equal(await main(["--checkpoint", checkpoint, "--grid", grid, ...files]), 0);
    const png = await decodeRaw(await Deno.readFile(grid));
    const preds = await predict(checkpoint, files, {});
    const layout = predictionGrid(preds.map((p) => ({
      image: p.image,
      width: p.size,
      height: p.size,
      top5: p.top.map((t) => ({ name: t.name, p: t.probability })),
    })));
    assert.equal(layout.cells.length, files.length);
    assert.deepEqual([png.width, png.height], [layout.width, layout.height]);
  },
);

Deno.test(
  "greyscale data: eigenvalues clamped at 0, lighting off, the weights stay finite",
  GPU_TEST,
  async () => {
    const dir = `${tmp ??= await Deno.makeTempDir({ prefix: "alexnet-model-test-" })}/grey`;
    const grey = await makeDataset(dir, {
      train: 16,
      val: 4,
      classes: 10,
      size: cfg.storedSize,
      grey: true,
    });
    assert.equal(grey.pca.colour, false);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.ok(report.warnings.some((w: string) => /no colour/.test(w)), `${report.warnings}`);
    // Fashion-MNIST's index held eigenvalues [22352, 0, -3.1e-13] and no colour flag; the
    // square root of the last one is NaN, which made every weight NaN on the first step.
    const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
    index.pca.eigvals = [22352, 0, -3.1e-13];
    delete index.pca.colour;
    await Deno.writeTextFile(`${dir}/index.json`, JSON.stringify(index));
    const ds = await openPrepared(dir);
    assert.deepEqual([...ds.pca.eigvals], [22352, 0, 0]);
    assert.equal(ds.pca.colour, false);
    const events: TrainEvent[] = [];
    const r = await train({
      dataset: ds,
      config: cfg,
      columns: (await gpuColumns()).columns.slice(0, 1),
      batch: BATCH,
      epochs: 1,
      lr: 0.01,
      workers: 0,
      out: `${dir}-run`,
      onEvent: (e) => void events.push(e),
      ...SMALL,
    });
    assert.equal(r.steps, 4);
    // The first step compiles the shaders: no ETA from it; then the recent steps' rate.
    const etas = events.flatMap((e) => e.type === "step" ? [e.etaMs] : []);
    assert.equal(etas[0], undefined);
    assert.ok(etas.slice(1).every((t) => t !== undefined && t >= 0), `${etas}`);
    assert.equal(etas[3], 0); // nothing left after the last step
    const start = events.find((e) => e.type === "start");
    assert.equal(start?.type === "start" && start.lighting, false);
    const ck = await loadCheckpoint(`${dir}-run/checkpoint`, { expectConfig: cfg });
    for (const [name, w] of ck.weights) assert.ok(w.every(Number.isFinite), `${name} not finite`);
  },
);

Deno.test(
  "weights that go NaN while the loss stays finite stop training before evaluation and save",
  GPU_TEST,
  async () => {
    // One NaN pixel in the mean image, as the NaN lighting of greyscale data once gave:
    // on this adapter max(NaN, 0) is 0, so the ReLUs hide the NaN from the loss, which
    // stays finite, while conv1's weight gradient (input x output gradient) is NaN.
    const ds = await dataset("nan-weights", 8, 4);
    const mean = ds.mean.slice();
    mean[0] = NaN;
    const events: TrainEvent[] = [];
    const out = `${tmp}/nan-weights-run`;
    const run = train({
      dataset: { ...ds, mean },
      config: cfg,
      columns: (await gpuColumns()).columns.slice(0, 1),
      batch: BATCH,
      epochs: 1,
      maxSteps: 1,
      lr: 0.01,
      workers: 0,
      out,
      onEvent: (e) => void events.push(e),
      ...SMALL,
    });
    await assert.rejects(run, (e) => {
      assert.ok(e instanceof DivergenceError, String(e));
      assert.match(
        e.message,
        /^training diverged: NaN or infinite values in conv1\.weight \(\d+\).* by step 1 \(lr 0\.01\); stopped\. No checkpoint was written\.$/,
      );
      assert.equal(e.step, 1);
      return true;
    });
    const steps = events.filter((e) => e.type === "step");
    assert.equal(steps.length, 1);
    assert.ok(steps[0].type === "step" && Number.isFinite(steps[0].loss));
    // No evaluation, no checkpoint.
    assert.deepEqual(events.filter((e) => e.type === "evaluation" || e.type === "checkpoint"), []);
    assert.equal(await Deno.stat(`${out}/checkpoint`).catch(() => null), null);
  },
);

Deno.test(
  "learning: a seeded 2-epoch run with the tiny recipe cuts validation error far below chance",
  GPU_TEST,
  async () => {
    // 10 classes (chance: 90% error), 640 training images, 100 held out; the recipe
    // `deno task train` uses for tiny, at batch 4 with the rate scaled down with the batch.
    const ds = await dataset("learn", 640, 100);
    const recipe = recipeFor("tiny");
    const evaluations: number[] = [];
    const r = await train({
      dataset: ds,
      config: cfg,
      columns: (await gpuColumns()).columns,
      batch: BATCH,
      epochs: 2,
      schedule: "step",
      stepEpochs: 1, // ÷10 for the last epoch, as the default run does
      seed: 3,
      workers: 0,
      ...recipe,
      lr: recipe.lr / 4,
      onEvent: (e) => {
        if (e.type === "evaluation") evaluations.push(e.top1Error);
      },
    });
    assert.equal(r.steps, 320);
    assert.ok(
      r.evaluation!.top1Error <= 0.6,
      `validation top-1 error ${evaluations.join(" -> ")} (chance 0.9)`,
    );
  },
);

Deno.test(
  "maxSteps stops mid-epoch with an evaluation and a checkpoint at that step",
  GPU_TEST,
  async () => {
    const ds = await dataset("resume", 24, 8); // 6 steps per epoch
    const events: string[] = [];
    const r = await train({
      dataset: ds,
      config: cfg,
      columns: (await gpuColumns()).columns.slice(0, 1),
      batch: BATCH,
      epochs: 3,
      maxSteps: 9,
      workers: 0,
      out: `${tmp}/steps`,
      onEvent: (e) => void events.push(`${e.type}@${"step" in e ? e.step : 0}`),
      ...SMALL,
    });
    assert.deepEqual([r.steps, r.epochs, r.stopped], [9, 1, true]);
    assert.deepEqual(events.filter((e) => !e.startsWith("step@")), [
      "start@0",
      "epoch@6",
      "evaluation@6",
      "checkpoint@6",
      "evaluation@9",
      "checkpoint@9",
    ]);
    assert.equal(r.evaluation?.count, 8);
    const ck = await loadCheckpoint(`${tmp}/steps/checkpoint`, { expectConfig: cfg });
    assert.equal(ck.state.step, 9);
  },
);

Deno.test("cleanup", () => {
  if (tmp) Deno.removeSync(tmp, { recursive: true });
});
