// The checkpoint format in memory: three files' bytes to and from weights, momentum and
// training state, with every check `loadCheckpoint` makes, and no file system (so it
// also runs in a browser). model/checkpoint.ts writes and reads them as a folder:
//
//   model.safetensors      weights, PyTorch names and shapes (conv2.weight [256,48,5,5])
//   optimizer.safetensors  momentum buffers, named "<parameter>.momentum"
//   state.json             {format, id, savedAt, state}: the caller's training state
//                          (epoch, step, RNG states, config, data fingerprint, lr,
//                          schedule, metrics, ...) — `state.config` is required
//
// Both safetensors files carry the save's random `id` in their __metadata__, so files
// from different saves can never be mixed silently. Non-finite values are never
// encoded, and refused when decoded.

import { CheckpointError } from "../errors.ts";
import { type AlexNetConfig, parameterShapes, validateConfig } from "./config.ts";
import { type RngState, validateRngState } from "./rng.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "./safetensors.ts";

/** The `format` field of state.json. */
export const CHECKPOINT_FORMAT = "alexnet-webgpu checkpoint 1";

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

/** Options of {@link decodeCheckpoint} (and loadCheckpoint). */
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

/**
 * Parses and validates state.json's bytes alone (format, id, config, the well-known
 * fields): what `decodeCheckpoint` checks first, for readers that want the state's
 * error before reading the tensors.
 *
 * @example
 * ```ts ignore
 * const { state } = decodeCheckpointState(await Deno.readFile("ck/state.json"), "ck");
 * ```
 */
export function decodeCheckpointState(
  bytes: Uint8Array,
  where = "checkpoint",
): { id: string; state: CheckpointState } {
  return parseState(where, new TextDecoder().decode(bytes));
}

function parseState(dir: string, text: string): { id: string; state: CheckpointState } {
  const bad = (message: string) => new CheckpointError(message, dir);
  const file = `${dir}/state.json`;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text, decodeState);
  } catch (e) {
    throw bad(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (json?.format !== CHECKPOINT_FORMAT) {
    throw bad(
      `${file}: format is ${JSON.stringify(json?.format)}, expected "${CHECKPOINT_FORMAT}"`,
    );
  }
  if (typeof json.id !== "string") throw bad(`${file}: id is missing`);
  const state = json.state as CheckpointState;
  if (typeof state !== "object" || state === null) throw bad(`${file}: state is missing`);
  try {
    // A config in the older fixed form becomes its layer table here.
    state.config = validateConfig(state.config);
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

function parseTensors(
  dir: string,
  file: string,
  bytes: Uint8Array,
  cfg: AlexNetConfig,
  suffix: string,
  id: string,
): Map<string, Float32Array> {
  const bad = (message: string) => new CheckpointError(message, dir);
  let contents;
  try {
    contents = decodeSafetensors(bytes, file);
  } catch (e) {
    throw new CheckpointError((e as Error).message, dir, { cause: e });
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

/** A checkpoint as the bytes of its three files. */
export interface CheckpointFiles {
  /** model.safetensors: the weights. */
  model: Uint8Array;
  /** optimizer.safetensors: the momentum buffers. */
  optimizer: Uint8Array;
  /** state.json (UTF-8). */
  state: Uint8Array;
}

/**
 * Encodes a checkpoint as the bytes of its three files: validates the config, the
 * state (plain JSON data) and every tensor's name and size, and refuses NaN or
 * infinite values. `where` names the checkpoint in errors.
 *
 * @example
 * ```ts
 * import { configFor, decodeCheckpoint, encodeCheckpoint, initParameters } from "../mod.ts";
 * const config = configFor("tiny", 10);
 * const weights = initParameters(config, 1);
 * const momentum = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length)]));
 * const files = encodeCheckpoint({ weights, momentum, state: { config, step: 0 } });
 * decodeCheckpoint(files).weights.get("conv1.bias")!.length; // 16
 * ```
 */
export function encodeCheckpoint(ckpt: {
  weights: ReadonlyMap<string, Float32Array>;
  momentum: ReadonlyMap<string, Float32Array>;
  state: CheckpointState;
}, where = "checkpoint"): CheckpointFiles {
  const cfg = validateConfig(ckpt.state.config);
  checkJson(ckpt.state, "saveCheckpoint: state");
  const id = crypto.randomUUID();
  const meta = { format: "pt", "alexnet.checkpoint": id, "alexnet.config": cfg.name };
  const model = tensorsFor(cfg, ckpt.weights, "", "weights");
  const optim = tensorsFor(cfg, ckpt.momentum, ".momentum", "momentum");
  for (const [what, values] of [["weights", ckpt.weights], ["momentum", ckpt.momentum]] as const) {
    const bad = nonFinite(values);
    if (bad) {
      throw new CheckpointError(
        `not writing checkpoint ${where}: the ${what}' ${bad}; a checkpoint is never written ` +
          `from non-finite values`,
        where,
      );
    }
  }
  const sidecar = {
    format: CHECKPOINT_FORMAT,
    id,
    savedAt: new Date().toISOString(),
    state: ckpt.state,
  };
  return {
    model: encodeSafetensors(model, meta),
    optimizer: encodeSafetensors(optim, meta),
    state: new TextEncoder().encode(JSON.stringify(sidecar, encodeState, 2) + "\n"),
  };
}

/**
 * Decodes and validates a checkpoint from its three files' bytes: state.json parses and
 * its config is valid (and equals `expectConfig` if given), both safetensors files
 * belong to the same save, hold exactly the config's tensors with the right shapes, and
 * every value is finite. Errors are CheckpointErrors naming `where`'s file and problem.
 *
 * @example
 * ```ts ignore
 * const files = { model: await (await fetch(url + "/model.safetensors")).bytes(), ... };
 * const { weights, state } = decodeCheckpoint(files, { where: url });
 * ```
 */
export function decodeCheckpoint(
  files: CheckpointFiles,
  options: LoadOptions & { where?: string } = {},
): Checkpoint {
  const where = options.where ?? "checkpoint";
  const { id, state } = parseState(where, new TextDecoder().decode(files.state));
  if (options.expectConfig) {
    const d = diffConfig(state.config, options.expectConfig, "config");
    if (d) {
      throw new CheckpointError(
        `checkpoint ${where} does not match this run's config: ${d}`,
        where,
      );
    }
  }
  const weights = parseTensors(
    where,
    `${where}/model.safetensors`,
    files.model,
    state.config,
    "",
    id,
  );
  const momentum = parseTensors(
    where,
    `${where}/optimizer.safetensors`,
    files.optimizer,
    state.config,
    ".momentum",
    id,
  );
  for (const [file, values] of [["model", weights], ["optimizer", momentum]] as const) {
    const bad = nonFinite(values);
    if (bad) {
      throw new CheckpointError(
        `${where}/${file}.safetensors: ${bad}; this checkpoint is unusable (training had ` +
          `diverged when it was written)`,
        where,
      );
    }
  }
  return { weights, momentum, state };
}
