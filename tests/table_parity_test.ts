// Layer tables other than the built-in ones, against PyTorch: the table is written as
// JSON, tests/fixtures/torch_table.py builds it from PyTorch's own modules
// (reference/torch_alexnet.py), and the logits, loss and every parameter gradient of
// one batch must match ours (dropout off) on one and two columns. This is how a new
// layer kind or placement is checked: here the global average pool in a two-column
// network, and a one-column network with adaptive pooling over uneven windows and
// dropout before its fc layers (torchvision's arrangement, small).

import assert from "node:assert/strict";
import { AlexNet } from "../model/alexnet.ts";
import { readSafetensors, writeSafetensors } from "../model/checkpoint.ts";
import {
  type AlexNetConfig,
  configFor,
  type Layer,
  parameterShapes,
  partsOf,
  validateConfig,
} from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { TrainStep } from "../model/step.ts";
import { assertClose } from "../reference/assert.ts";
import { normal } from "../reference/rand.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** tiny with pool5 replaced by a global average pool: fc6 reads 32 features. */
function tinyGap(): AlexNetConfig {
  const cfg = configFor("tiny", 10);
  cfg.name = "tiny-gap";
  const at = cfg.layers.findIndex((l) => "name" in l && l.name === "pool5");
  cfg.layers[at] = { kind: "avgpool", name: "gap", output: 1 };
  return validateConfig(cfg);
}

/** A one-column network: conv, pool, conv, 2x2 adaptive pool of a 3x3 map, dropout, fc. */
function oneColumn(): AlexNetConfig {
  const layers: Layer[] = [
    {
      kind: "conv",
      name: "features.0",
      out: 8,
      kernel: 5,
      stride: 2,
      padding: 2,
      placement: "whole",
    },
    { kind: "relu" },
    { kind: "maxpool", name: "features.2", size: 3, stride: 2 },
    {
      kind: "conv",
      name: "features.3",
      out: 12,
      kernel: 3,
      stride: 1,
      padding: 1,
      placement: "whole",
    },
    { kind: "relu" },
    { kind: "avgpool", name: "avgpool", output: 2 },
    { kind: "flatten" },
    { kind: "dropout", name: "classifier.0", p: 0.5 },
    { kind: "fc", name: "classifier.1", out: 24, placement: "whole" },
    { kind: "relu" },
    { kind: "fc", name: "classifier.2", out: "classes", placement: "whole" },
  ];
  return validateConfig({
    name: "one",
    inputSize: 16,
    storedSize: 16,
    inChannels: 3,
    classes: 5,
    layers,
  });
}

async function torchRun(
  cfg: AlexNetConfig,
  weights: Map<string, Float32Array>,
  input: Float32Array,
  labels: Int32Array,
) {
  const dir = await Deno.makeTempDir({ prefix: "alexnet-table-" });
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>();
    for (const p of parameterShapes(cfg)) {
      tensors.set(p.name, { shape: p.shape, data: weights.get(p.name)! });
    }
    tensors.set("input", { shape: [labels.length, 3, cfg.inputSize, cfg.inputSize], data: input });
    tensors.set("labels", { shape: [labels.length], data: labels });
    await writeSafetensors(`${dir}/in.st`, tensors, {});
    await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
    const out = await new Deno.Command("/usr/bin/python3", {
      args: ["tests/fixtures/torch_table.py", `${dir}/cfg.json`, `${dir}/in.st`, `${dir}/out.st`],
      cwd: ROOT,
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, `torch_table.py: ${new TextDecoder().decode(out.stderr)}`);
    const { tensors: got } = await readSafetensors(`${dir}/out.st`);
    return (k: string) => got.get(k)!.data as Float32Array;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const make of [tinyGap, oneColumn]) {
  const cfg = make();
  Deno.test(
    `layer table "${cfg.name}" matches PyTorch: logits, loss, every gradient`,
    GPU_TEST,
    async () => {
      const batch = 3;
      const weights = initParameters(cfg, 5, { scheme: "kaiming" });
      const input = normal(batch * 3 * cfg.inputSize ** 2, 6, 50);
      const labels = Int32Array.from({ length: batch }, (_, i) => (i * 3) % cfg.classes);
      const want = await torchRun(cfg, weights, input, labels);
      const counts = partsOf(cfg) === 2 ? [1, 2] as const : [1] as const;
      for (const count of counts) {
        const columns = (await gpuColumns()).columns.slice(0, count);
        const net = await AlexNet.create({ config: cfg, batch, columns, dropout: 0 });
        try {
          net.writeParameters(weights);
          net.clearMomentum();
          const step = await TrainStep.create(net, {
            mean: new Float32Array(3 * cfg.storedSize ** 2),
          });
          const r = await step.runInput(input, labels, {
            step: 0,
            hyper: { lr: 0.01 },
            update: false,
          });
          step.dispose();
          const what = `${cfg.name} on ${count} column(s)`;
          assertClose(await net.io(0).logits.read() as Float32Array, want("logits"), {
            rel: 1e-4,
            what: `${what} logits`,
          });
          assert.ok(
            Math.abs(r.loss - want("loss")[0]) < 1e-4 * Math.abs(want("loss")[0]),
            `${what} loss ${r.loss}`,
          );
          const grads = await net.readParameters("grad");
          for (const p of parameterShapes(cfg)) {
            assertClose(grads.get(p.name)!, want(`grad.${p.name}`), {
              shape: p.shape,
              rel: 1e-3,
              what: `${what} grad ${p.name}`,
            });
          }
        } finally {
          net.dispose();
        }
      }
    },
  );
}
