// WGSL of conv2d's three directions as implicit GEMMs on the GEMM core (no im2col is
// ever materialized: the operand hooks gather from x / dY with padding on the fly).
// Group g is the dispatch's z; CG = inC/groups, OCG = outC/groups, KHW = kh*kw.
//
//   forward          C[m = (n,oy,ox), oc]   = sum_{tap=(ky,kx)} sum_{ci} x[n, g*CG+ci, iy, ix] w[g*OCG+oc, ci, ky, kx]
//   backward-data    C[m = (n,iy,ix), ci]   = sum_{tap=(ky,kx)} sum_{oc} g[n, g*OCG+oc, oy, ox] w[g*OCG+oc, ci, ky, kx]
//                    where oy = (iy+ph-ky)/sh must be an integer in range (gather form, no atomics)
//   backward-weights C[r = (ci,ky,kx) | bias, oc] = sum_{tap=(n,oy)} sum_{ox} x[..] g[n, g*OCG+oc, oy, ox]
//                    the extra row r = CG*KHW reads 1.0, so its output is db.
// g = dY * (y > 0) when relu. Conv2d applies that mask once, in place, with
// conv2dMaskWgsl and then builds the backward GEMMs with relu = false: a fused mask costs
// a second load (y) per gradient element inside the GEMM's inner loop, and on lavapipe
// every storage load there is a per-lane scalar load, the kernels' main cost.
// In each direction the gather side is the A (rows) operand.

import { constants, storage } from "./_wgsl.ts";
import type { GemmOperand, GemmSpec, GemmTile } from "./_gemm_core.ts";

/** Fully resolved conv2d geometry. */
export interface ConvGeometry {
  /** Images per batch (N). */
  batch: number;
  /** Input channels, all groups. */
  inChannels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Output channels, all groups. */
  outChannels: number;
  /** Kernel height. */
  kh: number;
  /** Kernel width. */
  kw: number;
  /** Vertical stride. */
  sh: number;
  /** Horizontal stride. */
  sw: number;
  /** Zero padding top and bottom. */
  ph: number;
  /** Zero padding left and right. */
  pw: number;
  /** Channel groups. */
  groups: number;
  /** Output height. */
  outHeight: number;
  /** Output width. */
  outWidth: number;
  /** Fused ReLU (forward) / y > 0 gradient mask (backward). */
  relu: boolean;
}

// Geometry and spatial sizes are compiled in: the kernels divide by them per row and per
// tap, and division by a constant is a multiply. Channel counts (and the GEMM core's
// sizes) are read from a uniform, so convolutions that differ only in channels (the
// paper's conv3-5, or tiny's) share one shader per direction and compile once.
function shapeConstants(g: ConvGeometry): string {
  return constants({
    H: g.height,
    W: g.width,
    HW: g.height * g.width,
    OH: g.outHeight,
    OW: g.outWidth,
    OHW: g.outHeight * g.outWidth,
    KH: g.kh,
    KW: g.kw,
    KHW: g.kh * g.kw,
    SH: g.sh,
    SW: g.sw,
    PH: g.ph,
    PW: g.pw,
  });
}

function channelDims(g: ConvGeometry, binding: number): GemmSpec["runtimeDims"] {
  return {
    binding,
    extra: {
      CIN: g.inChannels,
      OC: g.outChannels,
      CG: g.inChannels / g.groups,
      OCG: g.outChannels / g.groups,
    },
  };
}

/** dY read at address `at`, masked by y > 0 there when relu, and by `valid` if given. */
function grad(g: ConvGeometry, at: string, valid?: string): string {
  const cond = [valid, g.relu ? `y[${at}] > 0.0` : ""].filter(Boolean).join(" && ");
  return cond ? `select(0.0, dY[${at}], ${cond})` : `dY[${at}]`;
}

