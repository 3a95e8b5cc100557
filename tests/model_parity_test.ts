// Parity with PyTorch (tests/fixtures/make_golden.py, an independent implementation):
// the tiny config's logits, loss and every parameter gradient from the same weights and
// batch, dropout disabled; and one step of the paper's SGD update.

import assert from "node:assert/strict";
import { AlexNet } from "../model/alexnet.ts";
import { readSafetensors } from "../model/checkpoint.ts";
import { type AlexNetConfig, parameterShapes, validateConfig } from "../model/config.ts";
import { TrainStep } from "../model/step.ts";
import { assertClose, relError } from "../reference/assert.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

async function fixture(name: string) {
  const f = await readSafetensors(new URL(name, FIXTURES).pathname);
  const cfg = validateConfig(JSON.parse(f.metadata.config));
  const get = (k: string) => {
    const t = f.tensors.get(k);
    if (!t) throw new Error(`${name}: no tensor ${k}`);
    return t;
  };
  return { cfg, get };
}

/** Runs forward + backward (+ optionally one SGD step) on `count` columns. */
async function run(
  cfg: AlexNetConfig,
  get: (k: string) => { data: Float32Array | Int32Array },
  count: 1 | 2,
  update: boolean,
  winogradMinPairs?: number,
) {
  const columns = (await gpuColumns()).columns.slice(0, count);
  const net = await AlexNet.create({
    config: cfg,
    batch: 4,
    columns,
    dropout: 0,
    winogradMinPairs,
  });
  const weights = new Map(
    parameterShapes(cfg).map((p) => [p.name, get(p.name).data as Float32Array]),
  );
  net.writeParameters(weights);
  net.clearMomentum();
  const step = await TrainStep.create(net, { mean: new Float32Array(3 * cfg.storedSize ** 2) });
  const input = get("input").data as Float32Array;
  const labels = get("labels").data as Int32Array;
  const r = await step.runInput(input, labels, { step: 0, hyper: { lr: 0.01 }, update });
  const logits = await net.io(0).logits.read() as Float32Array;
  const grads = await net.readParameters("grad");
  const after = await net.readParameters("weight");
  step.dispose();
  net.dispose();
  return { loss: r.loss, logits, grads, after };
}

// The paper-init fixture (weights N(0, 0.01), biases 1) makes the conv weight gradients
// below conv5 ill-conditioned in float32: they are small sums of large terms of both
// signs. PyTorch itself in float32 misses its own float64 reference there by up to
// 5.5e-3 (measured: conv1.weight 5.5e-3, conv2.weight 4.1e-3, conv3.bias 3.4e-3, conv5.weight
// 1.5e-4), so no float32 implementation meets 1e-3. Those tensors get 5e-2 on that fixture;
// the wide fixture (well-conditioned: PyTorch float32 within 1e-6) checks every gradient
// at 1e-3.
const ILL_CONDITIONED = /^conv[1-5]\.weight$|^conv[1-3]\.bias$/;

function gradTolerance(file: string, name: string): number {
  return file === "tiny_golden.safetensors" && ILL_CONDITIONED.test(name) ? 5e-2 : 1e-3;
}

// The tiny net's convs are too narrow for "auto" to pick Winograd; the last case forces it
// on every conv it applies to (conv1/conv2 F(3x3, 5x5), conv3-5 F(4x4, 3x3)).
const CASES: [string, 1 | 2, number | undefined][] = [
  ["tiny_golden.safetensors", 2, undefined],
  ["tiny_golden_wide.safetensors", 1, undefined],
  ["tiny_golden_wide.safetensors", 2, undefined],
  ["tiny_golden_wide.safetensors", 2, 0],
];

for (const [file, count, winogradMinPairs] of CASES) {
  const algo = winogradMinPairs === 0 ? ", every conv by Winograd" : "";
  Deno.test(
    `${file} on ${count} column(s)${algo}: logits, loss and gradients match PyTorch`,
    GPU_TEST,
    async () => {
      const { cfg, get } = await fixture(file);
      const ref = {
        logits: get("logits").data as Float32Array,
        loss: (get("loss").data as Float32Array)[0],
      };
      const got = await run(cfg, get, count, true, winogradMinPairs);
      const lines = [
        `${file} (${count} col${algo}): logits ${
          relError(got.logits, ref.logits).toExponential(2)
        }, loss ${(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toExponential(2)}`,
      ];
      assertClose(got.logits, ref.logits, { rel: 1e-4, what: "logits", shape: [4, cfg.classes] });
      assert.ok(
        Math.abs(got.loss - ref.loss) <= 1e-4 * Math.abs(ref.loss),
        `loss ${got.loss} vs ${ref.loss}`,
      );
      for (const p of parameterShapes(cfg)) {
        const want = get(`grad.${p.name}`).data as Float32Array;
        lines.push(`  grad.${p.name} ${relError(got.grads.get(p.name)!, want).toExponential(2)}`);
        assertClose(got.grads.get(p.name)!, want, {
          rel: gradTolerance(file, p.name),
          what: `grad.${p.name}`,
          shape: p.shape,
        });
      }
      if (file.includes("wide")) {
        for (const p of parameterShapes(cfg)) {
          const want = get(`sgd.${p.name}`).data as Float32Array;
          lines.push(`  sgd.${p.name} ${relError(got.after.get(p.name)!, want).toExponential(2)}`);
          assertClose(got.after.get(p.name)!, want, {
            rel: 1e-5,
            what: `sgd.${p.name}`,
            shape: p.shape,
          });
        }
      }
      if (Deno.env.get("PARITY_REPORT")) console.log(lines.join("\n"));
    },
  );
}
