// The errors the library throws on purpose, and how a command line reports them.
//
// Library functions throw these typed errors (or TypeError/RangeError for a bad
// argument); only the CLIs turn an error into one line on stderr and an exit code:
// 2 for a bad command line (UsageError, MemoryPlanError), 1 for everything else.
// `ALEXNET_DEBUG=1` adds the stack.

/**
 * The base of the errors this library throws on purpose.
 *
 * @example
 * ```ts
 * import { AlexNetError, CheckpointError } from "./errors.ts";
 * const e = new CheckpointError("out/ck: no state.json", "out/ck");
 * console.log(e instanceof AlexNetError, e.name); // true CheckpointError
 * ```
 */
export class AlexNetError extends Error {
  /** `message` names the thing and what was expected. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A command line or option value that cannot work (exit code 2).
 *
 * @example
 * ```ts
 * import { exitCodeFor, UsageError } from "./errors.ts";
 * const e = new UsageError(`--epochs must be an integer from 1 to 10000, got "1e9"`);
 * exitCodeFor(e); // 2
 * ```
 */
export class UsageError extends AlexNetError {}

/**
 * A dataset that is missing, unprepared, corrupt, or too small for the run.
 *
 * @example
 * ```ts
 * import { DataError } from "./errors.ts";
 * const e = new DataError("out/data: no index.json (not a prepared dataset)");
 * ```
 */
export class DataError extends AlexNetError {}

/**
 * A checkpoint that cannot be read, is corrupt, holds non-finite values, or cannot be
 * written; `path` is the checkpoint folder.
 *
 * @example
 * ```ts
 * import { CheckpointError } from "./errors.ts";
 * const e = new CheckpointError("out/train/checkpoint does not exist", "out/train/checkpoint");
 * console.log(e.path);
 * ```
 */
export class CheckpointError extends AlexNetError {
  /** The checkpoint folder. */
  readonly path: string;

  /** `message` says what is wrong with the checkpoint at `path`. */
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
  }
}

/**
 * The network's memory plan does not fit the device (a buffer over its limits, or more
 * bytes than the machine has), found before anything is allocated.
 *
 * @example
 * ```ts
 * import { MemoryPlanError } from "./errors.ts";
 * const e = new MemoryPlanError("batch 100000 needs 812 GiB per column");
 * ```
 */
export class MemoryPlanError extends AlexNetError {}

/**
 * The exit code a CLI returns for `e`: 2 for usage errors, 1 for everything else.
 *
 * @example
 * ```ts
 * import { exitCodeFor, UsageError } from "./errors.ts";
 * exitCodeFor(new UsageError("--lr must be positive")); // 2
 * exitCodeFor(new Error("disk full")); // 1
 * ```
 */
export function exitCodeFor(e: unknown): 1 | 2 {
  return e instanceof UsageError || e instanceof MemoryPlanError ? 2 : 1;
}

/**
 * One line describing `e` for a terminal: the message of an error we or the runtime
 * raised on purpose (file system errors name their path), and a hint for anything
 * else, which is a bug.
 *
 * @example
 * ```ts
 * import { DataError, errorLine } from "./errors.ts";
 * errorLine(new DataError("out/x: no index.json")); // "out/x: no index.json"
 * ```
 */
export function errorLine(e: unknown): string {
  const first = (s: string) => s.split("\n")[0];
  if (!(e instanceof Error)) return `unexpected error: ${first(String(e))}`;
  const expected = e instanceof AlexNetError || e instanceof RangeError ||
    e instanceof TypeError || "code" in e || e.constructor.name in (deno()?.errors ?? {});
  const line = first(e.message);
  return expected ? line : `${e.name}: ${line} (a bug; ALEXNET_DEBUG=1 prints the stack)`;
}

/**
 * Prints `e` as one line `<name>: <message>` on stderr (a usage error adds where the
 * options are listed; `ALEXNET_DEBUG=1` adds the stack) and returns its exit code
 * ({@link exitCodeFor}). Each CLI's `main` ends in it.
 *
 * @example
 * ```ts ignore
 * try { await work(); } catch (e) { return reportError("predict", e); }
 * ```
 */
export function reportError(name: string, e: unknown): 1 | 2 {
  const code = exitCodeFor(e);
  const hint = e instanceof UsageError ? ` (${name} --help lists the options)` : "";
  console.error(`${name}: ${errorLine(e)}${hint}`);
  if (debug() && e instanceof Error && e.stack) console.error(e.stack);
  return code;
}

// Typed by hand: this module also loads in browsers, without Deno's types.
function deno():
  | { errors: Record<string, unknown>; env: { get(k: string): string | undefined } }
  | undefined {
  return (globalThis as { Deno?: ReturnType<typeof deno> }).Deno;
}

function debug(): boolean {
  try {
    return Boolean(deno()?.env.get("ALEXNET_DEBUG"));
  } catch {
    return false; // no --allow-env
  }
}
