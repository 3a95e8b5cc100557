// Command-line flag parsing shared by the CLIs (train, predict, bench, curves, filters).

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
