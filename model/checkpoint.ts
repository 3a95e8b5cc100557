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
// deleted. A crash while writing leaves the good DIR untouched (plus a stale .tmp); a
// crash between the two renames leaves no DIR but a complete DIR.old-<pid>, which
// loadCheckpoint names in its error. (POSIX cannot rename over a non-empty directory,
// so there is no single-rename swap.)

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

/**
 * Writes a checkpoint directory atomically (see the file header).
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
  const sidecar = { format: FORMAT, id, savedAt: new Date().toISOString(), state: ckpt.state };

  const root = dir.replace(/\/+$/, "");
  const tmp = `${root}.tmp-${Deno.pid}`, old = `${root}.old-${Deno.pid}`;
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
  const file = `${dir}/state.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text, decodeState);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (json?.format !== FORMAT) {
    throw new Error(`${file}: format is ${JSON.stringify(json?.format)}, expected "${FORMAT}"`);
  }
  if (typeof json.id !== "string") throw new Error(`${file}: id is missing`);
  const state = json.state as CheckpointState;
  if (typeof state !== "object" || state === null) throw new Error(`${file}: state is missing`);
  try {
    validateConfig(state.config);
  } catch (e) {
    throw new Error(`${file}: state.${(e as Error).message}`);
  }
  for (const k of ["epoch", "step"] as const) {
    const v = state[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0)) {
      throw new Error(
        `${file}: state.${k} must be a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (state.lr !== undefined && !(typeof state.lr === "number" && state.lr >= 0)) {
    throw new Error(
      `${file}: state.lr must be a non-negative number, got ${JSON.stringify(state.lr)}`,
    );
  }
  if (state.dataFingerprint !== undefined && typeof state.dataFingerprint !== "string") {
    throw new Error(`${file}: state.dataFingerprint must be a string`);
  }
  if (state.rng !== undefined) {
    if (typeof state.rng !== "object" || state.rng === null) {
      throw new Error(`${file}: state.rng must be an object of named RNG states`);
    }
    for (const [k, v] of Object.entries(state.rng)) {
      try {
        validateRngState(v, `state.rng.${k}`);
      } catch (e) {
        throw new Error(`${file}: ${(e as Error).message}`);
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
  const { tensors, metadata } = await readSafetensors(file);
  if (metadata["alexnet.checkpoint"] !== id) {
    throw new Error(
      `${file}: belongs to save ${metadata["alexnet.checkpoint"] ?? "(none)"}, but state.json ` +
        `is save ${id} — the directory mixes files of different checkpoints`,
    );
  }
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of parameterShapes(cfg)) {
    const t = tensors.get(name + suffix);
    if (!t) throw new Error(`${file}: missing tensor "${name + suffix}" (config ${cfg.name})`);
    if (!(t.data instanceof Float32Array)) {
      throw new Error(`${file}: "${name + suffix}" is not F32`);
    }
    if (t.shape.join() !== shape.join()) {
      throw new Error(
        `${file}: tensor "${
          name + suffix
        }" has shape [${t.shape}], config ${cfg.name} needs [${shape}]`,
      );
    }
    out.set(name, t.data);
  }
  for (const name of tensors.keys()) {
    if (!out.has(name.slice(0, name.length - suffix.length)) || !name.endsWith(suffix)) {
      throw new Error(
        `${file}: unexpected tensor "${name}" (config ${cfg.name} has no such parameter)`,
      );
    }
  }
  return out;
}

/**
 * Loads and validates a checkpoint directory: state.json parses and its config is valid
 * (and equals `expectConfig` if given), both safetensors files belong to the same save
 * and hold exactly the config's tensors with the right shapes.
 *
 * @example
 * ```ts ignore
 * const { weights, momentum, state } = await loadCheckpoint("out/checkpoint", { expectConfig: cfg });
 * ```
 */
export async function loadCheckpoint(dir: string, options: LoadOptions = {}): Promise<Checkpoint> {
  const root = dir.replace(/\/+$/, "");
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (!info) {
    const parent = dirname(root), base = root.slice(root.lastIndexOf("/") + 1);
    const leftovers: string[] = [];
    try {
      for await (const e of Deno.readDir(parent)) {
        if (e.name.startsWith(`${base}.old-`)) leftovers.push(`${parent}/${e.name}`);
      }
    } catch { /* parent missing too */ }
    throw new Error(
      `checkpoint ${root} does not exist` +
        (leftovers.length
          ? `; a save was interrupted and left the previous checkpoint at ${leftovers[0]} ` +
            `(rename it to ${root} to resume from it)`
          : ""),
    );
  }
  if (!info.isDirectory) throw new Error(`checkpoint ${root} is not a directory`);
  const { id, state } = await readState(root);
  if (options.expectConfig) {
    const d = diffConfig(state.config, options.expectConfig, "config");
    if (d) throw new Error(`checkpoint ${root} does not match this run's config: ${d}`);
  }
  const weights = await readTensors(`${root}/model.safetensors`, state.config, "", id);
  const momentum = await readTensors(
    `${root}/optimizer.safetensors`,
    state.config,
    ".momentum",
    id,
  );
  return { weights, momentum, state };
}
