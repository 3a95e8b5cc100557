// Training-set statistics: the per-pixel mean image the paper subtracts, and the
// eigen-decomposition of the 3x3 RGB covariance over every pixel of every training
// image, which PCA ("fancy PCA") lighting perturbs along.
//
// Sums are kept in f64 as exact integers (255^2 * 2^53 headroom covers ~10^10 pixels
// per sum), so per-shard sums merge exactly and resumed runs give identical results.

/**
 * Running sums over HWC uint8 RGB images of one size: per-pixel channel sums (CHW) and
 * the first and second moments of the RGB vectors.
 * Serialised layout (f64): [pixelSum 3*S*S | s_r s_g s_b | s_rr s_rg s_rb s_gg s_gb s_bb | images].
 */
export class PixelStats {
  /** Stored image side. */
  readonly size: number;
  /** The sums, in the serialised layout. */
  readonly sums: Float64Array;

  /** Empty sums for size x size images (or wraps serialised sums). */
  constructor(size: number, sums?: Float64Array) {
    this.size = size;
    const len = 3 * size * size + 3 + 6 + 1;
    if (sums && sums.length !== len) {
      throw new RangeError(`PixelStats: expected ${len} sums for size ${size}, got ${sums.length}`);
    }
    this.sums = sums ?? new Float64Array(len);
  }

  /** Images accumulated. */
  get images(): number {
    return this.sums[this.sums.length - 1];
  }

  /** Adds one packed HWC image. */
  add(image: Uint8Array): void {
    const S2 = this.size * this.size, s = this.sums;
    if (image.length !== 3 * S2) {
      throw new RangeError(`PixelStats.add: expected ${3 * S2} bytes, got ${image.length}`);
    }
    let r = 0, g = 0, b = 0, rr = 0, rg = 0, rb = 0, gg = 0, gb = 0, bb = 0;
    for (let p = 0; p < S2; p++) {
      const R = image[3 * p], G = image[3 * p + 1], B = image[3 * p + 2];
      s[p] += R;
      s[S2 + p] += G;
      s[2 * S2 + p] += B;
      r += R, g += G, b += B;
      rr += R * R, rg += R * G, rb += R * B, gg += G * G, gb += G * B, bb += B * B;
    }
    const o = 3 * S2;
    s[o] += r, s[o + 1] += g, s[o + 2] += b;
    s[o + 3] += rr, s[o + 4] += rg, s[o + 5] += rb, s[o + 6] += gg, s[o + 7] += gb;
    s[o + 8] += bb;
    s[o + 9] += 1;
  }

  /** Adds another accumulator's sums (e.g. a finished shard's). */
  merge(other: PixelStats): void {
    if (other.size !== this.size) throw new RangeError("PixelStats.merge: sizes differ");
    for (let i = 0; i < this.sums.length; i++) this.sums[i] += other.sums[i];
  }

  /** The mean image, CHW f32 on the 0..255 scale. */
  mean(): Float32Array {
    const n = Math.max(this.images, 1), len = 3 * this.size * this.size;
    const out = new Float32Array(len);
    for (let i = 0; i < len; i++) out[i] = this.sums[i] / n;
    return out;
  }

  /** The RGB covariance (population, 0..255 scale) as a symmetric 3x3 row-major matrix. */
  covariance(): Float64Array {
    const o = 3 * this.size * this.size, s = this.sums;
    const n = Math.max(this.images * this.size * this.size, 1);
    const m = [s[o] / n, s[o + 1] / n, s[o + 2] / n];
    const e = [s[o + 3], s[o + 4], s[o + 5], s[o + 6], s[o + 7], s[o + 8]].map((v) => v / n);
    const [rr, rg, rb, gg, gb, bb] = e;
    return new Float64Array([
      rr - m[0] * m[0],
      rg - m[0] * m[1],
      rb - m[0] * m[2],
      rg - m[0] * m[1],
      gg - m[1] * m[1],
      gb - m[1] * m[2],
      rb - m[0] * m[2],
      gb - m[1] * m[2],
      bb - m[2] * m[2],
    ]); // deno-fmt-ignore
  }
}

