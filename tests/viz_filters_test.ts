import assert from "node:assert/strict";
import { decodeRaw } from "../data/decode.ts";
import {
  encodeSafetensors,
  loadCheckpoint,
  readSafetensors,
  saveCheckpoint,
} from "../model/checkpoint.ts";
import { configFor, parameterShapes } from "../model/config.ts";
import { main } from "../viz/cli_filters.ts";
import {
  checkConv1,
  columnSaturation,
  conv1FromCheckpoint,
  filterMosaic,
  kernelSaturation,
  renderFilters,
} from "../viz/filters.ts";
import { normal } from "../reference/rand.ts";

const P = 25; // tiny's conv1 kernels are 5x5

/** A CHW kernel of `pixels` pixels from a per-pixel RGB function. */
function kernel(pixels: number, rgb: (p: number) => [number, number, number]): Float32Array {
  const k = new Float32Array(3 * pixels);
  for (let p = 0; p < pixels; p++) {
    const [r, g, b] = rgb(p);
    k[p] = r;
    k[pixels + p] = g;
    k[2 * pixels + p] = b;
  }
  return k;
}

Deno.test("kernelSaturation: hand-computed values, grey 0, pure colour 1, invariances", () => {
  // Pixels (1, .5, 0) and (.5, 0, .5): chromatic 1/2 + 1/6, total 17/24 -> 16/17.
  assert.ok(Math.abs(kernelSaturation(Float32Array.of(1, 0.5, 0.5, 0, 0, 0.5)) - 16 / 17) < 1e-6);
  const grey = kernel(P, (p) => [p / 7, p / 7, p / 7].map(Math.sin) as [number, number, number]);
  assert.equal(kernelSaturation(grey), 0);
  assert.equal(kernelSaturation(kernel(P, () => [0.5, 0, 0])), 1, "flat red: all chromatic");
  // Red with one white pixel: chromatic 24 * 2/9 * 3 = 16; achromatic 3 * sum (m - mu)^2
  // with mu = 9/25: 3 * (24 * (1/3 - 9/25)^2 + (16/25)^2) = 1.28 -> 16 / 17.28.
  const redDot = kernel(P, (p) => p === 7 ? [1, 1, 1] : [1, 0, 0]);
  assert.ok(Math.abs(kernelSaturation(redDot) - 16 / 17.28) < 1e-6);
  // Scale and offset do not change it (the display normalisation removes them too).
  const rand = normal(3 * P, 3);
  const moved = rand.map((v) => 3 * v - 7);
  assert.ok(Math.abs(kernelSaturation(rand) - kernelSaturation(moved)) < 1e-5);
  assert.equal(kernelSaturation(new Float32Array(3 * P).fill(0.25)), 0, "constant kernel");
  assert.throws(() => kernelSaturation(new Float32Array(4)), /kernelSaturation: expected 3 planes/);
});

Deno.test("kernelSaturation: random kernels average ~2P/(3P-1), the untrained baseline", () => {
  const n = 2000, pixels = 121, all = normal(n * 3 * pixels, 11);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += kernelSaturation(all.subarray(i * 3 * pixels, (i + 1) * 3 * pixels));
  }
  assert.ok(Math.abs(sum / n - (2 * pixels) / (3 * pixels - 1)) < 0.01, `mean ${sum / n}`);
});

Deno.test("columnSaturation: a grey column and a colourful column", () => {
  const data = new Float32Array(4 * 3 * P);
  const v = normal(2 * P, 5);
  for (let o = 0; o < 4; o++) {
    const k = o < 2
      ? kernel(P, (p) => [v[o * P + p], v[o * P + p], v[o * P + p]])
      : kernel(P, (p) => [p % 2, (p + 1) % 2, 0]);
    data.set(k, o * 3 * P);
  }
  const [a, b] = columnSaturation({ data, shape: [4, 3, 5, 5] });
  assert.deepEqual([a.column, a.count, a.mean, a.median, a.colourful], [0, 2, 0, 0, 0]);
  assert.ok(b.mean > 0.9 && b.colourful === 2, JSON.stringify(b));
  const [all] = columnSaturation({ data, shape: [4, 3, 5, 5] }, 1);
  assert.equal(all.count, 4);
  assert.ok(Math.abs(all.mean - b.mean / 2) < 1e-12);
});