/** GEMM-core spec of y = relu?(conv(x, w) + b). Bindings: x, w, b, y, sizes. */
export function conv2dForwardSpec(g: ConvGeometry, tile: GemmTile): GemmSpec {
  const CG = g.inChannels / g.groups, OCG = g.outChannels / g.groups;
  const x: GemmOperand = {
    line: (s, i) => [
      `let m${s} = min(${i}, GM - 1u);`,
      `let xr${s} = m${s} % OHW;`,
      `let iy0${s} = i32(xr${s} / OW * SH) - i32(PH);`,
      `let ix0${s} = i32(xr${s} % OW * SW) - i32(PW);`,
      `let xb${s} = (m${s} / OHW * CIN + z * CG) * HW;`,
    ],
    tap: (s) => [
      `let iy${s} = iy0${s} + i32(ky); let ix${s} = ix0${s} + i32(kx);`,
      `let xv${s} = iy${s} >= 0 && iy${s} < i32(H) && ix${s} >= 0 && ix${s} < i32(W);`,
      `let xa${s} = select(0u, xb${s} + u32(iy${s}) * W + u32(ix${s}), xv${s});`,
    ],
    read: (s, k) => `select(0.0, x[xa${s} + ${k} * HW], xv${s})`,
  };
  const w: GemmOperand = {
    line: (s, i) => [`let wb${s} = (z * OCG + min(${i}, OCG - 1u)) * CG * KHW;`],
    tap: (s) => [`let wt${s} = wb${s} + tap;`],
    read: (s, k) => `w[wt${s} + ${k} * KHW]`,
  };
  return {
    M: g.batch * g.outHeight * g.outWidth,
    N: OCG,
    KO: g.kh * g.kw,
    KI: CG,
    decls: [
      shapeConstants(g),
      storage(0, "x", "array<f32>", "read"),
      storage(1, "w", "array<f32>", "read"),
      storage(2, "b", "array<f32>", "read"),
      storage(3, "y", "array<f32>", "read_write"),
    ],
    tapShared: [`let ky = tap / KW; let kx = tap % KW;`],
    a: x,
    b: w,
    write: (row, col, v) => {
      const e = `${v} + b[c]`;
      return [
        `let c = z * OCG + ${col};`,
        `y[(${row} / OHW * OC + c) * OHW + ${row} % OHW] = ${g.relu ? `max(${e}, 0.0)` : e};`,
      ];
    },
    tile,
    runtimeDims: channelDims(g, 4),
  };
}

/** GEMM-core spec of dX = conv^T(g, w). Bindings: w, dY, dX, (y when relu), sizes. */
export function conv2dBackwardDataSpec(g: ConvGeometry, tile: GemmTile): GemmSpec {
  const CG = g.inChannels / g.groups, OCG = g.outChannels / g.groups;
  const dy: GemmOperand = {
    line: (s, i) => [
      `let m${s} = min(${i}, GM - 1u);`,
      `let gr${s} = m${s} % HW;`,
      `let gy${s} = i32(gr${s} / W + PH); let gx${s} = i32(gr${s} % W + PW);`,
      `let gb${s} = (m${s} / HW * OC + z * OCG) * OHW;`,
    ],
    tap: (s) => [
      `let ty${s} = gy${s} - i32(ky); let tx${s} = gx${s} - i32(kx);`,
      `let oy${s} = u32(max(ty${s}, 0)) / SH; let ox${s} = u32(max(tx${s}, 0)) / SW;`,
      `let gv${s} = ty${s} >= 0 && tx${s} >= 0 && u32(ty${s}) % SH == 0u && ` +
      `u32(tx${s}) % SW == 0u && oy${s} < OH && ox${s} < OW;`,
      `let ga${s} = select(0u, gb${s} + oy${s} * OW + ox${s}, gv${s});`,
    ],
    read: (s, k) => grad(g, `ga${s} + ${k} * OHW`, `gv${s}`),
  };
  const w: GemmOperand = {
    line: (s, i) => [`let wb${s} = (z * OCG * CG + min(${i}, CG - 1u)) * KHW;`],
    tap: (s) => [`let wt${s} = wb${s} + tap;`],
    read: (s, k) => `w[wt${s} + ${k} * CG * KHW]`,
  };
  return {
    M: g.batch * g.height * g.width,
    N: CG,
    KO: g.kh * g.kw,
    KI: OCG,
    decls: [
      shapeConstants(g),
      storage(0, "w", "array<f32>", "read"),
      storage(1, "dY", "array<f32>", "read"),
      storage(2, "dX", "array<f32>", "read_write"),
      ...(g.relu ? [storage(3, "y", "array<f32>", "read")] : []),
    ],
    tapShared: [`let ky = tap / KW; let kx = tap % KW;`],
    a: dy,
    b: w,
    write: (row, col, v) => [
      `dX[(${row} / HW * CIN + z * CG + ${col}) * HW + ${row} % HW] = ${v};`,
    ],
    tile,
    runtimeDims: channelDims(g, g.relu ? 4 : 3),
  };
}

