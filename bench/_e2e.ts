// The end-to-end benchmark (`deno task bench --suite e2e`): train-step time of the tiny,
// small and paper configs on 1 and 2 columns, next to TF.js WebGPU (same adapter) and
// PyTorch on the CPU at the same config and batch; epoch time of the built-in synthetic
// dataset and Fashion-MNIST with the small config, data loading included; the paper
// config's projected ImageNet epoch; peak bytes per column.
//
// How each figure is taken:
//   step       the real loop: the Loader (worker threads, prefetch, augmentation draws)
//              feeds TrainStep.run (upload, GPU augmentation, forward, loss, backward,
//              SGD, one readback). Time from asking the loader for a batch to the
//              step's readback; warm-up steps (pipeline first use) are not timed.
//   data wait  the part of that time spent awaiting the loader's next batch.
//   first      the first warm-up step: pipelines compile at their first dispatch.
//   profile    AlexNet.timeLayers: each stage forward and backward on its own (floor
//              removed), and the gap between their sum and the median step.
//   exchange   AlexNet.timeLayers runs every node (layer or exchange) on its own,
//              submitted and awaited; an exchange node's time minus one empty
//              submit-and-wait floor is its cost. Inside a real step an exchange also
//              waits for the compute before it, which is not exchange cost — so this
//              isolates it. With one column the "exchanges" are on-device copies.
//   epoch      from creating the epoch's Loader (its workers start) through the last
//              step; when an epoch has more steps than the budget allows, the first
//              steps are timed and the epoch projected (marked "proj.").
//   peak       Column.memory.peakHeld: device buffers held (in use plus pooled).

import { type Column, openColumns } from "../kernels/columns.ts";
import { Encoder, sync } from "../kernels/encoder.ts";
import { AlexNet } from "../model/alexnet.ts";
import { type AlexNetConfig, configFor, type ConfigName } from "../model/config.ts";
import { initialParameters } from "../model/session.ts";
import { TrainStep } from "../model/step.ts";
import type { Dataset } from "../data/dataset.ts";
import { type Batch, Loader } from "../data/loader.ts";
import {
  type ColdStart,
  type E2EReport,
  type EpochRow,
  formatProfile,
  IMAGENET_TRAIN_IMAGES,
  type ImageNetProjection,
  type OursStep,
  type ProfileItem,
  projectEpoch,
  ratio,
  type Stat,
  stat,
  type StepRow,
} from "./_e2e_report.ts";
import { driverVersion } from "./_runner.ts";
import { medianOf } from "./_time.ts";

/** What the e2e suite runs. */
export interface E2EPlan {
  /**
   * Configs for the step table: batch, our timed and warm-up steps, and the TF.js peer's
   * timed steps (after one warm-up step that compiles its shaders).
   */
  steps: { config: ConfigName; batch: number; steps: number; warmup: number; peerSteps: number }[];
  /** Column counts for our step runs. */
  columns: (1 | 2)[];
  /** Epoch rows: dataset with the small config. */
  epochs: {
    dataset: "synthetic" | "fashion-mnist";
    config: ConfigName;
    batch: number;
    columns: 1 | 2;
    /** Steps timed at most; more steps per epoch are projected. */
    maxSteps: number;
  }[];
  /** TF.js WebGPU peer. */
  tfjs: boolean;
  /** PyTorch CPU peer. */
  torch: boolean;
  /** Timed PyTorch steps (warm-up 1). */
  torchSteps: number;
  /** Fashion-MNIST IDX folder. */
  fashionDir: string;
  /** Python with torch. */
  python: string;
  /**
   * Training images per class of the synthetic sets (default: the built-in 500, except
   * 4 at the paper's 256px); tests use a handful.
   */
  syntheticPerClass?: number;
  /**
   * The cold start to measure in a process of its own with Mesa's shader cache disabled
   * (default: the default run's tiny, batch 32, 2 columns), or null to skip it.
   */
  coldStart: { config: ConfigName; batch: number; columns: 1 | 2 } | null;
}

