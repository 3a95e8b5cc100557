// CPU reference for local response normalization across channels (NCHW), the paper's
// formula (alpha NOT divided by n), in float64:
//
//   s_c = k + alpha * sum_{j = max(0, c - n/2)}^{min(C - 1, c + n/2)} a_j^2
//   b_c = a_c * s_c^-beta
//   dX_i = dY_i * s_i^-beta - 2 alpha beta a_i * sum_{c : |c - i| <= n/2} dY_c b_c / s_c
//
// (d b_c / d a_i = [c = i] s_c^-beta - beta a_c s_c^(-beta-1) * 2 alpha a_i [i in window(c)];
// the windows are symmetric, so i in window(c) iff c in window(i).)

/** Static shape and constants of an LRN op. */
export interface LrnShape {
  /** Batch. */
  batch: number;
  /** Channels. */
  channels: number;
  /** Height. */
  height: number;
  /** Width. */
  width: number;
  /** Window n (odd). */
  size: number;
  /** alpha (not divided by n). */
  alpha: number;
  /** beta. */
  beta: number;
  /** k. */
  k: number;
}

function scales(x: ArrayLike<number>, p: LrnShape): Float64Array {
  const { batch, channels: C, height, width, size, alpha, k } = p;
  const HW = height * width, half = Math.floor(size / 2);
  const s = new Float64Array(batch * C * HW);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < HW; i++) {
        let sum = 0;
        for (let j = Math.max(0, c - half); j <= Math.min(C - 1, c + half); j++) {
          sum += x[(n * C + j) * HW + i] ** 2;
        }
        s[(n * C + c) * HW + i] = k + alpha * sum;
      }
    }
  }
  return s;
}

/** b = a * s^-beta. */
export function lrnForward(x: ArrayLike<number>, p: LrnShape): Float64Array {
  const s = scales(x, p);
  return s.map((sc, i) => x[i] * sc ** -p.beta);
}

/** dX from the formula above (naive double loop over channels). */
export function lrnBackward(
  x: ArrayLike<number>,
  dY: ArrayLike<number>,
  p: LrnShape,
): Float64Array {
  const { batch, channels: C, height, width, size, alpha, beta } = p;
  const HW = height * width, half = Math.floor(size / 2);
  const s = scales(x, p);
  const dX = new Float64Array(s.length);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < C; i++) {
      for (let q = 0; q < HW; q++) {
        const at = (c: number) => (n * C + c) * HW + q;
        let sum = 0;
        for (let c = Math.max(0, i - half); c <= Math.min(C - 1, i + half); c++) {
          const b = x[at(c)] * s[at(c)] ** -beta;
          sum += dY[at(c)] * b / s[at(c)];
        }
        dX[at(i)] = dY[at(i)] * s[at(i)] ** -beta - 2 * alpha * beta * x[at(i)] * sum;
      }
    }
  }
  return dX;
}
