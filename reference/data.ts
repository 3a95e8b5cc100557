// CPU references for the data pipeline: naive two-pass statistics over decoded images,
// and the matrix checks an eigen-decomposition must pass.

/** Mean image [3, S, S] CHW of packed HWC images (f64 accumulation, one image at a time). */
export function meanImage(images: Uint8Array[], S: number): Float64Array {
  const out = new Float64Array(3 * S * S);
  for (const img of images) {
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) out[c * S * S + y * S + x] += img[(y * S + x) * 3 + c];
      }
    }
  }
  return out.map((v) => v / images.length);
}

/** RGB covariance over every pixel of every image, two-pass (mean first), row-major 3x3. */
export function rgbCovariance(images: Uint8Array[]): Float64Array {
  const mu = [0, 0, 0];
  let n = 0;
  for (const img of images) {
    for (let p = 0; p < img.length; p += 3) {
      for (let c = 0; c < 3; c++) mu[c] += img[p + c];
      n++;
    }
  }
  for (let c = 0; c < 3; c++) mu[c] /= n;
  const cov = new Float64Array(9);
  for (const img of images) {
    for (let p = 0; p < img.length; p += 3) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) cov[3 * a + b] += (img[p + a] - mu[a]) * (img[p + b] - mu[b]);
      }
    }
  }
  return cov.map((v) => v / n);
}

/** max |A v_i - lambda_i v_i| over the three eigenpairs (column i of row-major `vecs`). */
export function eigenResidual(
  a: ArrayLike<number>,
  vals: ArrayLike<number>,
  vecs: ArrayLike<number>,
): number {
  let worst = 0;
  for (let i = 0; i < 3; i++) {
    for (let r = 0; r < 3; r++) {
      let av = 0;
      for (let k = 0; k < 3; k++) av += a[3 * r + k] * vecs[3 * k + i];
      worst = Math.max(worst, Math.abs(av - vals[i] * vecs[3 * r + i]));
    }
  }
  return worst;
}

/** max |V^T V - I| for a row-major 3x3 V. */
export function orthonormalityError(vecs: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let d = 0;
      for (let k = 0; k < 3; k++) d += vecs[3 * k + i] * vecs[3 * k + j];
      worst = Math.max(worst, Math.abs(d - (i === j ? 1 : 0)));
    }
  }
  return worst;
}
