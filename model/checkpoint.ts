// Checkpoints as folders: a directory that loads into PyTorch and resumes training
// exactly. The format itself (the three files' bytes, all validation) is
// checkpoint_format.ts; this module adds the file system.
//
//   DIR/model.safetensors, DIR/optimizer.safetensors, DIR/state.json
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
import {
  type Checkpoint,
  type CheckpointState,
  decodeCheckpoint,
  decodeCheckpointState,
  encodeCheckpoint,
  type LoadOptions,
} from "./checkpoint_format.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafeTensor,
  type SafetensorsContents,
} from "./safetensors.ts";
import { dirname, syncDirectory, writeFileAtomic } from "./_files.ts";

export * from "./checkpoint_format.ts";
export * from "./safetensors.ts";

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
  const root = dir.replace(/\/+$/, "");
  const files = encodeCheckpoint(ckpt, root);
  const tmp = `${root}.tmp-${Deno.pid}`, old = `${root}.old-${Deno.pid}`;
  try {
    await Deno.mkdir(dirname(root), { recursive: true });
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp);
    await writeFileAtomic(`${tmp}/model.safetensors`, files.model);
    await writeFileAtomic(`${tmp}/optimizer.safetensors`, files.optimizer);
    await writeFileAtomic(`${tmp}/state.json`, files.state);
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

/**
 * Writes a safetensors file atomically.
 *
 * @example
 * ```ts ignore
 * await writeSafetensors("w.safetensors", new Map([["b", { shape: [1], data: new Float32Array([0]) }]]));
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, SafeTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads and validates a safetensors file (errors name the file and what is wrong).
 *
 * @example
 * ```ts ignore
 * const { tensors, metadata } = await readSafetensors("tests/fixtures/tiny_golden.safetensors");
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await Deno.readFile(path), path);
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
  const read = async (name: string) => {
    try {
      return await Deno.readFile(`${root}/${name}`);
    } catch (e) {
      throw new CheckpointError(
        `${root}/${name}: cannot read (${(e as Error).message})`,
        root,
        { cause: e },
      );
    }
  };
  const state = await read("state.json");
  let model: Uint8Array, optimizer: Uint8Array;
  try {
    model = await read("model.safetensors");
    optimizer = await read("optimizer.safetensors");
  } catch (e) {
    decodeCheckpointState(state, root); // a damaged state.json is named before missing tensors
    throw e;
  }
  return decodeCheckpoint({ model, optimizer, state }, { ...options, where: root });
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
