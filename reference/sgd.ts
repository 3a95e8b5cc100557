// CPU reference for the paper's SGD update, in f64, naive and obviously right.

/** v = momentum*v - weightDecay*lr*w - lr*g; w = w + v. Returns new [w, v]. */
export function sgdRef(
  w: ArrayLike<number>,
  g: ArrayLike<number>,
  v: ArrayLike<number>,
  lr: number,
  momentum: number,
  weightDecay: number,
): [Float64Array, Float64Array] {
  const w2 = new Float64Array(w.length), v2 = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) {
    v2[i] = momentum * v[i] - weightDecay * lr * w[i] - lr * g[i];
    w2[i] = w[i] + v2[i];
  }
  return [w2, v2];
}
