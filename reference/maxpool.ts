// CPU reference for overlapping max pooling (NCHW), naive and obviously right.
// Forward scans each window in row-major order and keeps the FIRST maximum (strict >),
// as PyTorch does; padded positions count as -inf (they are skipped). Backward
// SCATTERS: each window adds its gradient to the one element it chose. The GPU
// kernel gathers instead, so the two formulations check each other.

/** Static shape of a pooling op. */
export interface PoolShape {
  /** Batch. */
  batch: number;
  /** Channels. */
  channels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Window side. */
  size: number;
  /** Step between windows. */
  stride: number;
  /** Implicit -inf border on each side. */
  padding: number;
}

/** Output side: floor((in + 2p - size) / stride) + 1. */
export function poolOut(inSize: number, size: number, stride: number, padding: number): number {
  return Math.floor((inSize + 2 * padding - size) / stride) + 1;
}

/** y [N,C,OH,OW] and, per output, the flat index (h * W + w) of the chosen input. */
export function maxpoolForward(
  x: ArrayLike<number>,
  s: PoolShape,
): { y: Float64Array; argmax: Int32Array } {
  const { batch, channels, height: H, width: W, size, stride, padding } = s;
  const OH = poolOut(H, size, stride, padding), OW = poolOut(W, size, stride, padding);
  const y = new Float64Array(batch * channels * OH * OW);
  const argmax = new Int32Array(y.length);
  for (let nc = 0; nc < batch * channels; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity, at = -1;
        for (let kh = 0; kh < size; kh++) {
          for (let kw = 0; kw < size; kw++) {
            const h = oh * stride - padding + kh, w = ow * stride - padding + kw;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const v = x[nc * H * W + h * W + w];
            if (at < 0 || v > best) {
              best = v;
              at = h * W + w;
            }
          }
        }
        const o = (nc * OH + oh) * OW + ow;
        y[o] = best;
        argmax[o] = at;
      }
    }
  }
  return { y, argmax };
}

/** dX [N,C,H,W]: each window's dY added to the element it chose in forward. */
export function maxpoolBackward(x: ArrayLike<number>, dY: ArrayLike<number>, s: PoolShape) {
  const { argmax } = maxpoolForward(x, s);
  const HW = s.height * s.width;
  const OHW = poolOut(s.height, s.size, s.stride, s.padding) *
    poolOut(s.width, s.size, s.stride, s.padding);
  const dX = new Float64Array(s.batch * s.channels * HW);
  for (let o = 0; o < argmax.length; o++) {
    const nc = Math.floor(o / OHW);
    dX[nc * HW + argmax[o]] += dY[o];
  }
  return dX;
}
