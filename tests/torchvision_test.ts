// torchvision's AlexNet as a config: a seeded random `torchvision.models.alexnet()` made
// by Debian's python3-torchvision (tests/fixtures/make_torchvision.py, run here: its
// 244 MB of weights are not kept in the repository), saved as a .pth, converted by
// tools/pth_to_safetensors.py, imported by `deno task import`; our logits must match
// torchvision's within 1e-4 relative, and `predict` on an image must give torchvision's
// own preprocessing and softmax, with ImageNet's class names.

import assert from "node:assert/strict";
import { AlexNet, Recorder } from "../model/alexnet.ts";
import { loadCheckpoint, readSafetensors } from "../model/checkpoint.ts";
import { main as importMain } from "../model/cli_import.ts";
import { predict } from "../model/cli_predict.ts";
import { IMAGENET_CLASSES } from "../data/imagenet_classes.ts";
import { assertClose } from "../reference/assert.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${text(out.stderr)}`);
  }
  return text(out.stdout);
}

async function requireTorchvision(): Promise<void> {
  const ok = await new Deno.Command(PYTHON, { args: ["-c", "import torchvision"] }).output()
    .then((o) => o.code === 0, () => false);
  assert.ok(
    ok,
    `${PYTHON} cannot import torchvision: install Debian's python3-torchvision ` +
      `(apt-get install python3-torchvision; .ci/install does)`,
  );
}

Deno.test(
  "torchvision alexnet: imported weights give torchvision's logits and predictions",
  GPU_TEST,
  async () => {
    await requireTorchvision();
    const dir = await Deno.makeTempDir({ prefix: "alexnet-torchvision-" });
    try {
      await run(PYTHON, ["tests/fixtures/make_torchvision.py", dir]);
      await run(PYTHON, ["tools/pth_to_safetensors.py", `${dir}/alexnet.pth`, `${dir}/w.st`]);
      await Deno.remove(`${dir}/alexnet.pth`);
      assert.equal(
        await importMain([
          "--config",
          "torchvision",
          "--weights",
          `${dir}/w.st`,
          "--out",
          `${dir}/ck`,
        ]),
        0,
      );
      await Deno.remove(`${dir}/w.st`);
      const expected = await readSafetensors(`${dir}/expected.safetensors`);
      const want = (k: string) => expected.tensors.get(k)!.data as Float32Array;

      // Logits of a fixed batch, fed directly (no preprocessing).
      const ck = await loadCheckpoint(`${dir}/ck`);
      assert.equal(ck.state.config.name, "torchvision");
      const columns = (await gpuColumns()).columns.slice(0, 1);
      const net = await AlexNet.create({
        config: ck.state.config,
        batch: 2,
        columns,
        inference: true,
      });
      try {
        net.writeParameters(ck.weights);
        net.io(0).input.write(want("input"));
        const rec = new Recorder(net.columns);
        await net.forward(rec, { train: false, step: 0 });
        rec.flush();
        const logits = await net.io(0).logits.read() as Float32Array;
        assertClose(logits, want("logits"), { shape: [2, 1000], rel: 1e-4, what: "logits" });
      } finally {
        net.dispose();
      }

      // predict on an image: torchvision's centre crop and normalisation, its softmax.
      const [p] = await predict(`${dir}/ck`, [`${dir}/image.png`], { top: 5 });
      const probs = want("image_probs");
      const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 5);
      assert.deepEqual(p.top.map((t) => t.label), order);
      for (const t of p.top) {
        assert.ok(
          Math.abs(t.probability - probs[t.label]) < 1e-4,
          `class ${t.label}: ${t.probability} vs torchvision's ${probs[t.label]}`,
        );
        assert.equal(t.name, IMAGENET_CLASSES[t.label]);
      }
      assert.ok(p.top[0].probability > 0.05, "the fixture's softmax is not flat");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("import names the first tensor that does not fit the config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "alexnet-import-" });
  try {
    const { writeSafetensors } = await import("../model/checkpoint.ts");
    const tensors = new Map([["features.0.weight", {
      shape: [64, 3, 11, 11],
      data: new Float32Array(64 * 363),
    }]]);
    await writeSafetensors(`${dir}/w.st`, tensors, {});
    const { importWeights } = await import("../model/cli_import.ts");
    await assert.rejects(
      () => importWeights({ config: "torchvision", weights: `${dir}/w.st`, out: `${dir}/ck` }),
      /w\.st: missing tensor "classifier\.6\.weight" \(config torchvision\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
