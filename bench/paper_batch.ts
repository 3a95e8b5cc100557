// The paper config at the paper's batch (128): does the loss fall or diverge? Our
// two-column network runs N steps of the paper's recipe (init N(0, 0.01) with biases 1
// in conv2/4/5 and fc6/7, SGD lr 0.01, momentum 0.9, weight decay 0.0005, dropout 0.5,
// 0..255 pixels minus the mean image) on the built-in synthetic set at 256 px; then
// PyTorch (bench/peers/torch_paper_batch.py) runs the same steps from the same initial
// weights on the same batches (same images in the same order, centre crops; random
// crops and lighting would need our random streams). Dropout masks are each side's own.
//
//   deno run --allow-all bench/paper_batch.ts [--steps 20] [--batch 128] [--columns 2]
//
// The network keeps the paper's 1000-way output; the synthetic set's 10 classes are
// labels 0..9 of it (the built-in set has 10 classes). Prints both loss sequences and
// writes them to out/bench/paper-batch<B>.json.

import { parseArgs } from "node:util";
import { openDataset } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import { openColumns } from "../kernels/columns.ts";
import { preferFastSoftwareCompiles } from "../model/software.ts";
import { intFlag } from "../flags.ts";
import { AlexNet } from "../model/alexnet.ts";
import { configFor } from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { TrainStep } from "../model/step.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string" },
    batch: { type: "string" },
    columns: { type: "string" },
    "no-torch": { type: "boolean" },
  },
});
const steps = intFlag("steps", values.steps, 1) ?? 20;
const batch = intFlag("batch", values.batch, 1) ?? 128;
const count = (intFlag("columns", values.columns, 1, 2) ?? 2) as 1 | 2;
const log = (s: string) => console.error(s);

const cfg = configFor("paper"); // 1000 classes, as in the paper
const perClass = Math.ceil((steps * batch) / 10);
log(`dataset: synthetic at ${cfg.storedSize} px, ${perClass} training images per class`);
const ds = await openDataset({
  kind: "synthetic",
  size: cfg.storedSize,
  trainPerClass: perClass,
  valPerClass: 2,
  cacheDir: `out/data/synthetic-${cfg.storedSize}-${perClass}`,
});
const work = `out/bench/paper-batch${batch}`;
await Deno.mkdir(work, { recursive: true });

const seed = 1;
const init = initParameters(cfg, seed, { scheme: "paper" });
const names = [...init.keys()];
const flat = new Float32Array(names.reduce((n, k) => n + init.get(k)!.length, 0));
let at = 0;
for (const k of names) {
  flat.set(init.get(k)!, at);
  at += init.get(k)!.length;
}
await Deno.writeFile(`${work}/init.f32`, new Uint8Array(flat.buffer));

preferFastSoftwareCompiles(); // as the train command line does (model/software.ts)
const { columns, destroy } = await openColumns({ count });
const net = await AlexNet.create({ config: cfg, batch, columns, seed });
const step = await TrainStep.create(net, { mean: ds.mean });
net.writeParameters(init, "weight");
net.clearMomentum();
log(
  `ours: paper config, batch ${batch}, ${count} column(s) [${
    columns.map((c) => c.description).join(" | ")
  }], memory ${columns.map((c) => `${(c.memory.held / 2 ** 30).toFixed(2)} GiB`).join(" + ")}`,
);
// Centre crops (no `augment`): the batches are exactly the images PyTorch is given.
const loader = new Loader(ds, "train", { batch, seed, shuffle: true, dropLast: true, workers: 2 });
const order: number[][] = [], labels: number[][] = [], ours: number[] = [], ms: number[] = [];
try {
  for await (const b of loader) {
    const t = performance.now();
    const r = await step.run(b, { step: ours.length, hyper: { lr: 0.01 } });
    ms.push(performance.now() - t);
    ours.push(r.loss);
    order.push([...b.indices]);
    labels.push([...b.labels]);
    log(
      `  ours step ${ours.length}: loss ${r.loss.toFixed(4)} (${(ms.at(-1)! / 1000).toFixed(1)} s)`,
    );
    if (ours.length >= steps) break;
  }
} finally {
  loader.close();
  step.dispose();
  net.dispose();
  destroy();
}

let torch: number[] | { error: string } = { error: "--no-torch" };
if (!values["no-torch"]) {
  const job = {
    config: cfg,
    params: names.map((n) => ({ name: n, size: init.get(n)!.length })),
    init: `${work}/init.f32`,
    data: ds.train.dir,
    order,
    lr: 0.01,
    seed,
  };
  await Deno.writeTextFile(`${work}/job.json`, JSON.stringify(job));
  log(`PyTorch: the same ${order.length} batches from the same weights`);
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [`${import.meta.dirname}/peers/torch_paper_batch.py`, `${work}/job.json`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  torch = out.success
    ? JSON.parse(new TextDecoder().decode(out.stdout)).losses
    : { error: `torch_paper_batch.py exited with ${out.code}` };
}
const sorted = [...ms].slice(1).sort((a, b) => a - b);
const report = {
  date: new Date().toISOString(),
  config: "paper",
  classes: cfg.classes,
  batch,
  columns: count,
  seed,
  recipe: "paper init, lr 0.01, momentum 0.9, weight decay 0.0005, dropout 0.5, centre crops",
  ours,
  torch,
  oursStepMs: { first: ms[0], median: sorted[sorted.length >> 1] },
};
await Deno.writeTextFile(`${work}.json`, JSON.stringify(report, null, 2) + "\n");
const f = (a: number[]) => a.map((v) => v.toFixed(3)).join(", ");
console.log(`ours:    ${f(ours)}`);
console.log(`PyTorch: ${Array.isArray(torch) ? f(torch) : torch.error}`);
console.log(`report: ${work}.json`);
