// assertClose: compares a GPU result with its CPU reference and reports the first
// (worst) mismatch with its multi-dimensional index, e.g. (n, c, h, w).

import { AssertionError } from "node:assert";

/** Options for {@link assertClose}. */
export interface CloseOptions {
  /** Shape used to print indices (NCHW for activations). */
  shape?: readonly number[];
  /** Relative tolerance against max |expected| (default 1e-4; use 1e-3 for gradients). */
  rel?: number;
  /** Absolute floor added to the tolerance (default 0). */
  abs?: number;
  /** Name printed in the message. */
  what?: string;
}

function indexOf(i: number, shape?: readonly number[]): string {
  if (!shape || shape.length === 0) return `[${i}]`;
  const idx: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(r % shape[d]);
    r = Math.floor(r / shape[d]);
  }
  return `(${idx.join(", ")})`;
}

/**
 * Asserts max |actual - expected| <= rel * max|expected| + abs, and that there is no NaN.
 * The message names the worst element and the first one out of tolerance.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: CloseOptions = {},
): void {
  const what = opts.what ?? "tensor";
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${what}: length ${actual.length}, expected ${expected.length}`,
    });
  }
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  const tol = (opts.rel ?? 1e-4) * maxRef + (opts.abs ?? 0);
  let worst = -1, worstErr = 0, first = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol)) {
      if (first < 0) first = i;
      if (!(err <= worstErr)) {
        worst = i;
        worstErr = Number.isNaN(err) ? Infinity : err;
      }
    }
  }
  if (first >= 0) {
    const at = (i: number) =>
      `${indexOf(i, opts.shape)}: got ${actual[i]}, expected ${expected[i]}`;
    throw new AssertionError({
      message: `${what}: max error ${worstErr.toExponential(3)} > tolerance ` +
        `${tol.toExponential(3)} (max |ref| ${maxRef.toExponential(3)}); ` +
        `first mismatch at ${at(first)}; worst at ${at(worst)}`,
    });
  }
}

/** Max |a - b| / max |b|, for reporting parity figures. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, e = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(b[i]));
    e = Math.max(e, Math.abs(a[i] - b[i]));
  }
  return m === 0 ? e : e / m;
}
