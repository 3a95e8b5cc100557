// CPU references for the elementwise kernels.

/** y = max(x, 0) */
export function reluForward(x: Float32Array): Float32Array {
  return x.map((v) => (v > 0 ? v : 0));
}

/** dX = dY where y > 0 */
export function reluBackward(y: Float32Array, dY: Float32Array): Float32Array {
  return dY.map((g, i) => (y[i] > 0 ? g : 0));
}
