// CPU reference of kernels/finite.ts: how many values are NaN or infinite.

/** The number of NaN, +Infinity and -Infinity values in `x`. */
export function nonFiniteRef(x: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) n++;
  return n;
}
