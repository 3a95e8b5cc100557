// CPU reference for softmax cross-entropy in f64, naive and obviously right.

/** softmax of each row of x [batch, classes]. */
export function softmaxRef(x: Float32Array, batch: number, classes: number): Float64Array {
  const out = new Float64Array(batch * classes);
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * classes, (b + 1) * classes);
    const m = Math.max(...row);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(row[j] - m);
    for (let j = 0; j < classes; j++) out[b * classes + j] = Math.exp(row[j] - m) / s;
  }
  return out;
}

/** Per-sample loss -log softmax(x)[label] = logsumexp(x) - x[label]. */
export function xentLossRef(
  x: Float32Array,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
): Float64Array {
  const out = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * classes, (b + 1) * classes);
    const m = Math.max(...row);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(row[j] - m);
    out[b] = m + Math.log(s) - row[labels[b]];
  }
  return out;
}

/** Gradient of the MEAN loss: (softmax - onehot) / batch. */
export function xentGradRef(
  x: Float32Array,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
): Float64Array {
  const p = softmaxRef(x, batch, classes);
  for (let b = 0; b < batch; b++) {
    p[b * classes + labels[b]] -= 1;
    for (let j = 0; j < classes; j++) p[b * classes + j] /= batch;
  }
  return p;
}

/** Position of the label in a stable descending sort of the row (ties: lower index first). */
export function labelRank(row: ArrayLike<number>, label: number): number {
  const order = Array.from({ length: row.length }, (_, j) => j)
    .sort((a, b) => (row[b] - row[a]) || (a - b));
  return order.indexOf(label);
}

/** [top-1 hits, top-5 hits] over the batch. */
export function hitsRef(
  x: Float32Array,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
): [number, number] {
  let h1 = 0, h5 = 0;
  for (let b = 0; b < batch; b++) {
    const r = labelRank(x.subarray(b * classes, (b + 1) * classes), labels[b]);
    if (r < 1) h1++;
    if (r < 5) h5++;
  }
  return [h1, h5];
}
