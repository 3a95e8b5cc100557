import assert from "node:assert/strict";
import { decodeRaw } from "../data/decode.ts";
import { main } from "../viz/cli_curves.ts";
import {
  curvesSvg,
  niceTicks,
  parseMetricsLog,
  readMetricsLog,
  renderCurves,
} from "../viz/curves.ts";

/** A log in train()'s format: 2 epochs of 4 steps, lr /10 after epoch 1, one evaluation. */
function syntheticLog(): string {
  const ev: object[] = [{
    time: 1,
    type: "start",
    config: "tiny",
    columns: 2,
    batch: 8,
    stepsPerEpoch: 4,
    epochs: 2,
    totalSteps: 8,
    memory: [1, 1],
  }];
  for (let step = 1; step <= 8; step++) {
    const epoch = Math.floor((step - 1) / 4);
    ev.push({
      time: step,
      type: "step",
      epoch,
      step,
      stepInEpoch: ((step - 1) % 4) + 1,
      stepsPerEpoch: 4,
      loss: 3 - 0.25 * step,
      top1Error: 0.9 - 0.05 * step,
      top5Error: 0.5 - 0.05 * step,
      lr: step <= 4 ? 0.01 : 0.001,
      imagesPerSecond: 100,
      etaMs: 0,
      stepMs: 10,
    });
    if (step % 4 === 0) {
      ev.push({
        type: "epoch",
        epoch,
        step,
        loss: 2.5 - epoch,
        top1Error: 0.8 - 0.2 * epoch,
        top5Error: 0.4 - 0.2 * epoch,
        lr: 0.01,
        seconds: 1,
      });
      ev.push({ type: "checkpoint", dir: "x", epoch: epoch + 1, step });
    }
    if (step === 4) ev.push({ type: "lr", epoch: 1, lr: 0.001, reason: "step schedule" });
  }
  ev.push({
    type: "evaluation",
    epoch: 1,
    step: 8,
    split: "val",
    top1Error: 0.5,
    top5Error: 0.125,
    loss: 1.25,
    count: 10,
    tenCrop: false,
  });
  return ev.map((e) => JSON.stringify(e)).join("\n") + "\n";
}

/** The points of a polyline in the SVG, by its data-series id. */
function series(svg: string, id: string): [number, number][] {
  const m = svg.match(new RegExp(`<polyline data-series="${id}" points="([^"]*)"`));
  assert.ok(m, `no polyline ${id}`);
  return m[1] ? m[1].split(" ").map((p) => p.split(",").map(Number) as [number, number]) : [];
}

Deno.test("niceTicks: 1-2-5 steps covering the range", () => {
  assert.deepEqual(niceTicks(0, 2, 2), [0, 1, 2]);
  assert.deepEqual(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(1.4, 2.8, 5), [1.4, 1.6, 1.8, 2, 2.2, 2.4, 2.6, 2.8]);
  assert.deepEqual(niceTicks(3, 3), [3]);
});

