// Command-line flag parsing shared by the CLIs (train, predict, import, prepare, web,
// bench, curves, filters).

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

/**
 * The integer value of flag `--name` given as `text`, or undefined when absent. Throws
 * `Err` naming the flag and the allowed range otherwise.
 */
export function intFlag(
  name: string,
  text: string | undefined,
  min: number,
  max: number = Infinity,
  Err: new (message: string) => Error = Error,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new Err(`--${name} must be an integer ${range}, got "${text}"`);
  }
  return n;
}

/**
 * `parseArgs` of node:util for a CLI: an unknown flag, a missing value or a stray
 * positional becomes a {@link UsageError} (exit code 2) with parseArgs' message.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const { values } = parseFlags({ args: ["--out", "x"], options: { out: { type: "string" } } });
 * console.assert(values.out === "x");
 * ```
 */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}