/** The default plan (`quick`: fewer steps, smaller batches, short epochs). */
export function e2ePlan(quick: boolean, paperBatch?: number): E2EPlan {
  return {
    // Sized for ~10 minutes (full) or ~6 (quick) on 2 cores with lavapipe, where a TF.js
    // step takes ~3.6 s (tiny, batch 32), ~10 s (small, 16) and ~40 s (paper, 4), and
    // each of our networks compiles its pipelines first (tens of seconds).
    steps: [
      { config: "tiny", batch: quick ? 16 : 32, steps: quick ? 3 : 6, warmup: 2, peerSteps: 3 },
      { config: "small", batch: 16, steps: quick ? 2 : 4, warmup: 1, peerSteps: 2 },
      {
        config: "paper",
        batch: paperBatch ?? (quick ? 2 : 4),
        steps: 2,
        warmup: 1,
        peerSteps: 1,
      },
    ],
    columns: [1, 2],
    epochs: (["synthetic", "fashion-mnist"] as const).map((dataset) => ({
      dataset,
      config: "small" as ConfigName,
      batch: quick ? 64 : 128,
      columns: 2 as const,
      maxSteps: quick ? 2 : 3,
    })),
    tfjs: true,
    torch: true,
    torchSteps: 3,
    fashionDir: "/usr/share/datasets/fashion-mnist",
    python: "/usr/bin/python3",
    coldStart: { config: "tiny", batch: 32, columns: 2 },
  };
}

/**
 * Runs bench/cold_start.ts in a process of its own with Mesa's shader cache disabled
 * (MESA_SHADER_CACHE_DISABLE), so every pipeline compiles as on a fresh machine.
 */
async function measureColdStart(c: NonNullable<E2EPlan["coldStart"]>): Promise<ColdStart> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./cold_start.ts", import.meta.url).pathname,
      "--config",
      c.config,
      "--batch",
      String(c.batch),
      "--columns",
      String(c.columns),
    ],
    env: { MESA_SHADER_CACHE_DISABLE: "true" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  if (out.code !== 0) throw new Error(`cold_start.ts exited ${out.code}: ${text(out.stderr)}`);
  return JSON.parse(text(out.stdout).split("\n").at(-1)!) as ColdStart;
}