/** Tiny conv1 [16, 3, 5, 5]: random kernels, kernel 3 red with a white pixel at (1, 2). */
function tinyConv1(): Float32Array {
  const w = normal(16 * 3 * P, 7, 0.01);
  w.set(kernel(P, (p) => p === 1 * 5 + 2 ? [1, 1, 1] : [0.5, 0, 0]), 3 * 3 * P);
  w.set(new Float32Array(3 * P).fill(-0.2), 12 * 3 * P); // constant: mid-grey
  return w;
}

async function tinyCheckpoint(dir: string, conv1: Float32Array): Promise<void> {
  const config = configFor("tiny", 10);
  const weights = new Map<string, Float32Array>();
  const momentum = new Map<string, Float32Array>();
  for (const { name, shape } of parameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    weights.set(name, name === "conv1.weight" ? conv1 : new Float32Array(size));
    momentum.set(name, new Float32Array(size));
  }
  await saveCheckpoint(dir, { weights, momentum, state: { config } });
}

Deno.test("filters: a checkpoint's kernels appear at the computed mosaic positions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const w = tinyConv1();
    await tinyCheckpoint(`${dir}/ck`, w);
    const ck = await loadCheckpoint(`${dir}/ck`);
    const { png, mosaic } = await renderFilters(conv1FromCheckpoint(ck), { scale: 3, gap: 2 });
    // Layout by hand: 8 kernels per column, 4 per row; cell 15 px, gap 2; block
    // 4 * 15 + 3 * 2 = 66 wide; blocks 12 apart; kernels start below a 24 px header.
    const img = await decodeRaw(png);
    assert.deepEqual([img.width, img.height, img.channels], [2 * 2 + 2 * 66 + 12, 24 + 4 + 32, 3]);
    assert.deepEqual(mosaic.blocks.map((b) => [b.left, b.top, b.first, b.count]), [
      [2, 26, 0, 8],
      [80, 26, 8, 8],
    ]);
    const at = (
      x: number,
      y: number,
    ) => [...img.data.subarray(3 * (y * img.width + x), 3 * (y * img.width + x) + 3)];
    // Kernel 3 is row 0, column 3 of block 0: x0 = 2 + 3 * 17 = 53, y0 = 26.
    assert.deepEqual(at(53, 26), [128, 0, 0], "red body (0.5 of the range 0..1)");
    assert.deepEqual(
      at(53 + 2 * 3, 26 + 1 * 3),
      [255, 255, 255],
      "white pixel's first screen pixel",
    );
    assert.deepEqual(at(53 + 2 * 3 + 2, 26 + 1 * 3 + 2), [255, 255, 255], "... and its last");
    assert.deepEqual(at(53 + 2 * 3 - 1, 26 + 1 * 3), [128, 0, 0], "left of it is red again");
    // Kernel 12 (column 1, i = 4: row 1, col 0) is constant: mid-grey.
    assert.deepEqual(at(80, 26 + 17), [128, 128, 128]);
    assert.deepEqual(at(52, 30), [255, 255, 255], "gap is background");
    // Every kernel pixel, from the weights by the documented normalisation.
    for (let o = 0; o < 16; o++) {
      const k = w.subarray(o * 3 * P, (o + 1) * 3 * P);
      const lo = Math.min(...k), hi = Math.max(...k);
      const col = o < 8 ? 0 : 1, i = o % 8;
      const x0 = (col ? 80 : 2) + (i % 4) * 17, y0 = 26 + Math.floor(i / 4) * 17;
      for (let p = 0; p < P; p++) {
        const expected = [0, 1, 2].map((c) =>
          hi > lo ? Math.round((255 * (k[c * P + p] - lo)) / (hi - lo)) : 128
        );
        const x = x0 + (p % 5) * 3 + 1, y = y0 + Math.floor(p / 5) * 3 + 1;
        assert.deepEqual(at(x, y), expected, `kernel ${o} pixel ${p}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("filterMosaic: the paper's conv1 (96x3x11x11) as two 8x6 blocks ~800 px wide", () => {
  const m = filterMosaic({ data: new Float32Array(96 * 3 * 121), shape: [96, 3, 11, 11] });
  // x4: 44 px kernels, gap 4: blocks 8 * 44 + 7 * 4 = 380 by 6 * 44 + 5 * 4 = 284.
  assert.deepEqual([m.scale, m.gap, m.kernel], [4, 4, 11]);
  assert.deepEqual([m.width, m.height], [4 + 380 + 12 + 380 + 4, 24 + 4 + 284 + 4]);
  assert.deepEqual(m.blocks.map((b) => [b.first, b.count, b.perRow, b.width, b.height]), [
    [0, 48, 8, 380, 284],
    [48, 48, 8, 380, 284],
  ]);
  assert.equal(m.data.length, m.width * m.height * 3);
  const one = filterMosaic({ data: new Float32Array(96 * 3 * 121), shape: [96, 3, 11, 11] }, {
    columns: 1,
    scale: 2,
  });
  assert.equal(one.blocks.length, 1);
  assert.equal(one.blocks[0].perRow, 12); // 96 kernels: 12 x 8
});

Deno.test("filters: malformed weights and checkpoints give clear errors", async () => {
  const ok = new Float32Array(16 * 3 * P);
  assert.throws(
    () => checkConv1({ data: ok, shape: [16, 1, 5, 5] }),
    /conv1\.weight: expected 3 input channels \(RGB\), got shape \[16,1,5,5\]/,
  );
  assert.throws(
    () => checkConv1({ data: ok, shape: [16, 3, 25] }),
    /expected shape \[out, 3, k, k\]/,
  );
  assert.throws(() => checkConv1({ data: ok, shape: [16, 3, 5, 4] }), /square kernels/);
  assert.throws(
    () => checkConv1({ data: ok.subarray(1), shape: [16, 3, 5, 5] }),
    /shape \[16,3,5,5\] needs 1200 values, got 1199/,
  );
  assert.throws(() => filterMosaic({ data: ok, shape: [16, 3, 5, 5] }, { scale: 0 }), /scale must/);
  const state = { config: configFor("tiny", 10) };
  assert.throws(
    () => conv1FromCheckpoint({ weights: new Map(), state }),
    /checkpoint has no tensor "conv1.weight"/,
  );
  assert.throws(
    () => conv1FromCheckpoint({ weights: new Map([["conv1.weight", ok.subarray(3)]]), state }),
    /needs 1200 values/,
  );

  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/ck`, tinyConv1());
    // A model.safetensors without conv1.weight (same save id, so only the tensor is wrong).
    const file = `${dir}/ck/model.safetensors`;
    const { tensors, metadata } = await readSafetensors(file);
    tensors.delete("conv1.weight");
    await Deno.writeFile(file, encodeSafetensors(tensors, metadata));
    await assert.rejects(loadCheckpoint(`${dir}/ck`), /missing tensor "conv1.weight"/);
    assert.equal(await main(["--checkpoint", `${dir}/ck`, "--out", `${dir}/x.png`]), 1);
    assert.equal(await main(["--checkpoint", `${dir}/nowhere`, "--out", `${dir}/x.png`]), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli filters: writes the PNG, exit 2 on bad flags", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/ck`, tinyConv1());
    assert.equal(await main(["--checkpoint", `${dir}/ck`, "--out", `${dir}/f.png`, "--json"]), 0);
    const img = await decodeRaw(await Deno.readFile(`${dir}/f.png`));
    assert.ok(img.width >= 600 && img.height > 100, `${img.width}x${img.height}`);
    assert.equal(await main(["--checkpoint", `${dir}/ck`, "--bogus"]), 2);
    assert.equal(await main(["--out", `${dir}/f.png`]), 2, "missing --checkpoint");
    assert.equal(await main(["--checkpoint", `${dir}/ck`, "--scale", "0"]), 2);
    assert.equal(await main(["--checkpoint", `${dir}/ck`, "--gap", "x"]), 2);
    assert.equal(await main(["--help"]), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