Deno.test("parseMetricsLog: steps, epochs and evaluations on an epoch axis", () => {
  const log = parseMetricsLog(syntheticLog());
  assert.equal(log.stepsPerEpoch, 4);
  assert.equal(log.description, "tiny, 2 column(s), batch 8");
  assert.deepEqual(log.steps.map((p) => p.x), [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
  assert.deepEqual(log.steps.map((p) => p.lr), [0.01, 0.01, 0.01, 0.01, 1e-3, 1e-3, 1e-3, 1e-3]);
  assert.deepEqual(log.epochs.map((p) => [p.x, p.loss]), [[1, 2.5], [2, 1.5]]);
  assert.deepEqual(log.evals.map((p) => [p.x, p.top1, p.top5, p.loss]), [[2, 0.5, 0.125, 1.25]]);
  assert.deepEqual(log.warnings, []);

  // A resumed run replays steps 3-4 with other values: the later lines win.
  const resumed = syntheticLog() +
    JSON.stringify({ type: "step", step: 3, stepsPerEpoch: 4, epoch: 0, loss: 9, lr: 0.01 }) + "\n";
  assert.equal(parseMetricsLog(resumed).steps.find((p) => p.step === 3)!.loss, 9);

  // Without any step count (no start/step events), epoch events place themselves.
  const epochsOnly = parseMetricsLog(
    '{"type":"epoch","epoch":0,"step":10,"loss":2}\n{"type":"evaluation","epoch":0,"step":10,"loss":1.5,"top1Error":0.5}\n',
  );
  assert.deepEqual(epochsOnly.epochs.map((p) => p.x), [1]);
  assert.deepEqual(epochsOnly.evals.map((p) => p.x), [1]);

  // A diverged step's NaN loss is JSON null: kept out of the series, not an error.
  const nan = parseMetricsLog(
    '{"type":"step","step":1,"stepsPerEpoch":2,"epoch":0,"loss":null,"lr":0.01}\n',
  );
  assert.equal(nan.steps[0].loss, undefined);
});

Deno.test("parseMetricsLog: malformed logs name the file and line", () => {
  const good = syntheticLog().split("\n");
  const bad = [...good.slice(0, 2), "{not json", ...good.slice(2)].join("\n");
  assert.throws(
    () => parseMetricsLog(bad, "run/metrics.jsonl"),
    /run\/metrics\.jsonl:3: not valid JSON/,
  );
  assert.throws(
    () => parseMetricsLog('{"type":"start"}\n{"type":"lr","lr":0.1}\n'),
    /metrics\.jsonl: no step, epoch or evaluation events in 2 line\(s\)/,
  );
  assert.throws(() => parseMetricsLog(""), /no step, epoch or evaluation events in 0 line/);
  assert.throws(() => parseMetricsLog("[1,2]\n"), /metrics\.jsonl:1: expected an event object/);
  assert.throws(
    () => parseMetricsLog('\n{"type":"step","loss":1}\n'),
    /metrics\.jsonl:2: "step" event has no numeric "step"/,
  );
  assert.throws(
    () => parseMetricsLog('{"type":"step","step":1,"loss":"low"}\n'),
    /:1: "step" event's "loss" is "low", not a number/,
  );
  // A killed run's unfinished last line is skipped with a warning.
  const cut = syntheticLog() + '{"type":"step","step":9,"lo';
  const log = parseMetricsLog(cut, "m.jsonl");
  assert.equal(log.steps.length, 8);
  assert.match(log.warnings[0], /m\.jsonl:\d+: skipped an unfinished last line/);
});

Deno.test("curvesSvg: polylines at the computed positions, labels and legend", () => {
  const svg = curvesSvg(parseMetricsLog(syntheticLog()));
  // Plot x from 78 to 900 - 210 = 690 px, 0..2 epochs.
  const steps = series(svg, "train-loss-step");
  assert.equal(steps.length, 8);
  assert.deepEqual(
    steps.map(([x]) => x),
    [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2].map((e) => 78 + e * 306),
  );
  for (let i = 1; i < 8; i++) assert.ok(steps[i][1] > steps[i - 1][1], "falling loss goes down");
  assert.deepEqual(series(svg, "train-loss").map(([x]) => x), [384, 690]);
  assert.deepEqual(series(svg, "val-loss").map(([x]) => x), [690]);
  assert.equal(series(svg, "val-top1").length, 1);
  assert.equal(series(svg, "val-top5").length, 1);
  assert.equal(series(svg, "train-top1").length, 2);
  const lr = series(svg, "lr");
  assert.equal(lr.length, 8);
  // Log scale: lr 0.01 -> 0.001 is one decade; axis 1e-4..1e-1 over 150 px = 50 px/decade.
  assert.ok(Math.abs(lr[4][1] - lr[3][1] - 50) < 0.2, `${lr[3][1]} -> ${lr[4][1]}`);
  // Validation top-1 50% sits above (smaller y than) validation top-5 12.5%.
  assert.ok(series(svg, "val-top1")[0][1] < series(svg, "val-top5")[0][1]);
  for (
    const label of [
      "Training curves — tiny, 2 column(s), batch 8",
      ">Loss<",
      ">Error<",
      ">Learning rate<",
      ">cross-entropy<",
      ">error (%)<",
      ">lr (log scale)<",
      ">epoch<",
      ">validation top-1<",
      ">train top-5 (epoch mean)<",
      ">0.001<",
      ">100%<",
    ]
  ) {
    assert.ok(svg.includes(label), `missing ${label}`);
  }
});

Deno.test("renderCurves: PNG of the documented size", async () => {
  const png = await renderCurves(parseMetricsLog(syntheticLog()), { width: 700 });
  const img = await decodeRaw(png);
  // 66 title + 230 + 230 + 150 panels + 2 x 58 between + 48 below.
  assert.deepEqual([img.width, img.height], [700, 840]);
});

Deno.test("cli curves: reads a run folder, writes PNG and SVG; exit 1 and 2 on bad input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, syntheticLog());
    assert.equal((await readMetricsLog(dir)).steps.length, 8);
    assert.equal((await readMetricsLog(`${dir}/metrics.jsonl`)).steps.length, 8);
    await assert.rejects(readMetricsLog(`${dir}/nope`), /nope does not exist/);
    const out = `${dir}/c.png`, svg = `${dir}/c.svg`;
    assert.equal(await main(["--run", dir, "--out", out, "--svg", svg]), 0);
    assert.equal((await decodeRaw(await Deno.readFile(out))).width, 900);
    assert.match(await Deno.readTextFile(svg), /data-series="val-loss"/);
    await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"type":"step","step":1}\n{oops\n');
    assert.equal(await main(["--run", `${dir}/bad.jsonl`, "--out", out]), 1);
    assert.equal(await main(["--run", `${dir}/missing`, "--out", out]), 1);
    assert.equal(await main(["--run", dir, "--frobnicate"]), 2);
    assert.equal(await main(["--out", out]), 2, "missing --run");
    assert.equal(await main(["--run", dir, "--width", "12"]), 2);
    assert.equal(await main(["--run", dir, "extra"]), 2, "no positionals");
    assert.equal(await main(["--help"]), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
