// The benchmark loop: discover bench/cases/*.ts, validate each case, time it with
// tinybench, time the peer at the same shape, and assemble the report. A case that
// fails to load, prepare, validate or run is reported and the loop goes on; the run
// as a whole then fails.
//
// Amortisation: in Deno an empty submit + onSubmittedWorkDone costs ~12 ms (a poll
// loop), more than many kernels. So every timed iteration records R runs of the case
// into ONE encoder, submits once and waits once, and the figures are iteration time / R.
// R is calibrated per case: the smallest power of two whose work (probe time minus the
// measured floor) reaches --target ms. The peer runs its op R times before its one
// sync, the same R, unless that would take longer than --peer-max (then it gets its
// own R, reported). Encoding is inside the timed region on both sides.

import { Bench } from "tinybench";
import type { KernelBenchCase } from "./_case.ts";
import type { BenchOptions } from "./_args.ts";
import {
  type BenchReport,
  type CaseResult,
  repeatFor,
  speedup,
  type Timing,
  timing,
} from "./_report.ts";
import { type Column, openColumns } from "../kernels/columns.ts";
import { Encoder, sync } from "../kernels/encoder.ts";
import { peerKey, peerShapeOf } from "./peers/_shape.ts";
import type { Peer } from "./peers/tfjs.ts";
import { medianOf } from "./_time.ts";

/** A case with the module it came from. */
export interface LoadedCase {
  /** The case. */
  case: KernelBenchCase;
  /** Module path relative to the project, e.g. "bench/cases/gemm.ts". */
  module: string;
}

/** Where the runner writes progress (stderr by default) and how it finds cases. */
export interface RunnerIO {
  /** Progress lines. */
  log(line: string): void;
  /** Directory of case modules. Default: bench/cases next to this file. */
  casesDir?: URL;
  /** The command line, for the report. */
  argv?: string[];
}

/** Result of {@link runBench}. */
export interface RunOutcome {
  /** Everything measured. */
  report: BenchReport;
  /** True when any case, case module or the requested peer failed. */
  failed: boolean;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Imports every `*.ts` in `dir` (except `_`-prefixed files) in name order. A module
 * exporting a factory — `casesFor(batch)`, or one function named `<something>Cases`
 * such as `lrnCases(batch)` — gets the batch; otherwise its `cases` array is used as is.
 */
export async function loadCases(
  dir: URL,
  batch: number,
): Promise<{ cases: LoadedCase[]; failures: { what: string; error: string }[] }> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".ts") && !e.name.startsWith("_")) names.push(e.name);
  }
  names.sort();
  const cases: LoadedCase[] = [], failures: { what: string; error: string }[] = [];
  for (const name of names) {
    const module = `bench/cases/${name}`;
    try {
      const mod = await import(new URL(name, dir).href);
      const factories = Object.keys(mod).filter((k) =>
        /^(casesFor|[a-zA-Z0-9]+Cases)$/.test(k) && typeof mod[k] === "function"
      );
      const factory = mod.casesFor ?? (factories.length === 1 ? mod[factories[0]] : undefined);
      const list: unknown = typeof factory === "function" ? await factory(batch) : mod.cases;
      if (!Array.isArray(list)) throw new Error("exports neither `cases` nor `casesFor(batch)`");
      for (const c of list as KernelBenchCase[]) cases.push({ case: c, module });
    } catch (e) {
      failures.push({ what: module, error: `failed to load: ${message(e)}` });
    }
  }
  return { cases, failures };
}

/**
 * Times `iterate` with tinybench. One untimed probe iteration runs first; when it alone
 * takes longer than the time budget (a peer kernel at 4 s per call), the probe counts as
 * the warm-up and only 3 iterations are timed, so one slow kernel cannot stretch the run
 * by minutes. The report records how many samples each figure rests on.
 */
async function measure(
  name: string,
  o: BenchOptions,
  iterate: () => Promise<void>,
): Promise<{ p50: number; min: number; max: number; mean: number; samples: number }> {
  const t0 = performance.now();
  await iterate();
  const slow = performance.now() - t0 > o.timeMs;
  const warmup = slow ? 0 : Math.max(0, o.warmup - 1);
  const bench = new Bench({
    time: o.timeMs,
    iterations: slow ? Math.min(3, o.minIterations) : o.minIterations,
    warmup: warmup > 0,
    warmupIterations: warmup,
    warmupTime: 0,
    throws: true,
  });
  bench.add(name, iterate);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== "completed") throw new Error(`tinybench: ${name} ended in state ${r.state}`);
  const l = r.latency;
  return { p50: l.p50, min: l.min, max: l.max, mean: l.mean, samples: l.samplesCount };
}

