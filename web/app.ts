/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page served by `deno task web` (web/server.ts bundles this file for the browser).
// Two panels over the library entry, nothing Deno-only:
//
//   Classify: a checkpoint (model.safetensors + state.json, picked or named by
//     ?checkpoint=URL) ranks picked or dropped images, top-5 with bars, through the
//     Classifier `deno task predict` uses. Images are decoded by the browser, composited
//     over black as predict does, and scaled (short side to the stored size S, centre
//     square) by the canvas; an image already S x S is not resampled, so its pixels —
//     and its probabilities — are predict's exactly.
//   Train: the tiny config on the prepared synthetic set the server serves (?data=URL),
//     one TrainSession step at a time, with loss/error curves and each column's conv1
//     kernels redrawn as they learn; the checkpoint downloads as a tar of the folder
//     `deno task predict --checkpoint` reads.
//
// `window.alexnet` is the same as buttons, for scripts and the browser test.

import {
  Classifier,
  type Classifier as ClassifierType,
  type Columns,
  configFor,
  decodeWeights,
  fetchDataset,
  type MemoryDataset,
  openColumns,
  parameterShapes,
  type RankedClass,
  recipeFor,
  TrainSession,
} from "../mod.ts";
import { filterMosaic } from "../viz/filters.ts";
import { curvesSvg } from "../viz/curves.ts";
import type { MetricPoint } from "../viz/_metrics_log.ts";
import { tar } from "./_tar.ts";
import { timeTiny, type TinyTimes } from "./_timing.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const status = (id: string, text: string, error = false) => {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", error);
};

let columns: Promise<Columns> | null = null;
// One column (both halves on one device) unless ?columns=2. Kernel shapes: the "gpu"
// profile's shared-memory tiles, also on a software adapter, unless ?profile=software:
// SwiftShader compiles the software profile's fully unrolled 16x8 register blocks
// slowly enough (minutes for conv2) that Chromium drops the device.
const gpu = () =>
  columns ??= openColumns({
    count: params.get("columns") === "2" ? 2 : 1,
    profile: params.get("profile") === "software" ? "software" : "gpu",
  });

// ---------------------------------------------------------------- classification

let classifier: ClassifierType | null = null;

async function openCheckpoint(
  files: { model: Uint8Array; state: Uint8Array },
  where: string,
): Promise<string[]> {
  const { weights, state } = decodeWeights(files, where);
  const { columns } = await gpu();
  classifier?.dispose();
  classifier = null;
  classifier = await Classifier.create({ weights, state, columns: [columns[0]], where });
  status(
    "ck-status",
    `${where}: ${state.config.name}, ${classifier.classes.length} classes, step ${
      state.step ?? "?"
    }`,
  );
  return [...classifier.classes];
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function openCheckpointUrl(url: string): Promise<string[]> {
  const base = url.endsWith("/") ? url : `${url}/`;
  return await openCheckpoint({
    model: await fetchBytes(`${base}model.safetensors`),
    state: await fetchBytes(`${base}state.json`),
  }, url);
}

/** predict's decodeSquare in the browser: composite over black, short side to S, centre. */
async function decodeSquare(blob: Blob, S: number): Promise<Uint8Array> {
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const canvas = new OffscreenCanvas(S, S);
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, S, S);
  ctx.imageSmoothingQuality = "high";
  const side = Math.min(bitmap.width, bitmap.height);
  const sx = (bitmap.width - side) / 2, sy = (bitmap.height - side) / 2;
  ctx.drawImage(bitmap, sx, sy, side, side, 0, 0, S, S);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, S, S).data;
  const rgb = new Uint8Array(S * S * 3);
  for (let p = 0; p < S * S; p++) rgb.set(rgba.subarray(4 * p, 4 * p + 3), 3 * p);
  return rgb;
}

interface Ranked {
  file: string;
  top: RankedClass[];
}

async function classifyBlobs(items: { name: string; blob: Blob }[]): Promise<Ranked[]> {
  if (!classifier) throw new Error("open a checkpoint first (model.safetensors + state.json)");
  const S = classifier.size;
  const images = await Promise.all(items.map((it) => decodeSquare(it.blob, S)));
  const ranked = await classifier.rank(images, { top: 5 });
  const out = $("predictions");
  ranked.forEach((top, i) => out.prepend(predictionCard(items[i].name, images[i], S, top)));
  return ranked.map((top, i) => ({ file: items[i].name, top }));
}

