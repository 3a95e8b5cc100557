// Checkpoints: a directory that loads into PyTorch and resumes training exactly.
//
//   DIR/model.safetensors      weights, PyTorch names and shapes (conv2.weight [256,48,5,5])
//   DIR/optimizer.safetensors  momentum buffers, named "<parameter>.momentum"
//   DIR/state.json             {format, id, savedAt, state}: the caller's training state
//                              (epoch, step, RNG states, config, data fingerprint, lr,
//                              schedule, metrics, ...) — `state.config` is required
//
// Both safetensors files carry the save's random `id` in their __metadata__, so files
// from different saves can never be mixed silently.
//
// Atomicity: the whole directory is written as DIR.tmp-<pid> (each file fsynced), then
// the old DIR is renamed to DIR.old-<pid>, the new one renamed to DIR, and the old one
// deleted. (POSIX cannot rename over a non-empty directory, so there is no single-rename
// swap.) A kill at any moment leaves a loadable checkpoint: DIR itself, or — between the
// two renames — a complete DIR.tmp-<pid> and DIR.old-<pid>. `loadCheckpoint` then loads
// the newest complete, valid leftover, and `recoverCheckpoint` (which training runs
// before it starts) moves it back to DIR and deletes what dead processes left behind.
// Non-finite weights are never written, and a checkpoint holding any is refused.

import { CheckpointError } from "../errors.ts";
import { type AlexNetConfig, parameterShapes, validateConfig } from "./config.ts";
import { type RngState, validateRngState } from "./rng.ts";
import {
  dirname,
  encodeSafetensors,
  readSafetensors,
  type SafeTensor,
  syncDirectory,
  writeFileAtomic,
} from "./_safetensors.ts";

export * from "./_safetensors.ts";

const FORMAT = "alexnet-webgpu checkpoint 1";

/**
 * The JSON sidecar's state. Only `config` is required; the well-known fields are
 * validated when present; anything else is stored as given (plain JSON data; Infinity
 * and NaN round-trip as `{"__float__": "Infinity"}`; bigints/functions are rejected).
 */
export interface CheckpointState {
  /** The network's config (validated on load). */
  config: AlexNetConfig;
  /** Completed epochs. */
  epoch?: number;
  /** Completed steps. */
  step?: number;
  /** Named RNG streams (e.g. shuffle, augment). */
  rng?: Record<string, RngState>;
  /** Fingerprint of the training data. */
  dataFingerprint?: string;
  /** Current learning rate. */
  lr?: number;
  /** Anything else the trainer needs (schedule state, metrics, ...). */
  [key: string]: unknown;
}

/** What a checkpoint holds (whole-network tensors, PyTorch order). */
export interface Checkpoint {
  /** Parameters by PyTorch name. */
  weights: Map<string, Float32Array>;
  /** Momentum buffers by parameter name (no ".momentum" suffix here). */
  momentum: Map<string, Float32Array>;
  /** The sidecar state. */
  state: CheckpointState;
  /** Set when the folder was missing and an interrupted save's leftover was loaded. */
  recoveredFrom?: string;
}

/** Options of {@link loadCheckpoint}. */
export interface LoadOptions {
  /** Fail unless the checkpoint's config equals this one (names the first difference). */
  expectConfig?: AlexNetConfig;
}

// JSON has no Infinity/NaN (JSON.stringify writes null, which would e.g. break a
// plateau schedule's "best so far = Infinity" on resume), so non-finite numbers are
// stored as {"__float__": "Infinity" | "-Infinity" | "NaN"} and revived on load.
const FLOAT_TAG = "__float__";

function encodeState(key: string, value: unknown): unknown {
  void key;
  if (typeof value === "number" && !Number.isFinite(value)) return { [FLOAT_TAG]: String(value) };
  return value;
}

function decodeState(key: string, value: unknown): unknown {
  void key;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const tag = (value as Record<string, unknown>)[FLOAT_TAG];
    if (keys.length === 1 && (tag === "Infinity" || tag === "-Infinity" || tag === "NaN")) {
      return Number(tag);
    }
  }
  return value;
}