/** Milliseconds of one call of `fn`. */
async function clock(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Runs per iteration for `iterate`: probes R = 1 (after one warm call), estimates the
 * work per run as (faster of two probes - floor) / R, jumps to the power of two that reaches the
 * target, and re-probes until the work reaches it or R hits the cap.
 */
async function calibrate(
  iterate: (repeat: number) => Promise<void>,
  floorMs: number,
  o: BenchOptions,
): Promise<number> {
  await iterate(1);
  let r = 1;
  for (;;) {
    // The faster of two probes: one slow probe on a shared machine must not stop R early.
    const t = Math.min(await clock(() => iterate(r)), await clock(() => iterate(r)));
    const work = t - floorMs;
    if (work >= o.targetMs || r >= o.maxRepeat) return r;
    r = Math.max(2 * r, repeatFor(Math.max(work, 0) / r, o.targetMs, o.maxRepeat));
    r = Math.min(r, o.maxRepeat);
  }
}

async function timeOurs(
  column: Column,
  c: KernelBenchCase,
  o: BenchOptions,
  floorMs: number,
): Promise<Timing> {
  const prepared = await c.prepare(column);
  try {
    try {
      await prepared.validate();
      column.check();
    } catch (e) {
      throw new Error(`validation failed: ${message(e)}`);
    }
    const iterate = async (repeat: number) => {
      const enc = new Encoder(column, c.name);
      for (let i = 0; i < repeat; i++) prepared.run(enc);
      enc.submit();
      await sync(column);
    };
    const repeat = await calibrate(iterate, floorMs, o);
    const lat = await measure(c.name, o, () => iterate(repeat));
    return timing(lat, c, repeat);
  } finally {
    prepared.dispose();
  }
}

/** The Mesa package version when dpkg knows it (the adapter string omits it). */
export async function driverVersion(description: string): Promise<string | null> {
  if (!/llvmpipe|lavapipe|mesa/i.test(description)) return null;
  try {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${Version}", "mesa-vulkan-drivers"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const v = new TextDecoder().decode(out.stdout).trim();
    return out.success && v ? `Mesa ${v} (mesa-vulkan-drivers, lavapipe)` : null;
  } catch {
    return null;
  }
}

/** Runs every (filtered) case on one column, ours then the peer's, and builds the report. */
export async function runBench(o: BenchOptions, io: RunnerIO): Promise<RunOutcome> {
  const dir = io.casesDir ?? new URL("./cases/", import.meta.url);
  const loaded = await loadCases(dir, o.batch);
  const failures = [...loaded.failures];
  for (const f of failures) io.log(`FAIL ${f.what}: ${f.error}`);
  const selected = loaded.cases.filter((l) =>
    !o.filter || o.filter.test(l.case.name) || o.filter.test(l.case.op)
  );
  io.log(`${selected.length} of ${loaded.cases.length} cases selected`);

  const { columns: [column], destroy } = await openColumns({ count: 1 });
  const info = column.adapterInfo;
  let peer: Peer | null = null, peerError: string | undefined;
  if (o.peer) {
    try {
      const { openTfjsPeer } = await import("./peers/tfjs.ts");
      peer = await openTfjsPeer();
      io.log(`peer: ${peer.name} ${peer.version} on ${peer.adapter}`);
    } catch (e) {
      peerError = `TensorFlow.js WebGPU backend did not start: ${message(e)}`;
      failures.push({ what: "peer tfjs-webgpu", error: peerError });
      io.log(`FAIL ${peerError}`);
    }
  }

  const oursFloor = await medianOf(async () => {
    new Encoder(column, "empty").submit();
    await sync(column);
  });
  const peerFloor = peer ? await peer.syncFloor() : null;
  io.log(
    `sync floor (empty submit + wait): ours ${oursFloor.toFixed(2)} ms` +
      (peerFloor === null ? "" : `, tfjs ${peerFloor.toFixed(2)} ms`),
  );

  const results: CaseResult[] = [];
  const peerCache = new Map<string, { t: Timing & { note: string } } | { missing: string }>();
  try {
    for (const { case: c, module } of selected) {
      const shape = peerShapeOf(c);
      const key = shape ? peerKey(shape) : null;
      const r: CaseResult = {
        name: c.name,
        op: c.op,
        shape: c.shape,
        module,
        flops: c.flops,
        bytes: c.bytes,
        key,
        ours: null,
        peer: null,
        speedup: null,
      };
      results.push(r);
      try {
        r.ours = await timeOurs(column, c, o, oursFloor);
      } catch (e) {
        r.error = message(e);
        failures.push({ what: `${c.name} (${c.op}, ${module})`, error: r.error });
        io.log(`FAIL ${c.name}: ${r.error}`);
        continue;
      }
      if (!peer) r.peerMissing = peerError ?? "peer disabled (--no-peer)";
      else if (!shape || !key) r.peerMissing = "no peer equivalent for this op/shape";
      else {
        const cacheKey = `${key} R=${r.ours.repeat}`;
        let got = peerCache.get(cacheKey);
        if (!got) {
          got = await timePeer(peer, shape, c, o, r.ours.repeat);
          peerCache.set(cacheKey, got);
          if ("missing" in got && got.missing.startsWith("peer failed")) {
            failures.push({ what: `tfjs ${key}`, error: got.missing });
          }
        }
        if ("t" in got) r.peer = got.t;
        else r.peerMissing = got.missing;
      }
      if (r.ours && r.peer) r.speedup = speedup(r.peer.medianMs, r.ours.medianMs);
      io.log(
        `${c.name}: ${r.ours.medianMs.toFixed(3)} ms/run (R=${r.ours.repeat})` +
          (r.peer
            ? `, tfjs ${r.peer.medianMs.toFixed(3)} ms/run (R=${r.peer.repeat})`
            : `, tfjs — (${r.peerMissing})`),
      );
    }
  } finally {
    peer?.close();
    destroy();
  }

  const report: BenchReport = {
    schema: "alexnet-webgpu/bench-kernels@1",
    date: new Date().toISOString(),
    flags: {
      argv: io.argv ?? [],
      batch: o.batch,
      timeMs: o.timeMs,
      minIterations: o.minIterations,
      warmup: o.warmup,
      targetMs: o.targetMs,
      maxRepeat: o.maxRepeat,
      filter: o.filter?.source ?? null,
      peer: o.peer,
    },
    environment: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      os: `${Deno.build.os} ${Deno.build.arch}`,
      cpus: navigator.hardwareConcurrency ?? null,
      adapter: {
        description: column.description,
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
      },
      profile: column.profile,
      driver: await driverVersion(column.description),
      sharedMachine: "figures are wall-clock; other processes may share the CPU cores",
    },
    peer: peer
      ? {
        name: peer.name,
        version: peer.version,
        adapter: peer.adapter,
        sync: peer.sync,
        notes: peer.notes,
      }
      : null,
    syncFloorMs: { ours: oursFloor, peer: peerFloor },
    ...(peerError ? { peerError } : {}),
    cases: results,
    failures,
  };
  return { report, failed: failures.length > 0 };
}

