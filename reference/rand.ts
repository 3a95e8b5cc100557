// Seeded random inputs for tests (mulberry32): the same seed gives the same tensor.

import { mulberry32 } from "../data/rng.ts";

/** A seeded uniform [0, 1) generator (the data pipeline's mulberry32). */
export const rng: (seed: number) => () => number = mulberry32;

/** `n` uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** `n` normal values N(0, std^2) (Box-Muller). */
export function normal(n: number, seed: number, std = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = std * Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}