// Reject what JSON cannot represent at all, naming the path.
function checkJson(value: unknown, path: string): void {
  if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") {
    throw new TypeError(`${path} is a ${typeof value}, which JSON cannot store`);
  }
  if (Array.isArray(value)) value.forEach((v, i) => checkJson(v, `${path}[${i}]`));
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`);
  }
}

function tensorsFor(
  cfg: AlexNetConfig,
  values: ReadonlyMap<string, Float32Array>,
  suffix: string,
  what: string,
): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const { name, shape } of parameterShapes(cfg)) {
    const data = values.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!data) throw new RangeError(`saveCheckpoint: ${what} has no tensor "${name}"`);
    if (data.length !== size) {
      throw new RangeError(
        `saveCheckpoint: ${what} "${name}" has ${data.length} elements, [${shape}] needs ${size}`,
      );
    }
    out.set(name + suffix, { shape, data });
  }
  const extra = [...values.keys()].filter((k) => !out.has(k + suffix));
  if (extra.length) throw new RangeError(`saveCheckpoint: ${what} has unexpected "${extra[0]}"`);
  return out;
}

/** "conv1.weight holds 3 non-finite values (first: NaN at 17)", or undefined when finite. */
function nonFinite(values: ReadonlyMap<string, Float32Array>): string | undefined {
  for (const [name, a] of values) {
    let count = 0, first = -1;
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (count > 0) {
      return `${name} holds ${count} non-finite value(s) (first: ${a[first]} at index ${first})`;
    }
  }
  return undefined;
}

/**
 * Writes a checkpoint directory atomically (see the file header). Refuses non-finite
 * weights or momentum, and reports a failed write (e.g. a full disk) as a
 * CheckpointError after removing its partial files: the previous checkpoint stays.
 *
 * @example
 * ```ts ignore
 * await saveCheckpoint("out/checkpoint", { weights, momentum, state: { config, epoch: 3, step: 1200 } });
 * ```
 */
export async function saveCheckpoint(dir: string, ckpt: {
  weights: ReadonlyMap<string, Float32Array>;
  momentum: ReadonlyMap<string, Float32Array>;
  state: CheckpointState;
}): Promise<void> {
  const cfg = validateConfig(ckpt.state.config);
  checkJson(ckpt.state, "saveCheckpoint: state");
  const id = crypto.randomUUID();
  const meta = { format: "pt", "alexnet.checkpoint": id, "alexnet.config": cfg.name };
  const model = tensorsFor(cfg, ckpt.weights, "", "weights");
  const optim = tensorsFor(cfg, ckpt.momentum, ".momentum", "momentum");
  const root = dir.replace(/\/+$/, "");
  for (const [what, values] of [["weights", ckpt.weights], ["momentum", ckpt.momentum]] as const) {
    const bad = nonFinite(values);
    if (bad) {
      throw new CheckpointError(
        `not writing checkpoint ${root}: the ${what}' ${bad}; a checkpoint is never written ` +
          `from non-finite values`,
        root,
      );
    }
  }
  const sidecar = { format: FORMAT, id, savedAt: new Date().toISOString(), state: ckpt.state };

  const tmp = `${root}.tmp-${Deno.pid}`, old = `${root}.old-${Deno.pid}`;
  try {
    await Deno.mkdir(dirname(root), { recursive: true });
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp);
    await writeFileAtomic(`${tmp}/model.safetensors`, encodeSafetensors(model, meta));
    await writeFileAtomic(`${tmp}/optimizer.safetensors`, encodeSafetensors(optim, meta));
    await writeFileAtomic(
      `${tmp}/state.json`,
      new TextEncoder().encode(JSON.stringify(sidecar, encodeState, 2) + "\n"),
    );
    await syncDirectory(tmp);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    const kept = await exists(root) ? `; the previous checkpoint ${root} is intact` : "";
    throw new CheckpointError(
      `cannot write checkpoint ${root}: ${(e as Error).message}${kept}`,
      root,
      { cause: e },
    );
  }
  let hadOld = false;
  try {
    await Deno.rename(root, old);
    hadOld = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.rename(tmp, root);
  await syncDirectory(dirname(root));
  if (hadOld) await Deno.remove(old, { recursive: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function diffConfig(a: unknown, b: unknown, path: string): string | undefined {
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: checkpoint has ${JSON.stringify(a)}, ` +
      `expected ${JSON.stringify(b)}`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const sub = Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`;
    const d = diffConfig((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], sub);
    if (d) return d;
  }
  return undefined;
}

async function readState(dir: string): Promise<{ id: string; state: CheckpointState }> {
  const bad = (message: string) => new CheckpointError(message, dir);
  const file = `${dir}/state.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw bad(`${file}: cannot read (${(e as Error).message})`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text, decodeState);
  } catch (e) {
    throw bad(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (json?.format !== FORMAT) {
    throw bad(`${file}: format is ${JSON.stringify(json?.format)}, expected "${FORMAT}"`);
  }
  if (typeof json.id !== "string") throw bad(`${file}: id is missing`);
  const state = json.state as CheckpointState;
  if (typeof state !== "object" || state === null) throw bad(`${file}: state is missing`);
  try {
    validateConfig(state.config);
  } catch (e) {
    throw bad(`${file}: state.${(e as Error).message}`);
  }
  for (const k of ["epoch", "step"] as const) {
    const v = state[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0)) {
      throw bad(
        `${file}: state.${k} must be a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (state.lr !== undefined && !(typeof state.lr === "number" && state.lr >= 0)) {
    throw bad(
      `${file}: state.lr must be a non-negative number, got ${JSON.stringify(state.lr)}`,
    );
  }
  if (state.dataFingerprint !== undefined && typeof state.dataFingerprint !== "string") {
    throw bad(`${file}: state.dataFingerprint must be a string`);
  }
  if (state.rng !== undefined) {
    if (typeof state.rng !== "object" || state.rng === null) {
      throw bad(`${file}: state.rng must be an object of named RNG states`);
    }
    for (const [k, v] of Object.entries(state.rng)) {
      try {
        validateRngState(v, `state.rng.${k}`);
      } catch (e) {
        throw bad(`${file}: ${(e as Error).message}`);
      }
    }
  }
  return { id: json.id, state };
}

async function readTensors(
  file: string,
  cfg: AlexNetConfig,
  suffix: string,
  id: string,
): Promise<Map<string, Float32Array>> {
  const bad = (message: string) => new CheckpointError(message, dirname(file));
  let contents;
  try {
    contents = await readSafetensors(file);
  } catch (e) {
    throw new CheckpointError((e as Error).message, dirname(file), { cause: e });
  }
  const { tensors, metadata } = contents;
  if (metadata["alexnet.checkpoint"] !== id) {
    throw bad(
      `${file}: belongs to save ${metadata["alexnet.checkpoint"] ?? "(none)"}, but state.json ` +
        `is save ${id} — the directory mixes files of different checkpoints`,
    );
  }
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of parameterShapes(cfg)) {
    const t = tensors.get(name + suffix);
    if (!t) throw bad(`${file}: missing tensor "${name + suffix}" (config ${cfg.name})`);
    if (!(t.data instanceof Float32Array)) {
      throw bad(`${file}: "${name + suffix}" is not F32`);
    }
    if (t.shape.join() !== shape.join()) {
      throw bad(
        `${file}: tensor "${
          name + suffix
        }" has shape [${t.shape}], config ${cfg.name} needs [${shape}]`,
      );
    }
    out.set(name, t.data);
  }
  for (const name of tensors.keys()) {
    if (!out.has(name.slice(0, name.length - suffix.length)) || !name.endsWith(suffix)) {
      throw bad(
        `${file}: unexpected tensor "${name}" (config ${cfg.name} has no such parameter)`,
      );
    }
  }
  return out;
}

/** Whether process `pid` is running: /proc where it exists, else assumed (never deletes a live save). */
function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true; // no /proc: cannot tell, so leave the leftover alone
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** A folder an interrupted save left beside a checkpoint. */
export interface CheckpointLeftover {
  /** Its path (`DIR.tmp-<pid>` or `DIR.old-<pid>`). */
  path: string;
  /** `tmp`: a save's new checkpoint; `old`: the checkpoint it was replacing. */
  kind: "tmp" | "old";
  /** The saving process. */
  pid: number;
  /** Whether that process is still running. */
  alive: boolean;
}

/**
 * The folders interrupted saves left beside checkpoint `dir`.
 *
 * @example
 * ```ts ignore
 * for (const l of await checkpointLeftovers("out/train/checkpoint")) console.log(l.path, l.alive);
 * ```
 */
export async function checkpointLeftovers(dir: string): Promise<CheckpointLeftover[]> {
  const root = dir.replace(/\/+$/, "");
  const parent = dirname(root), base = root.slice(root.lastIndexOf("/") + 1);
  const out: CheckpointLeftover[] = [];
  try {
    for await (const e of Deno.readDir(parent)) {
      const m = e.name.startsWith(base) && /^\.(tmp|old)-(\d+)$/.exec(e.name.slice(base.length));
      if (!m || !e.isDirectory) continue;
      const pid = Number(m[2]);
      out.push({
        path: parent === "." && !root.startsWith("./") ? e.name : `${parent}/${e.name}`,
        kind: m[1] as "tmp" | "old",
        pid,
        alive: processAlive(pid),
      });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => a.path < b.path ? -1 : 1);
}

/** Reads and validates a checkpoint folder completely (no fallback). */
async function readCheckpoint(root: string, options: LoadOptions): Promise<Checkpoint> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    throw new CheckpointError(`checkpoint ${root}: ${(e as Error).message}`, root, { cause: e });
  }
  if (!info.isDirectory) throw new CheckpointError(`checkpoint ${root} is not a directory`, root);
  const { id, state } = await readState(root);
  if (options.expectConfig) {
    const d = diffConfig(state.config, options.expectConfig, "config");
    if (d) {
      throw new CheckpointError(`checkpoint ${root} does not match this run's config: ${d}`, root);
    }
  }
  const weights = await readTensors(`${root}/model.safetensors`, state.config, "", id);
  const momentum = await readTensors(
    `${root}/optimizer.safetensors`,
    state.config,
    ".momentum",
    id,
  );
  for (const [file, values] of [["model", weights], ["optimizer", momentum]] as const) {
    const bad = nonFinite(values);
    if (bad) {
      throw new CheckpointError(
        `${root}/${file}.safetensors: ${bad}; this checkpoint is unusable (training had ` +
          `diverged when it was written)`,
        root,
      );
    }
  }
  return { weights, momentum, state };
}