/**
 * Times the peer at `repeat` runs per iteration (our R for the case). When one such
 * iteration takes longer than --peer-max, R is cut to the power of two that fits and
 * the note says so.
 */
async function timePeer(
  peer: Peer,
  shape: NonNullable<ReturnType<typeof peerShapeOf>>,
  c: KernelBenchCase,
  o: BenchOptions,
  repeat: number,
): Promise<{ t: Timing & { note: string } } | { missing: string }> {
  let task;
  try {
    task = peer.prepare(shape);
  } catch (e) {
    return { missing: `peer failed to prepare: ${message(e)}` };
  }
  if (typeof task === "string") return { missing: task };
  try {
    await task.check();
    let r = repeat, note = task.note;
    await task.iterate(1);
    const probe = await clock(() => task.iterate(r));
    if (probe > o.peerMaxMs && r > 1) {
      const per = probe / r;
      while (r > 1 && r * per > o.peerMaxMs) r >>= 1;
      note += ` (calibrated apart: R=${r}, ours R=${repeat}, since ${repeat} runs took ${
        probe.toFixed(0)
      } ms)`;
    }
    const lat = await measure(`tfjs ${c.name}`, o, () => task.iterate(r));
    return { t: { ...timing(lat, c, r), note } };
  } catch (e) {
    return { missing: `peer failed: ${message(e)}` };
  } finally {
    task.dispose();
  }
}
