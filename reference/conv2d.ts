// CPU reference for conv2d (NCHW, weights [outC, inC/groups, kh, kw]), float64 sums.
// Direct loops, obviously right; the backward functions are the adjoints of forward.

/** Shape of one conv2d. */
export interface ConvShape {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  groups: number;
}

/** Output spatial size. */
export function convOut(s: ConvShape): [number, number] {
  return [
    Math.floor((s.height + 2 * s.ph - s.kh) / s.sh) + 1,
    Math.floor((s.width + 2 * s.pw - s.kw) / s.sw) + 1,
  ];
}

/** Calls f(n, oc, oy, ox, ic, ky, kx, xIndex, wIndex, yIndex) for every in-bounds tap. */
function forEachTap(
  s: ConvShape,
  f: (xi: number, wi: number, yi: number) => void,
): void {
  const [OH, OW] = convOut(s);
  const cg = s.inChannels / s.groups, og = s.outChannels / s.groups;
  for (let n = 0; n < s.batch; n++) {
    for (let oc = 0; oc < s.outChannels; oc++) {
      const g = Math.floor(oc / og);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const yi = ((n * s.outChannels + oc) * OH + oy) * OW + ox;
          for (let c = 0; c < cg; c++) {
            const ic = g * cg + c;
            for (let ky = 0; ky < s.kh; ky++) {
              const iy = oy * s.sh - s.ph + ky;
              if (iy < 0 || iy >= s.height) continue;
              for (let kx = 0; kx < s.kw; kx++) {
                const ix = ox * s.sw - s.pw + kx;
                if (ix < 0 || ix >= s.width) continue;
                const xi = ((n * s.inChannels + ic) * s.height + iy) * s.width + ix;
                const wi = ((oc * cg + c) * s.kh + ky) * s.kw + kx;
                f(xi, wi, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** y = relu?(conv(x, w) + b). */
export function conv2dForwardRef(
  s: ConvShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  relu = false,
): Float64Array {
  const [OH, OW] = convOut(s);
  const y = new Float64Array(s.batch * s.outChannels * OH * OW);
  forEachTap(s, (xi, wi, yi) => y[yi] += x[xi] * w[wi]);
  const hw = OH * OW;
  for (let i = 0; i < y.length; i++) {
    const v = y[i] + (b ? b[Math.floor(i / hw) % s.outChannels] : 0);
    y[i] = relu ? Math.max(v, 0) : v;
  }
  return y;
}

/** dY masked by y > 0 (or dY itself when y is null). */
export function maskGrad(dY: ArrayLike<number>, y: ArrayLike<number> | null): Float64Array {
  return Float64Array.from(dY, (v, i) => (y && !(y[i] > 0) ? 0 : v));
}

/** dX of the (masked) gradient g. */
export function conv2dBackwardDataRef(
  s: ConvShape,
  w: ArrayLike<number>,
  g: ArrayLike<number>,
): Float64Array {
  const dX = new Float64Array(s.batch * s.inChannels * s.height * s.width);
  forEachTap(s, (xi, wi, yi) => dX[xi] += g[yi] * w[wi]);
  return dX;
}

/** dW and db of the (masked) gradient g. */
export function conv2dBackwardWeightsRef(
  s: ConvShape,
  x: ArrayLike<number>,
  g: ArrayLike<number>,
): { dW: Float64Array; db: Float64Array } {
  const [OH, OW] = convOut(s);
  const dW = new Float64Array(s.outChannels * (s.inChannels / s.groups) * s.kh * s.kw);
  forEachTap(s, (xi, wi, yi) => dW[wi] += g[yi] * x[xi]);
  const db = new Float64Array(s.outChannels);
  for (let i = 0; i < g.length; i++) db[Math.floor(i / (OH * OW)) % s.outChannels] += g[i];
  return { dW, db };
}

/** Fills defaults (stride 1, padding 0, groups 1). */
export function convShape(
  p:
    & Partial<ConvShape>
    & Pick<ConvShape, "batch" | "inChannels" | "height" | "width" | "outChannels" | "kh">,
): ConvShape {
  return {
    kw: p.kh,
    sh: 1,
    sw: p.sh ?? 1,
    ph: 0,
    pw: p.ph ?? 0,
    groups: 1,
    ...p,
  };
}
