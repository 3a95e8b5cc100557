// Benchmark cases: every conv layer of the paper (per-column shapes) in each direction.
// validate() spot-checks sampled outputs against direct CPU sums (the full CPU reference
// is too slow at batch 4 for conv1/conv2).

import type { KernelBenchCase, PreparedCase } from "../_case.ts";
import type { Column } from "../../kernels/columns.ts";
import {
  Conv2d,
  type Conv2dParams,
  conv2dWorkspace,
  type ConvGeometry,
} from "../../kernels/conv2d.ts";
import { Encoder } from "../../kernels/encoder.ts";
import { Tensor } from "../../kernels/tensor.ts";

/** The paper's conv layers per column (conv3 sees both columns: 256 input channels). */
export function paperConvLayers(batch: number): Record<string, Conv2dParams> {
  const c = (
    inChannels: number,
    size: number,
    outChannels: number,
    kernel: number,
    stride: number,
    padding: number,
  ): Conv2dParams => ({
    batch,
    inChannels,
    height: size,
    width: size,
    outChannels,
    kernel,
    stride,
    padding,
    relu: true,
  });
  return {
    conv1: c(3, 224, 48, 11, 4, 2),
    conv2: c(48, 27, 128, 5, 1, 2),
    conv3: c(256, 13, 192, 3, 1, 1),
    conv4: c(192, 13, 192, 3, 1, 1),
    conv5: c(192, 13, 128, 3, 1, 1),
  };
}

type Direction = "forward" | "backwardData" | "backwardWeights";

function fill(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/** Compares `got` with `sum` (a direct CPU sum whose absolute terms add to `mag`). */
function expectNear(what: string, got: number, sum: number, mag: number): void {
  if (!(Math.abs(got - sum) <= 1e-4 * mag + 1e-6)) {
    throw new Error(`${what}: GPU ${got}, CPU ${sum} (sum of |terms| ${mag})`);
  }
}

async function spotCheck(
  dir: Direction,
  g: ConvGeometry,
  t: Record<string, Tensor>,
): Promise<void> {
  const { batch: N, inChannels: C, height: H, width: W, outChannels: OC, kh, kw } = g;
  const { outHeight: OH, outWidth: OW, sh, sw, ph, pw } = g;
  const CG = C / g.groups, OCG = OC / g.groups;
  const [x, w, y, dY] = await Promise.all([t.x.read(), t.w.read(), t.y.read(), t.dY.read()]);
  const b = await t.b.read();
  const gr = (i: number) => (y[i] > 0 ? dY[i] : 0);
  const xi = (n: number, c: number, iy: number, ix: number) => ((n * C + c) * H + iy) * W + ix;
  const yi = (n: number, o: number, oy: number, ox: number) => ((n * OC + o) * OH + oy) * OW + ox;
  const wi = (o: number, c: number, ky: number, kx: number) => ((o * CG + c) * kh + ky) * kw + kx;
  const pick = (n: number, k: number) => Math.floor(((k * 2654435761) % 2 ** 32) / 2 ** 32 * n);
  for (let k = 1; k <= 12; k++) {
    if (dir === "forward") {
      const n = pick(N, k), o = pick(OC, k + 3), oy = pick(OH, k + 5), ox = pick(OW, k + 7);
      let s = b[o], m = Math.abs(b[o]);
      const gi = Math.floor(o / OCG);
      for (let c = 0; c < CG; c++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const p = x[xi(n, gi * CG + c, iy, ix)] * w[wi(o, c, ky, kx)];
            s += p;
            m += Math.abs(p);
          }
        }
      }
      expectNear(`y(${n},${o},${oy},${ox})`, y[yi(n, o, oy, ox)], Math.max(s, 0), m);
    } else if (dir === "backwardData") {
      const dX = await t.dX.read();
      const n = pick(N, k), c = pick(C, k + 3), iy = pick(H, k + 5), ix = pick(W, k + 7);
      const gi = Math.floor(c / CG);
      let s = 0, m = 0;
      for (let o = gi * OCG; o < (gi + 1) * OCG; o++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const ty = iy + ph - ky, tx = ix + pw - kx;
            if (ty < 0 || tx < 0 || ty % sh || tx % sw || ty / sh >= OH || tx / sw >= OW) continue;
            const p = gr(yi(n, o, ty / sh, tx / sw)) * w[wi(o, c - gi * CG, ky, kx)];
            s += p;
            m += Math.abs(p);
          }
        }
      }
      expectNear(`dX(${n},${c},${iy},${ix})`, dX[xi(n, c, iy, ix)], s, m);
    } else {
      const [dW, db] = await Promise.all([t.dW.read(), t.db.read()]);
      const o = pick(OC, k), c = pick(CG, k + 3), ky = pick(kh, k + 5), kx = pick(kw, k + 7);
      const gi = Math.floor(o / OCG);
      let s = 0, m = 0, sb = 0, mb = 0;
      for (let n = 0; n < N; n++) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            const gv = gr(yi(n, o, oy, ox));
            sb += gv;
            mb += Math.abs(gv);
            const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const p = gv * x[xi(n, gi * CG + c, iy, ix)];
            s += p;
            m += Math.abs(p);
          }
        }
      }
      expectNear(`dW(${o},${c},${ky},${kx})`, dW[wi(o, c, ky, kx)], s, m);
      expectNear(`db(${o})`, db[o], sb, mb);
    }
  }
}