/** GEMM-core spec of dW = g ⋆ x and db = sum g. Bindings: x, dY, dW, db, (y when relu), sizes. */
export function conv2dBackwardWeightsSpec(g: ConvGeometry, tile: GemmTile): GemmSpec {
  const CG = g.inChannels / g.groups, OCG = g.outChannels / g.groups;
  const x: GemmOperand = {
    line: (s, i) => [
      `let r${s} = min(${i}, CG * KHW);`,
      `let one${s} = r${s} == CG * KHW;`,
      `let rk${s} = r${s} % KHW; let rky${s} = rk${s} / KW; let rkx${s} = rk${s} % KW;`,
      `let rb${s} = (z * CG + min(r${s} / KHW, CG - 1u)) * HW + rkx${s};`,
      // ox is in bounds for lo <= ox <= hi (ix = ox*SW + kx - PW in [0, W)).
      `let rlo${s} = u32(max(i32(PW + SW - 1u) - i32(rkx${s}), 0)) / SW;`,
      `let rhiI${s} = i32(W - 1u + PW) - i32(rkx${s});`,
      `let rhi${s} = u32(max(rhiI${s}, 0)) / SW;`,
    ],
    tap: (s) => [
      `let iy${s} = i32(toy * SH + rky${s}) - i32(PH);`,
      `let vy${s} = iy${s} >= 0 && iy${s} < i32(H) && rhiI${s} >= 0;`,
      `let lo${s} = select(OW, rlo${s}, vy${s});`,
      `let xr${s} = tn * CIN * HW + rb${s} + u32(max(iy${s}, 0)) * W;`,
    ],
    // The address is only formed in bounds: k >= lo guarantees k*SW + kx >= PW.
    read: (s, k) =>
      `select(select(0.0, x[max(xr${s} + ${k} * SW, PW) - PW], ${k} >= lo${s} && ${k} <= rhi${s}), ` +
      `1.0, one${s})`,
  };
  const dy: GemmOperand = {
    line: (s, i) => [`let ob${s} = (z * OCG + min(${i}, OCG - 1u)) * OHW;`],
    tap: (s) => [`let dt${s} = tn * OC * OHW + ob${s} + toy * OW;`],
    read: (s, k) => grad(g, `dt${s} + ${k}`),
  };
  return {
    M: CG * g.kh * g.kw + 1,
    N: OCG,
    KO: g.batch * g.outHeight,
    KI: g.outWidth,
    decls: [
      shapeConstants(g),
      storage(0, "x", "array<f32>", "read"),
      storage(1, "dY", "array<f32>", "read"),
      storage(2, "dW", "array<f32>", "read_write"),
      storage(3, "db", "array<f32>", "read_write"),
      ...(g.relu ? [storage(4, "y", "array<f32>", "read")] : []),
    ],
    tapShared: [`let tn = tap / OH; let toy = tap % OH;`],
    a: x,
    b: dy,
    write: (row, col, v) => [
      `let c = z * OCG + ${col};`,
      `if (${row} == CG * KHW) { db[c] = ${v}; } else { dW[c * CG * KHW + ${row}] = ${v}; }`,
    ],
    tile,
    runtimeDims: channelDims(g, g.relu ? 5 : 4),
  };
}

/**
 * g = dY * (y > 0) written over dY (idempotent: masking twice changes nothing), one
 * element per invocation. Bindings: y, dY.
 */
export function conv2dMaskWgsl(workgroupSize = 256): string {
  return [
    storage(0, "y", "array<f32>", "read"),
    storage(1, "dY", "array<f32>", "read_write"),
    `@compute @workgroup_size(${workgroupSize})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,`,
    `        @builtin(local_invocation_index) lid: u32) {`,
    `  let i = (wid.y * nwg.x + wid.x) * ${workgroupSize}u + lid;`,
    `  if (i >= arrayLength(&dY)) { return; }`,
    `  dY[i] = select(0.0, dY[i], y[i] > 0.0);`,
    `}`,
  ].join("\n");
}