/** The newest (highest step) leftover that loads and validates, if any. */
async function bestLeftover(
  root: string,
  options: LoadOptions,
): Promise<{ path: string; checkpoint: Checkpoint } | undefined> {
  let best: { path: string; checkpoint: Checkpoint } | undefined;
  for (const l of await checkpointLeftovers(root)) {
    try {
      const checkpoint = await readCheckpoint(l.path, options);
      if (!best || (checkpoint.state.step ?? 0) > (best.checkpoint.state.step ?? 0)) {
        best = { path: l.path, checkpoint };
      }
    } catch {
      // incomplete or corrupt: a save killed while writing it
    }
  }
  return best;
}

/**
 * Loads and validates a checkpoint directory: state.json parses and its config is valid
 * (and equals `expectConfig` if given), both safetensors files belong to the same save,
 * hold exactly the config's tensors with the right shapes, and every value is finite.
 * If `dir` is missing because a save was killed between its two renames, the newest
 * complete leftover (`DIR.tmp-<pid>` or `DIR.old-<pid>`) is loaded instead and named in
 * `recoveredFrom`. Errors are CheckpointErrors naming the file and the problem.
 *
 * @example
 * ```ts ignore
 * const { weights, momentum, state } = await loadCheckpoint("out/checkpoint", { expectConfig: cfg });
 * ```
 */