/** Progress and failures. */
export interface E2EIO {
  /** Progress lines (stderr). */
  log(line: string): void;
  /** The command line, for the report. */
  argv?: string[];
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Opens the dataset a config trains on in this bench (generated and cached on first use). */
async function benchDataset(
  kind: "synthetic" | "fashion-mnist",
  cfg: AlexNetConfig,
  plan: E2EPlan,
  batch: number,
) {
  const { openPrepared } = await import("../data/dataset.ts");
  const S = cfg.storedSize;
  if (kind === "fashion-mnist") {
    const { ensureFashionMnist } = await import("../data/fashion_mnist.ts");
    return await openPrepared(
      await ensureFashionMnist({ dir: plan.fashionDir, size: S, progress: "quiet" }),
    );
  }
  const { ensureSynthetic } = await import("../data/synthetic.ts");
  // The paper's 256px images take 192 KiB each: a small set is enough to feed the
  // step benchmark (the loader cycles epochs) — at least one batch of the 10 classes —
  // and the full built-in set elsewhere.
  const per = plan.syntheticPerClass ?? (S > 128 ? Math.max(4, Math.ceil(batch / 10)) : undefined);
  return await openPrepared(
    await ensureSynthetic({
      size: S,
      progress: "quiet",
      ...(per === undefined
        ? {}
        : { trainPerClass: per, valPerClass: 1, cacheDir: `out/data/bench-synthetic-${S}-${per}` }),
    }),
  );
}

/** A network, its step and a loader on fresh columns; `close()` frees all of it. */
/** A network on its own columns. */
interface Network {
  columns: readonly Column[];
  net: AlexNet;
  close(): void;
}

/** Opens columns and creates the network (allocation and every pipeline compile). */
async function network(cfg: AlexNetConfig, batch: number, count: 1 | 2): Promise<Network> {
  const { columns, destroy } = await openColumns({ count });
  try {
    const net = await AlexNet.create({ config: cfg, batch, columns, seed: 1 });
    return {
      columns,
      net,
      close() {
        net.dispose();
        destroy();
      },
    };
  } catch (e) {
    destroy();
    throw e;
  }
}

/**
 * A freshly initialised network (or `shared`, re-initialised), its step and a loader
 * factory; `close()` frees what was made here (a shared network stays open).
 */
async function setup(
  cfg: AlexNetConfig,
  batch: number,
  count: 1 | 2,
  ds: Dataset,
  shared?: Network,
) {
  const nw = shared ?? await network(cfg, batch, count);
  const { columns, net } = nw;
  let step: TrainStep | null = null;
  try {
    // As `deno task train` does: the paper's init for the paper config; for the small
    // ones kaiming, fc8 x 0.05 and pixels / 64 (the timing does not depend on it, but
    // a sane loss is a check that the step is really training).
    const paper = cfg.name === "paper";
    net.writeParameters(
      initialParameters(cfg, {
        seed: 1,
        init: paper ? "paper" : "kaiming",
        outputGain: paper ? 1 : 0.05,
      }),
    );
    net.clearMomentum();
    step = await TrainStep.create(net, {
      mean: ds.mean,
      pca: ds.pca.colour
        ? { eigvecs: ds.pca.eigvecs, eigvals: ds.pca.eigvals.map(Math.sqrt) }
        : undefined,
      inputScale: paper ? 1 : 1 / 64,
    });
  } catch (e) {
    step?.dispose();
    if (!shared) nw.close();
    throw e;
  }
  const loader = (epoch: number) =>
    new Loader(ds, "train", {
      batch,
      seed: 1,
      epoch,
      workers: 2,
      augment: { cropSize: cfg.inputSize },
    });
  return {
    columns,
    net,
    step,
    loader,
    close() {
      step!.dispose();
      if (!shared) nw.close();
    },
  };
}

/** Batches forever: the next epoch's loader when one ends. */
function cycle(make: (epoch: number) => Loader) {
  let epoch = 0, loader = make(0), it = loader[Symbol.asyncIterator]();
  if (loader.batchCount === 0) {
    loader.close();
    throw new RangeError(
      `the training split holds ${loader.split.count} images, fewer than one batch: an ` +
        `epoch would yield nothing`,
    );
  }
  return {
    async next(): Promise<Batch> {
      for (;;) {
        const r = await it.next();
        if (!r.done) return r.value;
        loader.close();
        loader = make(++epoch);
        it = loader[Symbol.asyncIterator]();
      }
    },
    close: () => loader.close(),
  };
}

async function floorMs(columns: readonly Column[]): Promise<number> {
  return await medianOf(async () => {
    for (const c of columns) new Encoder(c, "empty").submit();
    await Promise.all(columns.map((c) => sync(c)));
  });
}

/** Our train step on `count` columns. */
async function oursStep(
  cfg: AlexNetConfig,
  s: E2EPlan["steps"][number],
  count: 1 | 2,
  ds: Dataset,
  log: (line: string) => void = () => {},
): Promise<OursStep> {
  const t = performance.now();
  const env = await setup(cfg, s.batch, count, ds);
  const setupMs = performance.now() - t;
  const batches = cycle(env.loader);
  try {
    const times: number[] = [], waits: number[] = [];
    let loss = NaN, firstStepMs = NaN;
    for (let i = 0; i < s.warmup + s.steps; i++) {
      const t0 = performance.now();
      const b = await batches.next();
      const t1 = performance.now();
      loss = (await env.step.run(b, { step: i, hyper: { lr: 0.01 } })).loss;
      const t2 = performance.now();
      if (i === 0) firstStepMs = t2 - t0;
      // Long steps (the paper config at batch 128 takes about a minute here) say so.
      if (t2 - t0 > 5000) {
        log(
          `  ${cfg.name} b${s.batch} c${count}: step ${i + 1}/${s.warmup + s.steps} ` +
            `${((t2 - t0) / 1000).toFixed(1)} s${i < s.warmup ? " (warm-up)" : ""}`,
        );
      }
      if (i >= s.warmup) {
        times.push(t2 - t0);
        waits.push(t1 - t0);
      }
    }
    const st = stat(times);
    const floor = await floorMs(env.columns);
    const exchanges = new Set(
      env.net.stages.filter((x) => x.type === "exchange").map((x) => x.name),
    );
    let exchangeMs = 0;
    const profile: ProfileItem[] = [];
    for (const l of await env.net.timeLayers(s.warmup + s.steps)) {
      const forwardMs = Math.max(0, l.forward - floor);
      const backwardMs = l.name === "loss" ? 0 : Math.max(0, l.backward - floor);
      profile.push({ name: l.name, forwardMs, backwardMs });
      if (exchanges.has(l.name)) exchangeMs += forwardMs + backwardMs;
    }
    const profiled = profile.reduce((sum, p) => sum + p.forwardMs + p.backwardMs, 0);
    const dataWaitMs = stat(waits).medianMs;
    return {
      ...st,
      imagesPerSecond: s.batch / (st.medianMs / 1000),
      exchangeMs,
      exchangeShare: exchangeMs / st.medianMs,
      dataWaitMs,
      dataWaitShare: dataWaitMs / st.medianMs,
      peakBytes: env.columns.map((c) => c.memory.peakHeld),
      loss,
      setupMs,
      firstStepMs,
      profile,
      gapMs: st.medianMs - profiled,
    };
  } finally {
    batches.close();
    env.close();
  }
}

/** One epoch (or its first `maxSteps` steps, projected) with data loading included. */
async function oursEpoch(
  e: E2EPlan["epochs"][number],
  cfg: AlexNetConfig,
  ds: Dataset,
  shared: Network,
): Promise<Omit<EpochRow, "id">> {
  const env = await setup(cfg, e.batch, e.columns, ds, shared);
  try {
    // One untimed step first: pipelines' first use and bind groups are setup, not epoch.
    {
      using warm = env.loader(99);
      for await (const b of warm) {
        await env.step.run(b, { step: 0, hyper: { lr: 0.01 } });
        break;
      }
    }
    const t0 = performance.now();
    using loader = env.loader(0);
    const total = loader.batchCount;
    let steps = 0, wait = 0, tw = performance.now();
    for await (const b of loader) {
      wait += performance.now() - tw;
      await env.step.run(b, { step: steps + 1, hyper: { lr: 0.01 } });
      tw = performance.now();
      if (++steps >= Math.min(total, e.maxSteps)) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      dataset: ds.name,
      config: cfg.name,
      batch: e.batch,
      columns: e.columns,
      images: ds.train.count,
      stepsPerEpoch: total,
      stepsMeasured: steps,
      measuredSeconds: seconds,
      epochSeconds: projectEpoch(seconds, steps, total),
      projected: steps < total,
      imagesPerSecond: (steps * e.batch) / seconds,
      dataWaitShare: wait / 1000 / seconds,
      peakBytes: env.columns.map((c) => c.memory.peakHeld),
    };
  } finally {
    env.close();
  }
}

/** PyTorch's steps via bench/peers/torch_step.py (null + reason when unavailable). */
async function torchStep(
  cfg: AlexNetConfig,
  batch: number,
  plan: E2EPlan,
): Promise<{ stat: Stat; version: string; threads: number } | string> {
  const script = new URL("./peers/torch_step.py", import.meta.url).pathname;
  let child;
  try {
    child = new Deno.Command(plan.python, {
      args: [script, "--batch", String(batch), "--steps", String(plan.torchSteps), "--warmup", "1"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return `${plan.python} not runnable: ${message(e)}`;
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(cfg)));
  await w.close();
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    if (/No module named .?torch/.test(err)) {
      return `torch is not installed for ${plan.python} (Debian: python3-torch)`;
    }
    return `torch_step.py failed: ${err.trim().split("\n").slice(-3).join(" | ")}`;
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { stat: stat(r.stepsMs), version: r.version, threads: r.threads };
}

/** Runs the plan and assembles the report. */
export async function runE2E(plan: E2EPlan, io: E2EIO): Promise<E2EReport> {
  const failures: { what: string; error: string }[] = [];
  const fail = (what: string, e: unknown) => {
    failures.push({ what, error: message(e) });
    io.log(`FAIL ${what}: ${message(e)}`);
  };
  // Adapter facts from a short-lived column.
  const probe = await openColumns({ count: 1 });
  const col = probe.columns[0];
  const adapter = {
    description: col.description,
    vendor: col.adapterInfo.vendor,
    architecture: col.adapterInfo.architecture,
    device: col.adapterInfo.device,
  };
  const profile = col.profile;
  probe.destroy();

  const missing: Record<string, string> = {};
  type TF = Awaited<ReturnType<typeof import("./peers/tfjs_train.ts").loadTfjsWebgpu>>;
  let tf: TF | null = null, tfjsNote = "";
  if (plan.tfjs) {
    try {
      tf = await (await import("./peers/tfjs_train.ts")).loadTfjsWebgpu();
    } catch (e) {
      missing.tfjs = `TensorFlow.js WebGPU backend did not start: ${message(e)}`;
      fail("peer tfjs", e);
    }
  } else missing.tfjs = "disabled (--no-peer / --no-tfjs)";
  if (!plan.torch) missing.torch = "disabled (--no-peer / --no-torch)";
  let torchInfo: { version: string; threads: number } | null = null;

  const configsUsed: Record<string, unknown> = {};
  const rows: StepRow[] = [];
  for (const s of plan.steps) {
    const cfg = configFor(s.config);
    configsUsed[cfg.name] = cfg;
    let ds: Dataset;
    try {
      io.log(`dataset for ${cfg.name} (synthetic ${cfg.storedSize}px)...`);
      ds = await benchDataset("synthetic", cfg, plan, s.batch);
    } catch (e) {
      fail(`dataset for ${cfg.name}`, e);
      continue;
    }
    const mine: StepRow[] = [];
    for (const count of plan.columns) {
      const row: StepRow = {
        id: `step ${cfg.name} b${s.batch} c${count}`,
        config: cfg.name,
        batch: s.batch,
        columns: count,
        ours: null,
        tfjs: null,
        torch: null,
        ratioTfjs: null,
        ratioTorch: null,
      };
      try {
        row.ours = await oursStep(cfg, s, count, ds, io.log);
        io.log(
          `${row.id}: ${row.ours.medianMs.toFixed(1)} ms/step (${row.ours.minMs.toFixed(1)}-` +
            `${row.ours.maxMs.toFixed(1)}), ${row.ours.imagesPerSecond.toFixed(1)} img/s, loss ${
              row.ours.loss.toFixed(3)
            }; first step ${row.ours.firstStepMs.toFixed(0)} ms`,
        );
        io.log(
          `  profile: ${formatProfile(row.ours.profile, row.ours.medianMs, row.ours.gapMs)}`,
        );
      } catch (e) {
        row.error = message(e);
        fail(row.id, e);
      }
      mine.push(row);
    }
    let tfjs: Stat | null = null, tfjsMissing = missing.tfjs;
    if (tf) {
      const { tfjsTrainer } = await import("./peers/tfjs_train.ts");
      let t;
      try {
        t = tfjsTrainer(tf, cfg, s.batch);
        tfjsNote = t.note;
        await t.step(); // compiles its shaders
        const times: number[] = [];
        for (let i = 0; i < s.peerSteps; i++) {
          const t0 = performance.now();
          const l = await t.step();
          times.push(performance.now() - t0);
          if (!Number.isFinite(l)) throw new Error(`non-finite loss ${l}`);
        }
        tfjs = stat(times);
        io.log(`tfjs ${cfg.name} b${s.batch}: ${tfjs.medianMs.toFixed(1)} ms/step`);
      } catch (e) {
        tfjsMissing = `tfjs failed: ${message(e)}`;
        fail(`tfjs ${cfg.name} b${s.batch}`, e);
      } finally {
        t?.dispose();
      }
    }
    let torch: Stat | null = null, torchMissing = missing.torch;
    if (plan.torch && !missing.torch) {
      const r = await torchStep(cfg, s.batch, plan);
      if (typeof r === "string") {
        torchMissing = r;
        if (!/not installed|not runnable/.test(r)) fail(`torch ${cfg.name} b${s.batch}`, r);
        else missing.torch = r;
      } else {
        torch = r.stat;
        torchInfo = { version: r.version, threads: r.threads };
        io.log(`torch ${cfg.name} b${s.batch}: ${torch.medianMs.toFixed(1)} ms/step`);
      }
    }
    for (const row of mine) {
      row.tfjs = tfjs;
      row.torch = torch;
      if (!tfjs) row.tfjsMissing = tfjsMissing;
      if (!torch) row.torchMissing = torchMissing;
      row.ratioTfjs = ratio(row.ours, tfjs);
      row.ratioTorch = ratio(row.ours, torch);
    }
    rows.push(...mine);
  }

  const epochs: EpochRow[] = [];
  const nets = new Map<string, Network>();
  for (const e of plan.epochs) {
    const cfg = configFor(e.config);
    configsUsed[cfg.name] ??= cfg;
    const id = `epoch ${e.dataset} ${cfg.name} b${e.batch} c${e.columns}`;
    const skipped = (why: string): EpochRow => ({
      id,
      dataset: e.dataset,
      config: cfg.name,
      batch: e.batch,
      columns: e.columns,
      images: 0,
      stepsPerEpoch: 0,
      stepsMeasured: 0,
      measuredSeconds: 0,
      epochSeconds: NaN,
      projected: false,
      imagesPerSecond: 0,
      dataWaitShare: 0,
      peakBytes: [],
      missing: why,
    });
    if (e.dataset === "fashion-mnist") {
      const there = await Deno.stat(`${plan.fashionDir}/train-images-idx3-ubyte.gz`).then(
        () => true,
        () => Deno.stat(`${plan.fashionDir}/train-images-idx3-ubyte`).then(() => true, () => false),
      );
      if (!there) {
        epochs.push(skipped(`Fashion-MNIST not found in ${plan.fashionDir}`));
        io.log(`${id}: skipped (Fashion-MNIST not found in ${plan.fashionDir})`);
        continue;
      }
    }
    try {
      io.log(`dataset ${e.dataset} ${cfg.storedSize}px...`);
      const ds = await benchDataset(e.dataset, cfg, plan, e.batch);
      // Rows with the same config, batch and columns share one network (compiled once).
      const key = `${cfg.name} ${e.batch} ${e.columns}`;
      let nw = nets.get(key);
      if (!nw) nets.set(key, nw = await network(cfg, e.batch, e.columns));
      const r = await oursEpoch(e, cfg, ds, nw);
      epochs.push({ id, ...r });
      io.log(
        `${id}: ${r.epochSeconds.toFixed(1)} s${
          r.projected ? ` (projected from ${r.stepsMeasured}/${r.stepsPerEpoch} steps)` : ""
        }`,
      );
    } catch (err) {
      fail(id, err);
      epochs.push(skipped(`failed: ${message(err)}`));
    }
  }

  for (const nw of nets.values()) nw.close();

  const imagenet: ImageNetProjection[] = [];
  for (const r of rows) {
    if (r.config !== "paper" || !r.ours) continue;
    const perStep = r.ours.medianMs;
    imagenet.push({
      id: `imagenet paper b${r.batch} c${r.columns}`,
      images: IMAGENET_TRAIN_IMAGES,
      batch: r.batch,
      columns: r.columns,
      stepMs: perStep,
      seconds: (IMAGENET_TRAIN_IMAGES / r.batch) * perStep / 1000,
      note: r.batch === 128
        ? "measured at the paper's batch 128"
        : `from batch ${r.batch}, the largest measured (batch 128 does not fit this run's time ` +
          `budget on this adapter); a larger batch usually has a higher images/s`,
    });
  }

  let coldStart: ColdStart | null = null;
  if (plan.coldStart) {
    const c = plan.coldStart;
    io.log(`cold start: ${c.config} b${c.batch} on ${c.columns} column(s), shader cache off...`);
    try {
      coldStart = await measureColdStart(c);
      io.log(
        `cold start: first step ${coldStart.firstStepMs.toFixed(0)} ms (then ` +
          `${coldStart.secondStepMs.toFixed(0)} ms), ${coldStart.pipelines.join(" + ")} pipelines`,
      );
    } catch (e) {
      fail("cold start", e);
    }
  }

  let load: number[] | null = null;
  try {
    load = Deno.loadavg();
  } catch { /* not permitted or not supported */ }
  return {
    schema: "alexnet-webgpu/bench-e2e@1",
    date: new Date().toISOString(),
    flags: { argv: io.argv ?? [], plan },
    environment: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      os: `${Deno.build.os} ${Deno.build.arch}`,
      cpus: navigator.hardwareConcurrency ?? null,
      adapter,
      profile,
      driver: await driverVersion(adapter.description),
      loadAverage: load,
      sharedMachine: "figures are wall-clock; other processes may share the CPU cores",
    },
    configs: configsUsed,
    peers: {
      tfjs: tf ? { name: "tfjs-webgpu", version: tf.version.tfjs, note: tfjsNote } : null,
      torch: torchInfo
        ? {
          name: "pytorch-cpu",
          ...torchInfo,
          note: "bench/peers/torch_step.py: nn.Conv2d(groups=2) for own-column layers, LRN per " +
            "column with alpha*n, dropout 0.5, cross-entropy, the paper's update written out; " +
            "resident float32 input (no loading or augmentation)",
        }
        : null,
      missing,
    },
    steps: rows,
    epochs,
    imagenet,
    coldStart,
    failures,
  };
}