function predictionCard(name: string, rgb: Uint8Array, S: number, top: RankedClass[]) {
  const card = document.createElement("figure");
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = S;
  const rgba = new Uint8ClampedArray(S * S * 4).fill(255);
  for (let p = 0; p < S * S; p++) rgba.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p);
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, S, S), 0, 0);
  const caption = document.createElement("figcaption");
  const title = document.createElement("b");
  title.textContent = name;
  caption.append(title);
  for (const t of top) {
    const row = document.createElement("div");
    row.className = "bar";
    row.innerHTML = `<span></span><i style="width:${(100 * t.probability).toFixed(1)}%"></i>` +
      `<em>${(100 * t.probability).toFixed(1)}%</em>`;
    row.querySelector("span")!.textContent = t.name;
    caption.append(row);
  }
  card.append(canvas, caption);
  return card;
}

// ---------------------------------------------------------------- training

let dataset: Promise<MemoryDataset> | null = null;
let session: TrainSession | null = null;
let running = false;
let loop: Promise<void> = Promise.resolve();

/** Stops the Train loop after its current step and waits for it. */
async function stop(): Promise<void> {
  running = false;
  $("train").textContent = "Train";
  await loop;
}
const log = { steps: [] as MetricPoint[], epochs: [] as MetricPoint[] };

function loadData(): Promise<MemoryDataset> {
  return dataset ??= fetchDataset(params.get("data") ?? "/data/");
}

async function startSession(o: { batch?: number; seed?: number } = {}): Promise<TrainSession> {
  session?.dispose();
  session = null;
  log.steps.length = log.epochs.length = 0;
  const ds = await loadData();
  const config = configFor("tiny", ds.classes.length);
  if (o.batch) $<HTMLSelectElement>("batch").value = String(o.batch);
  session = await TrainSession.create({
    dataset: ds,
    config,
    columns: (await gpu()).columns,
    batch: o.batch ?? Number($<HTMLSelectElement>("batch").value),
    seed: o.seed ?? 1,
    ...recipeFor("tiny"),
    // `deno task train`'s schedule: ÷10 for the tenth epoch.
    schedule: "step",
    stepEpochs: 9,
  });
  return session;
}

async function step(): Promise<number> {
  const s = session ?? await startSession();
  const r = await s.next();
  const spe = s.batches.batchCount;
  log.steps.push({
    x: r.step / spe,
    step: r.step,
    loss: r.loss,
    top1: 1 - r.top1 / r.count,
    top5: 1 - r.top5 / r.count,
    lr: r.lr,
  });
  const sums = s.state.sums;
  if (s.state.stepInEpoch === spe) {
    log.epochs.push({
      x: r.step / spe,
      step: r.step,
      loss: sums.loss / sums.images,
      top1: 1 - sums.top1 / sums.images,
      top5: 1 - sums.top5 / sums.images,
      lr: r.lr,
    });
  }
  status(
    "train-status",
    `epoch ${r.epoch + 1}, step ${r.step} (${s.state.stepInEpoch}/${spe}): loss ${
      r.loss.toFixed(4)
    }, batch top-1 error ${(100 * (1 - r.top1 / r.count)).toFixed(1)}%`,
  );
  return r.loss;
}

function drawCurves(): void {
  if (log.steps.length === 0) return;
  $("curves").innerHTML = curvesSvg(
    { ...log, evals: [], stepsPerEpoch: session?.batches.batchCount, warnings: [] },
    { width: 600, title: "tiny on the synthetic set, in this browser" },
  );
}

async function drawFilters(): Promise<void> {
  if (!session) return;
  // The first conv's weight, named and shaped by the config's layer table.
  const first = parameterShapes(session.net.config)[0];
  const data = (await session.net.readParameters("weight")).get(first.name)!;
  const m = filterMosaic({ data, shape: first.shape }, { header: 0 });
  const canvas = $<HTMLCanvasElement>("filters");
  canvas.width = m.width;
  canvas.height = m.height;
  canvas.style.width = `${Math.min(2 * m.width, 500)}px`;
  const rgba = new Uint8ClampedArray(m.width * m.height * 4).fill(255);
  for (let p = 0; p < m.width * m.height; p++) rgba.set(m.data.subarray(3 * p, 3 * p + 3), 4 * p);
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, m.width, m.height), 0, 0);
}

async function trainLoop(): Promise<void> {
  let lastDraw = 0;
  while (running) {
    await step();
    if (performance.now() - lastDraw > 400) {
      drawCurves();
      await drawFilters();
      lastDraw = performance.now();
    }
    await new Promise((r) => setTimeout(r, 0)); // let the page paint and take clicks
  }
  drawCurves();
  await drawFilters();
}

