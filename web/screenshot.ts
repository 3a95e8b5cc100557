// Renders the README's picture of the page (docs/img/browser.png): headless Chromium
// trains tiny on the synthetic set for `--steps` steps of `--batch` images (default 24
// of 8: SwiftShader takes seconds per step, see docs/browser.md), then classifies a few
// validation images with that run. Needs chromium.
//
//   deno run -A web/screenshot.ts [--steps N] [--batch N] [--out docs/img/browser.png]

import { parseArgs } from "node:util";
import { ensureSynthetic } from "../data/synthetic.ts";
import { fetchDataset } from "../data/memory.ts";
import { encodeImage } from "../data/decode.ts";
import { serveWeb } from "./server.ts";
import { launchChromium } from "./_chromium.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { steps: { type: "string" }, batch: { type: "string" }, out: { type: "string" } },
});
const steps = Number(values.steps ?? 24), batch = Number(values.batch ?? 8);
for (const [flag, v] of [["steps", steps], ["batch", batch]] as const) {
  if (!(Number.isInteger(v) && v >= 1)) {
    throw new Error(`--${flag} must be a positive integer, got "${values[flag]}"`);
  }
}
const out = values.out ?? "docs/img/browser.png";
const data = await ensureSynthetic({ size: 36 });
const ds = await fetchDataset(new URL(`file://${Deno.realPathSync(data)}/`));
const S = ds.imageSize, bytes = S * S * 3;
const images = [];
for (const i of [0, 150, 320, 470, 610, 760]) {
  const png = await encodeImage(
    { data: ds.val.images.slice(i * bytes, (i + 1) * bytes), width: S, height: S, channels: 3 },
    { kind: "png" },
  );
  let s = "";
  for (const b of png) s += String.fromCharCode(b);
  images.push({ name: `val-${i}.png`, base64: btoa(s) });
}
const server = await serveWeb({ port: 0, data });
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(1_800_000);
  await page.goto(server.origin);
  await page.waitForFunction("window.alexnet !== undefined");
  const losses = await page.evaluate(
    `window.alexnet.train({ steps: ${steps}, batch: ${batch}, seed: 1 })`,
  ) as number[];
  console.log(
    `trained ${steps} steps: loss ${losses[0].toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}`,
  );
  await page.click("#use");
  await page.waitForFunction("document.getElementById('ck-status').textContent.includes('run')");
  await page.evaluate(`window.alexnet.classify(${JSON.stringify(images)})`);
  await Deno.writeFile(out, await page.screenshot({ fullPage: true }));
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
}