export async function loadCheckpoint(dir: string, options: LoadOptions = {}): Promise<Checkpoint> {
  const root = dir.replace(/\/+$/, "");
  if (!(await exists(root))) {
    const found = await bestLeftover(root, options);
    if (found) return { ...found.checkpoint, recoveredFrom: found.path };
    throw new CheckpointError(`checkpoint ${root} does not exist`, root);
  }
  return await readCheckpoint(root, options);
}

/** What {@link recoverCheckpoint} did. */
export interface Recovery {
  /** The leftover moved back to `dir` (it was missing), if any. */
  restored?: string;
  /** Leftovers of dead processes deleted. */
  removed: string[];
}

/**
 * Repairs what interrupted saves left beside checkpoint `dir`: if `dir` is missing, the
 * newest complete and valid leftover becomes `dir` again; then every leftover of a
 * process that is no longer running is deleted. Training calls it before it starts, so
 * a run killed at any moment needs no manual step.
 *
 * @example
 * ```ts ignore
 * const { restored, removed } = await recoverCheckpoint("out/train/checkpoint");
 * ```
 */
export async function recoverCheckpoint(dir: string): Promise<Recovery> {
  const root = dir.replace(/\/+$/, "");
  const result: Recovery = { removed: [] };
  if (!(await exists(root))) {
    const found = await bestLeftover(root, {});
    if (found) {
      await Deno.rename(found.path, root);
      await syncDirectory(dirname(root));
      result.restored = found.path;
    }
  }
  for (const l of await checkpointLeftovers(root)) {
    if (l.alive) continue;
    await Deno.remove(l.path, { recursive: true });
    result.removed.push(l.path);
  }
  return result;
}