async function checkpointTar(): Promise<Uint8Array> {
  if (!session) throw new Error("train first: there is no run to save");
  const f = await session.checkpoint();
  const dir = `alexnet-${session.net.config.name}-step${session.state.step}`;
  return tar([
    { path: `${dir}/model.safetensors`, data: f.model },
    { path: `${dir}/optimizer.safetensors`, data: f.optimizer },
    { path: `${dir}/state.json`, data: f.state },
  ], Math.floor(Date.now() / 1000));
}

// ---------------------------------------------------------------- wiring

function guard(id: string, f: () => Promise<unknown>): () => void {
  return () => {
    f().catch((e) => {
      status(id, (e as Error).message, true);
      running = false;
      $("train").textContent = "Train";
    });
  };
}

function readFiles(list: FileList | File[]): Promise<{ name: string; blob: Blob }[]> {
  return Promise.resolve([...list].map((f) => ({ name: f.name, blob: f })));
}

function wire(): void {
  $("ck-files").addEventListener(
    "change",
    guard("ck-status", async () => {
      const files = [...$<HTMLInputElement>("ck-files").files!];
      const model = files.find((f) => f.name === "model.safetensors");
      const state = files.find((f) => f.name === "state.json");
      if (!model || !state) {
        throw new Error(
          `choose model.safetensors and state.json together, got ${
            files.map((f) => f.name).join(", ") || "nothing"
          }`,
        );
      }
      await openCheckpoint({
        model: new Uint8Array(await model.arrayBuffer()),
        state: new Uint8Array(await state.arrayBuffer()),
      }, "picked checkpoint");
    }),
  );
  const classifyFiles = (list: FileList | File[]) =>
    guard("ck-status", async () => await classifyBlobs(await readFiles(list)))();
  $("images").addEventListener("change", () => classifyFiles($<HTMLInputElement>("images").files!));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => e.preventDefault());
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    classifyFiles([...e.dataTransfer!.files].filter((f) => f.type.startsWith("image/")));
  });
  $("train").addEventListener(
    "click",
    guard("train-status", async () => {
      if (running) return await stop();
      running = true;
      $("train").textContent = "Pause";
      await (loop = trainLoop().finally(() => running = false));
    }),
  );
  $("restart").addEventListener(
    "click",
    guard("train-status", async () => {
      await stop();
      await startSession();
      status("train-status", "new run: press Train");
    }),
  );
  $("download").addEventListener(
    "click",
    guard("train-status", async () => {
      const bytes = await checkpointTar();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
      a.download = `alexnet-tiny-step${session!.state.step}.tar`;
      a.click();
      URL.revokeObjectURL(a.href);
    }),
  );
  $("use").addEventListener(
    "click",
    guard("ck-status", async () => {
      if (!session) throw new Error("train first: there is no run to classify with");
      const f = await session.checkpoint();
      await openCheckpoint(f, `this page's run (step ${session.state.step})`);
    }),
  );
}

const b64 = (bytes: Uint8Array) => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
};
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** What scripts (and tests/browser_test.ts) call; the buttons do the same. */
const hook = {
  /** The adapter of each column. */
  async adapters(): Promise<string[]> {
    return (await gpu()).columns.map((c) => c.description);
  },
  /** Opens the checkpoint folder at `url`; returns its class names. */
  openCheckpoint: openCheckpointUrl,
  /** Ranks images given as base64 file bytes, as if dropped on the page. */
  async classify(images: { name: string; base64: string; type?: string }[]) {
    return await classifyBlobs(images.map((im) => ({
      name: im.name,
      blob: new Blob([unb64(im.base64)], { type: im.type ?? "image/png" }),
    })));
  },
  /** Starts a new run and trains `steps` steps; returns their losses. */
  async train(o: { steps: number; batch?: number; seed?: number }): Promise<number[]> {
    await stop();
    await startSession(o);
    const losses: number[] = [];
    for (let i = 0; i < o.steps; i++) losses.push(await step());
    drawCurves();
    await drawFilters();
    return losses;
  },
  /** `deno task bench --suite browser`'s page side (web/_timing.ts). */
  async time(o: { batch: number; steps: number; predictions: number }): Promise<TinyTimes> {
    await stop();
    return await timeTiny({ ...o, dataset: await loadData(), columns: (await gpu()).columns });
  },
  /** The current run's checkpoint as a tar of its folder, base64. */
  async checkpointTar(): Promise<string> {
    return b64(await checkpointTar());
  },
};
(globalThis as unknown as { alexnet: typeof hook }).alexnet = hook;

wire();
const ck = params.get("checkpoint");
(async () => {
  status("adapter", (await hook.adapters()).join(" + "));
  if (ck) await openCheckpointUrl(ck);
})().catch((e) => status("ck-status", (e as Error).message, true));