/**
 * The lighting PCA of an RGB covariance: eigenvalues clamped at 0 (a covariance has
 * none below 0; rounding gives values like -3e-13) and whether the pixels have colour.
 * Greyscale data (R = G = B) has one non-zero eigenvalue: `colour` is then false, and
 * the paper's lighting noise, which shifts colour along the principal components, is
 * meant to be off.
 *
 * @example
 * ```ts
 * import { lightingPca } from "./stats.ts";
 * const grey = lightingPca(new Float64Array([4, 4, 4, 4, 4, 4, 4, 4, 4]));
 * grey.eigvals; // [12, 0, 0]
 * grey.colour; // false
 * ```
 */
export function lightingPca(
  covariance: Float64Array | Float32Array | number[],
): Eigen3 & { colour: boolean } {
  const eig = jacobiEigen3(covariance);
  const eigvals = eig.eigvals.map((v) => Math.max(0, v));
  return { eigvals, eigvecs: eig.eigvecs, colour: hasColour(eigvals) };
}

/**
 * Whether PCA eigenvalues (descending) describe pixels with colour: a second component
 * above a millionth of the first. Greyscale images give a rank-1 covariance.
 *
 * @example
 * ```ts
 * import { hasColour } from "./stats.ts";
 * hasColour([22352, 0, -3.1e-13]); // false
 * ```
 */
export function hasColour(eigvals: ArrayLike<number>): boolean {
  return eigvals[0] > 0 && eigvals[1] > 1e-6 * eigvals[0];
}

/** Eigenvalues (descending) and eigenvectors (column i = eigenvector i, row-major). */
export interface Eigen3 {
  eigvals: Float64Array;
  eigvecs: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations.
 * Eigenvalues come sorted descending; each eigenvector is unit length with its
 * largest-magnitude component positive, so the result is deterministic.
 *
 * @example
 * ```ts
 * import { jacobiEigen3 } from "./stats.ts";
 * const { eigvals } = jacobiEigen3(new Float64Array([2, 1, 0, 1, 2, 0, 0, 0, 5])); // [5, 3, 1]
 * ```
 */
export function jacobiEigen3(matrix: Float64Array | Float32Array | number[]): Eigen3 {
  const a = Array.from(matrix);
  if (a.length !== 9) throw new RangeError(`jacobiEigen3: expected 9 entries, got ${a.length}`);
  const v = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const at = (i: number, j: number) => a[3 * i + j];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = at(0, 1) ** 2 + at(0, 2) ** 2 + at(1, 2) ** 2;
    const scale = at(0, 0) ** 2 + at(1, 1) ** 2 + at(2, 2) ** 2 + 2 * off;
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      const apq = at(p, q);
      if (apq === 0) continue;
      // Rotation that zeroes a[p][q] (Numerical Recipes' stable form).
      const theta = (at(q, q) - at(p, p)) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < 3; k++) { // A <- A J (columns p, q)
        const akp = at(k, p), akq = at(k, q);
        a[3 * k + p] = c * akp - s * akq;
        a[3 * k + q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) { // A <- J^T A (rows p, q)
        const apk = at(p, k), aqk = at(q, k);
        a[3 * p + k] = c * apk - s * aqk;
        a[3 * q + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) { // V <- V J
        const vkp = v[3 * k + p], vkq = v[3 * k + q];
        v[3 * k + p] = c * vkp - s * vkq;
        v[3 * k + q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => at(j, j) - at(i, i));
  const eigvals = new Float64Array(order.map((i) => at(i, i)));
  const eigvecs = new Float64Array(9);
  order.forEach((src, dst) => {
    const col = [v[src], v[3 + src], v[6 + src]];
    const big = col.reduce((m, x) => (Math.abs(x) > Math.abs(m) ? x : m), 0);
    const sign = big < 0 ? -1 : 1;
    for (let k = 0; k < 3; k++) eigvecs[3 * k + dst] = sign * col[k];
  });
  return { eigvals, eigvecs };
}