function convCase(layer: string, p: Conv2dParams, dir: Direction): KernelBenchCase {
  const k = typeof p.kernel === "number" ? p.kernel : p.kernel[0];
  const oh = Math.floor((p.height + 2 * (p.padding as number) - k) / (p.stride as number)) + 1;
  const macs = p.batch * p.outChannels * oh * oh * (p.inChannels / (p.groups ?? 1)) * k * k;
  // GFLOP/s counts the direct convolution's multiply-adds whichever algorithm runs, so a
  // Winograd case reports an effective rate (it does 2.25-4x fewer multiplies).
  const ws = conv2dWorkspace(p);
  const wino = dir !== "backwardWeights" && ws.U > 0;
  return {
    name: `${layer} ${dir}${wino ? " (Winograd)" : ""}`,
    op: `conv2d.${dir}`,
    shape: `N=${p.batch} ${p.inChannels}x${p.height}x${p.width} -> ${p.outChannels}x${oh}x${oh} ` +
      `k${k} s${p.stride} p${p.padding}`,
    dims: {
      n: p.batch,
      c: p.inChannels,
      h: p.height,
      w: p.width,
      k: p.outChannels,
      kh: k,
      kw: k,
      stride: p.stride as number,
      pad: p.padding as number,
      groups: p.groups ?? 1,
    },
    flops: 2 * macs,
    async prepare(column: Column): Promise<PreparedCase> {
      const conv = await Conv2d.create(column, p);
      const g = conv.params;
      const xs = [g.batch, g.inChannels, g.height, g.width];
      const ws = [g.outChannels, g.inChannels / g.groups, g.kh, g.kw];
      const ys = [g.batch, g.outChannels, g.outHeight, g.outWidth];
      const n = (s: number[]) => s.reduce((a, b) => a * b);
      const t: Record<string, Tensor> = {
        x: Tensor.from(column, fill(n(xs), 1, 1), xs, `${layer}.x`),
        w: Tensor.from(column, fill(n(ws), 2, 0.05), ws, `${layer}.w`),
        b: Tensor.from(column, fill(g.outChannels, 3, 0.1), [g.outChannels], `${layer}.b`),
        y: Tensor.empty(column, ys, `${layer}.y`),
        dY: Tensor.from(column, fill(n(ys), 4, 1), ys, `${layer}.dY`),
        dX: Tensor.empty(column, xs, `${layer}.dX`),
        dW: Tensor.empty(column, ws, `${layer}.dW`),
        db: Tensor.empty(column, [g.outChannels], `${layer}.db`),
      };
      // The backward directions read y for the ReLU mask: make it a real forward output.
      const enc = new Encoder(column, `${layer} prepare`);
      conv.forward(enc, { x: t.x, w: t.w, b: t.b, y: t.y });
      enc.submit();
      const run = (e: Encoder) => {
        if (dir === "forward") conv.forward(e, { x: t.x, w: t.w, b: t.b, y: t.y });
        else if (dir === "backwardData") {
          conv.backwardData(e, { w: t.w, y: t.y, dY: t.dY, dX: t.dX });
        } else conv.backwardWeights(e, { x: t.x, y: t.y, dY: t.dY, dW: t.dW, db: t.db });
      };
      return {
        run,
        async validate() {
          const e = new Encoder(column, `${layer} validate`);
          run(e);
          e.submit();
          await spotCheck(dir, g, t);
        },
        dispose() {
          for (const v of Object.values(t)) v.dispose();
        },
      };
    },
  };
}

/**
 * Cases for conv1..conv5 forward, backward-data and backward-weights at `batch`. conv1's
 * backward-data (input gradient of the first layer) is never run by the model and is
 * slow (stride 4: 15 of 16 taps gather nothing, and only 3 input channels for lanes), so
 * it is left out unless `firstLayerData` is set.
 */
export function convCases(batch: number, { firstLayerData = false } = {}): KernelBenchCase[] {
  const out: KernelBenchCase[] = [];
  for (const [layer, p] of Object.entries(paperConvLayers(batch))) {
    for (const dir of ["forward", "backwardData", "backwardWeights"] as const) {
      if (layer === "conv1" && dir === "backwardData" && !firstLayerData) continue;
      out.push(convCase(layer, p, dir));
    }
  }
  return out;
}

/** The default suite: batch 4. */
export const cases: KernelBenchCase[] = convCases(4);
