// The page of `deno task web` in a real browser: headless Chromium (its WebGPU runs on
// SwiftShader here) against this process's Deno (lavapipe), on the same checkpoint,
// images and seed. The page's top-5 probabilities are `predict`'s, its first training
// steps' losses are a TrainSession's in Deno (itself checked against train() in
// session_test.ts), the checkpoint it downloads loads in Deno with the weights Deno
// trained, and it logs no console errors. A screenshot goes to out/browser.png (the
// README's, of a longer run, comes from web/screenshot.ts).
//
// Without Chromium this test FAILS, saying how to install it.

import assert from "node:assert/strict";
import { fetchDataset } from "../data/memory.ts";
import { encodeImage } from "../data/decode.ts";
import { ensureSynthetic } from "../data/synthetic.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { predict } from "../model/cli_predict.ts";
import { configFor } from "../model/config.ts";
import { recipeFor } from "../model/recipe.ts";
import { TrainSession } from "../model/session.ts";
import { serveWeb } from "../web/server.ts";
import { launchChromium } from "../web/_chromium.ts";
import { GPU_TEST, gpuColumns } from "./_gpu.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const STEPS = 3, BATCH = 8, SEED = 1;

Deno.test("the web page classifies and trains as Deno does", GPU_TEST, async () => {
  const tmp = await Deno.makeTempDir({ prefix: "alexnet-browser-" });
  const data = await ensureSynthetic({
    size: 36,
    cacheDir: `${tmp}/data`,
    trainPerClass: 3,
    valPerClass: 1,
    progress: "quiet",
  });
  // Deno's run: the reference losses, and the checkpoint the page classifies with.
  const ds = await fetchDataset(new URL(`file://${data}/`));
  const session = await TrainSession.create({
    dataset: ds,
    config: configFor("tiny", 10),
    columns: (await gpuColumns()).columns,
    batch: BATCH,
    seed: SEED,
    ...recipeFor("tiny"),
    schedule: "step",
    stepEpochs: 9,
  });
  const losses: number[] = [];
  for (let i = 0; i < STEPS; i++) losses.push((await session.next()).loss);
  const files = await session.checkpoint();
  const denoConv1 = (await session.net.readParameters("weight")).get("conv1.weight")!;
  session.dispose();
  const ck = `${tmp}/checkpoint`;
  await Deno.mkdir(ck);
  await Deno.writeFile(`${ck}/model.safetensors`, files.model);
  await Deno.writeFile(`${ck}/optimizer.safetensors`, files.optimizer);
  await Deno.writeFile(`${ck}/state.json`, files.state);
  // Stored-size PNGs (the validation images): no resampling on either side.
  const S = 36, bytes = S * S * 3, images: { name: string; path: string }[] = [];
  for (let i = 0; i < 4; i++) {
    const name = `${ds.classes[ds.val.labels[i * 3]]}-${i}.png`;
    const rgb = ds.val.images.slice(i * 3 * bytes, (i * 3 + 1) * bytes);
    await Deno.writeFile(
      `${tmp}/${name}`,
      await encodeImage({ data: rgb, width: S, height: S, channels: 3 }, { kind: "png" }),
    );
    images.push({ name, path: `${tmp}/${name}` });
  }
  const want = await predict(ck, images.map((im) => im.path), { top: 10 });

  const server = await serveWeb({ port: 0, data, checkpoint: ck });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(300_000); // SwiftShader compiles every pipeline at first use
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await page.waitForFunction("window.alexnet !== undefined");
    const adapters = await page.evaluate("window.alexnet.adapters()") as string[];
    assert.equal(adapters.length, 1); // the page runs one column (web/app.ts)

    // Classification: the page's top-5 are predict's, within 1e-4.
    // The page opened ?checkpoint= at load; opening it again waits for it.
    const classes = await page.evaluate("window.alexnet.openCheckpoint('/checkpoint/')");
    assert.deepEqual(classes, ds.classes);
    const payload = await Promise.all(images.map(async (im) => ({
      name: im.name,
      base64: btoa(String.fromCharCode(...await Deno.readFile(im.path))),
    })));
    const got = await page.evaluate(
      `window.alexnet.classify(${JSON.stringify(payload)})`,
    ) as { file: string; top: { label: number; name: string; probability: number }[] }[];
    assert.equal(got.length, images.length);
    got.forEach((g, i) => {
      assert.equal(g.top.length, 5);
      const deno = new Map(want[i].top.map((t) => [t.label, t.probability]));
      g.top.forEach((t, r) => {
        const p = deno.get(t.label)!;
        assert.ok(
          Math.abs(t.probability - p) <= 1e-4,
          `${g.file} ${t.name}: ${t.probability} vs ${p}`,
        );
        // Rank r holds Deno's r-th probability (ties within 1e-4 may swap labels).
        const pr = want[i].top[r].probability;
        assert.ok(
          Math.abs(t.probability - pr) <= 1e-4,
          `${g.file} rank ${r}: ${t.probability} vs ${pr}`,
        );
      });
    });

    // Training: the same seed gives Deno's losses, within 1e-4.
    const pageLosses = await page.evaluate(
      `window.alexnet.train({ steps: ${STEPS}, batch: ${BATCH}, seed: ${SEED} })`,
    ) as number[];
    assert.equal(pageLosses.length, STEPS);
    pageLosses.forEach((l, i) => {
      assert.ok(Math.abs(l - losses[i]) <= 1e-4, `step ${i}: page ${l}, Deno ${losses[i]}`);
    });

    // The downloaded checkpoint is a folder predict loads, holding Deno's weights.
    const tarBytes = Uint8Array.from(
      atob(await page.evaluate("window.alexnet.checkpointTar()") as string),
      (c) => c.charCodeAt(0),
    );
    await Deno.writeFile(`${tmp}/page.tar`, tarBytes);
    const untar = await new Deno.Command("tar", { args: ["xf", "page.tar"], cwd: tmp }).output();
    assert.equal(untar.code, 0, new TextDecoder().decode(untar.stderr));
    const loaded = await loadCheckpoint(`${tmp}/alexnet-tiny-step${STEPS}`);
    assert.equal(loaded.state.step, STEPS);
    const conv1 = loaded.weights.get("conv1.weight")!;
    const worst = conv1.reduce((m, v, i) => Math.max(m, Math.abs(v - denoConv1[i])), 0);
    assert.ok(worst <= 1e-4, `conv1.weight differs from Deno's by up to ${worst}`);

    assert.deepEqual(errors, []);
    await Deno.mkdir(`${ROOT}out`, { recursive: true });
    const shot = await page.screenshot({ fullPage: true });
    await Deno.writeFile(`${ROOT}out/browser.png`, shot);
  } finally {
    await browser.close();
    await server.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
