// CPU reference for adaptive average pooling (NCHW), naive and obviously right.
// Forward averages each output cell's window (rows floor(i H / O) .. ceil((i + 1) H / O)
// - 1, the same for columns), as PyTorch's AdaptiveAvgPool2d. Backward SCATTERS: each
// cell adds dY / area to every element of its window. The GPU kernel gathers instead,
// so the two formulations check each other.

/** Static shape of an adaptive average pool. */
export interface AvgPoolShape {
  /** Batch. */
  batch: number;
  /** Channels. */
  channels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Output side. */
  output: number;
}

function window(i: number, size: number, out: number): [number, number] {
  return [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
}

/** y [N, C, O, O] from x [N, C, H, W]. */
export function avgPoolForwardRef(s: AvgPoolShape, x: Float32Array): Float32Array {
  const { height: H, width: W, output: O } = s;
  const planes = s.batch * s.channels;
  const y = new Float32Array(planes * O * O);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < O; i++) {
      const [h0, h1] = window(i, H, O);
      for (let j = 0; j < O; j++) {
        const [w0, w1] = window(j, W, O);
        let sum = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) sum += x[p * H * W + h * W + w];
        y[p * O * O + i * O + j] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return y;
}

/** dX [N, C, H, W] from dY [N, C, O, O]. */
export function avgPoolBackwardRef(s: AvgPoolShape, dY: Float32Array): Float32Array {
  const { height: H, width: W, output: O } = s;
  const planes = s.batch * s.channels;
  const dX = new Float32Array(planes * H * W);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < O; i++) {
      const [h0, h1] = window(i, H, O);
      for (let j = 0; j < O; j++) {
        const [w0, w1] = window(j, W, O);
        const g = dY[p * O * O + i * O + j] / ((h1 - h0) * (w1 - w0));
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) dX[p * H * W + h * W + w] += g;
      }
    }
  }
  return dX;
}
