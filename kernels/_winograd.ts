// Winograd minimal filtering F(m x m, r x r) for stride-1 convolutions (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016). A tile of m x m outputs
// comes from an alpha x alpha input patch (alpha = m + r - 1) as
//
//   Y = AT [ (G g GT) (.) (BT d B) ] A            (.) = elementwise product
//
// so the per-tile work is alpha^2 multiplies per (input, output) channel pair instead of
// m^2 r^2: 16 instead of 36 for F(2x2, 3x3), 36 instead of 100 for F(2x2, 5x5). Summed
// over input channels, the elementwise products become alpha^2 independent GEMMs
// (one per point of the transformed tile) — which run on the same GEMM core as
// everything else. Four dispatches per call:
//
//   weights  V[pt][g][k][n] = (G w GT)[pt]                  one invocation per (g, k, n)
//   input    U[pt][g][t][k] = (BT d B)[pt]                  one invocation per (t, g, k)
//   GEMM     M[pt][g][t][n] = sum_k U[pt][g][t][k] V[pt][g][k][n]
//   output   y[tile t, channel g*Ng+n] = AT M A (+ bias, ReLU)  one invocation per (t, g, n)
//
// The same routine computes conv2d's backward-data for stride 1: dX is the correlation of
// dY with the spatially flipped, in/out-transposed weights and padding r - 1 - p; the
// weight transform reads w that way ("data" mode), so nothing else changes.
//
// The matrices come from the Toom-Cook construction with interpolation points
// 0, 1, -1, 2, -2, 1/2, -1/2 and infinity, computed here in float64 (no hand-copied tables).
// Images are processed in chunks so the scratch U and M stay within one storage binding.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import { Tensor } from "./tensor.ts";
import { ceilDiv, constants, foldWorkgroups, storage } from "./_wgsl.ts";
import { fitTile, gemmCoreWgsl, gemmGrid, type GemmTile, widenGemmTile } from "./_gemm_core.ts";

/** The three Winograd transform matrices of F(m, r), row-major, float64. */
export interface WinogradMatrices {
  /** Output tile side. */
  m: number;
  /** Filter side. */
  r: number;
  /** Input tile side, m + r - 1. */
  alpha: number;
  /** m x alpha: output transform. */
  AT: number[][];
  /** alpha x r: filter transform. */
  G: number[][];
  /** alpha x alpha: input transform. */
  BT: number[][];
}

const POINTS = [0, 1, -1, 2, -2, 0.5, -0.5];

/**
 * Toom-Cook matrices of F(m, r) for correlation. With E_n the alpha x n matrix whose row i
 * is (1, a_i, a_i^2, ..., a_i^(n-1)) for the finite points and (0, ..., 0, 1) for infinity,
 * linear convolution is s = E_alpha^-1 [(E_m u) (.) (E_r g)]; correlation is its transpose:
 * AT = E_m^T, G = E_r, BT = E_alpha^-T, then each row of BT scaled to small integers and
 * the matching row of G by the inverse.
 */
export function winogradMatrices(m: number, r: number): WinogradMatrices {
  const alpha = m + r - 1;
  if (!Number.isInteger(m) || !Number.isInteger(r) || m < 1 || r < 2 || alpha - 1 > POINTS.length) {
    throw new RangeError(`winograd: F(${m}, ${r}) is not supported (alpha must be <= 8)`);
  }
  const E = (n: number): number[][] =>
    Array.from(
      { length: alpha },
      (_, i) =>
        Array.from(
          { length: n },
          (_, j) => i === alpha - 1 ? (j === n - 1 ? 1 : 0) : POINTS[i] ** j,
        ),
    );
  const Em = E(m), Ea = E(alpha);
  const AT = Array.from({ length: m }, (_, i) => Em.map((row) => row[i]));
  const inv = invert(Ea);
  const BT = Array.from({ length: alpha }, (_, i) => inv.map((row) => row[i]));
  const G = E(r);
  // Move each point's scale from BT into G (the product only sees their product): BT's
  // rows become small integers, so the per-step input transform rounds less.
  for (let i = 0; i < alpha; i++) {
    const s = Math.min(...BT[i].filter((v) => Math.abs(v) > 1e-12).map(Math.abs));
    BT[i] = BT[i].map((v) => Math.abs(v) > 1e-12 ? Math.round((v / s) * 1e9) / 1e9 : 0);
    G[i] = G[i].map((v) => v * s);
  }
  return { m, r, alpha, AT, G, BT };
}

/** Gauss-Jordan inverse with partial pivoting (small, well-conditioned matrices). */
function invert(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let i = c + 1; i < n; i++) if (Math.abs(m[i][c]) > Math.abs(m[p][c])) p = i;
    [m[c], m[p]] = [m[p], m[c]];
    const d = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= d;
    for (let i = 0; i < n; i++) {
      if (i === c || m[i][c] === 0) continue;
      const f = m[i][c];
      for (let j = 0; j < 2 * n; j++) m[i][j] -= f * m[c][j];
    }
  }
  return m.map((row) => row.slice(n));
}

/** WGSL f32 expression for sum_k coef[k] * terms[k], skipping zeros and unit factors. */
function dot(coef: number[], terms: string[]): string {
  const parts: string[] = [];
  coef.forEach((c, k) => {
    const v = Math.abs(c) < 1e-12 ? 0 : c;
    if (v === 0) return;
    const sign = v < 0 ? "-" : "+";
    const mag = Math.abs(v);
    const term = mag === 1 ? terms[k] : `${literal(mag)} * ${terms[k]}`;
    parts.push(parts.length === 0 && sign === "+" ? term : `${sign} ${term}`);
  });
  if (parts.length === 0) return "0.0";
  const s = parts.join(" ");
  return s.startsWith("-") ? `(${s})` : s;
}

function literal(v: number): string {
  const s = String(Math.fround(v) === v ? v : Number(v.toPrecision(9)));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Statements computing out = L * X * R^T for named scalar grids (straight-line). */
function sandwich(
  out: string,
  L: number[][],
  x: (i: number, j: number) => string,
  R: number[][],
  inner: number,
  cols: number,
): string[] {
  const s: string[] = [];
  // t[i][j] = sum_k L[i][k] x[k][j]
  for (let i = 0; i < L.length; i++) {
    for (let j = 0; j < cols; j++) {
      s.push(
        `let ${out}t${i}_${j} = ${dot(L[i], Array.from({ length: inner }, (_, k) => x(k, j)))};`,
      );
    }
  }
  // out[i][j] = sum_k t[i][k] R[j][k]
  for (let i = 0; i < L.length; i++) {
    for (let j = 0; j < R.length; j++) {
      s.push(
        `let ${out}${i}_${j} = ${
          dot(R[j], Array.from({ length: cols }, (_, k) => `${out}t${i}_${k}`))
        };`,
      );
    }
  }
  return s;
}

/** Static shape of one Winograd correlation (a conv2d direction). */
export interface WinogradShape {
  /** Images in the whole batch. */
  batch: number;
  /** Images per chunk (scratch holds one chunk). */
  chunk: number;
  /** Input channels of the tensor read (all groups), its height and width. */
  inC: number;
  /** Input height. */
  H: number;
  /** Input width. */
  W: number;
  /** Output channels of the tensor written (all groups), its height and width. */
  outC: number;
  /** Output height. */
  OH: number;
  /** Output width. */
  OW: number;
  /** Channel groups. */
  groups: number;
  /** Zero padding on each side. */
  pad: number;
  /**
   * Stride s (default 1). A strided conv is run as a stride-1 one over a space-to-depth
   * view of x: channel (c, dy, dx) at block (Y, X) is x[c, Y*s + dy - pad, X*s + dx - pad],
   * the kernel becomes ceil(k/s) square over inC*s^2 channels (zero taps past k). Read in
   * place: nothing is rearranged in memory. Forward only.
   */
  stride?: number;
  /** The original kernel side k (default: the matrices' r, i.e. stride 1). */
  kernel?: number;
  /** Fused bias + ReLU (forward) or neither (backward-data). */
  bias: boolean;
  /** ReLU on the output. */
  relu: boolean;
}

/** Derived sizes shared by the four kernels. */
export function winogradSizes(s: WinogradShape, f: WinogradMatrices) {
  const TH = ceilDiv(s.OH, f.m), TW = ceilDiv(s.OW, f.m);
  const NT = s.chunk * TH * TW;
  const st = s.stride ?? 1;
  const K = (s.inC / s.groups) * st * st, N = s.outC / s.groups, P = f.alpha * f.alpha;
  return {
    TH,
    TW,
    NT,
    K,
    N,
    P,
    /** Floats of U (transformed input chunk). */
    uSize: P * s.groups * NT * K,
    /** Floats of M (GEMM output chunk). */
    mSize: P * s.groups * NT * N,
    /** Floats of V (transformed weights). */
    vSize: P * s.groups * K * N,
  };
}

const WG = 64;

function linearIndex(total: number): { head: string[]; grid: [number, number, number] } {
  const [nx, ny] = foldWorkgroups(ceilDiv(total, WG));
  return {
    head: [
      `@compute @workgroup_size(${WG})`,
      `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
      `  let i = (wid.y * ${nx}u + wid.x) * ${WG}u + lid;`,
      `  if (i >= ${total}u) { return; }`,
    ],
    grid: [nx, ny, 1],
  };
}

/** A generated kernel and its dispatch grid. */
export interface WinogradKernel {
  /** WGSL source. */
  code: string;
  /** Workgroups. */
  grid: [number, number, number];
}

/**
 * Filter transform. "forward": w [outC, inC/g, r, r] read as V[k = ci][n = oc]; "data":
 * the same w (shape [inC_of_dY = OC, ...]) read flipped and transposed, V[k = oc][n = ci].
 * Bindings: w, V.
 */
export function winogradWeightsWgsl(
  s: WinogradShape,
  f: WinogradMatrices,
  mode: "forward" | "data",
): WinogradKernel {
  const z = winogradSizes(s, f), r = f.r, st = s.stride ?? 1, kk = s.kernel ?? r;
  if (st > 1 && mode !== "forward") throw new RangeError("winograd: strided is forward only");
  const total = s.groups * z.K * z.N;
  const { head, grid } = linearIndex(total);
  // Weight tensor dims: forward w[g*N + n][k][.]; data w[g*K + k][n][.] flipped. Strided:
  // k = (c, dy, dx) and inner tap (a, b) is the original tap (a*s + dy, b*s + dx), zero
  // past the kernel.
  const wAt = mode === "data"
    ? (ky: number, kx: number) => `w[wb + ${(r - 1 - ky) * r + (r - 1 - kx)}u]`
    : st === 1
    ? (ky: number, kx: number) => `w[wb + ${ky * r + kx}u]`
    : (ky: number, kx: number) =>
      `select(0.0, w[wb + min(${ky * st}u + dy, ${kk - 1}u) * ${kk}u + ` +
      `min(${kx * st}u + dx, ${kk - 1}u)], ${ky * st}u + dy < ${kk}u && ${kx * st}u + dx < ${kk}u)`;
  const body = [
    `  let n = i % KN; let k = (i / KN) % KK; let g = i / (KN * KK);`,
    mode === "data"
      ? `  let wb = ((g * KK + k) * KN + n) * ${r * r}u;`
      : st === 1
      ? `  let wb = ((g * KN + n) * KK + k) * ${r * r}u;`
      : `  let dy = k / ${st}u % ${st}u; let dx = k % ${st}u;\n` +
        `  let wb = ((g * KN + n) * ${z.K / (st * st)}u + k / ${st * st}u) * ${kk * kk}u;`,
    ...sandwich("v", f.G, (a, b) => wAt(a, b), f.G, r, r).map((l) => `  ${l}`),
  ];
  for (let a = 0; a < f.alpha; a++) {
    for (let b = 0; b < f.alpha; b++) {
      body.push(`  V[((${a * f.alpha + b}u * G + g) * KK + k) * KN + n] = v${a}_${b};`);
    }
  }
  return {
    code: [
      constants({ KK: z.K, KN: z.N, G: s.groups }),
      storage(0, "w", "array<f32>", "read"),
      storage(1, "V", "array<f32>", "read_write"),
      ...head,
      ...body,
      `}`,
    ].join("\n"),
    grid,
  };
}

/**
 * Input transform of one chunk of images (chunk base image in P.x). Bindings: P (uniform
 * vec4u), x, U.
 */
export function winogradInputWgsl(s: WinogradShape, f: WinogradMatrices): WinogradKernel {
  const z = winogradSizes(s, f), al = f.alpha;
  const total = z.NT * s.groups * z.K;
  const { head, grid } = linearIndex(total);
  const st = s.stride ?? 1, cg = z.K / (st * st);
  const body = [
    `  let c = i % KK; let g = (i / KK) % G; let t = i / (KK * G);`,
    `  let n = P.x + t / TPI; let tt = t % TPI;`,
    // Space-to-depth (stride s): channel c = (ci, dy, dx); plain conv: dy = dx = 0.
    st === 1
      ? `  let ci = c; let dy = 0i; let dx = 0i;`
      : `  let ci = c / ${st * st}u; let dy = i32(c / ${st}u % ${st}u); let dx = i32(c % ${st}u);`,
    `  let iy0 = i32(tt / TW * ${f.m * st}u) + dy - PAD;`,
    `  let ix0 = i32(tt % TW * ${f.m * st}u) + dx - PAD;`,
    `  let okn = n < NB;`,
    `  let xb = (min(n, NB - 1u) * CIN + g * ${cg}u + ci) * H * W;`,
  ];
  for (let a = 0; a < al; a++) {
    body.push(
      `  let y${a} = iy0 + ${a * st}; let vy${a} = okn && y${a} >= 0 && y${a} < i32(H);`,
    );
  }
  for (let b = 0; b < al; b++) {
    body.push(`  let x${b} = ix0 + ${b * st}; let vx${b} = x${b} >= 0 && x${b} < i32(W);`);
  }
  for (let a = 0; a < al; a++) {
    for (let b = 0; b < al; b++) {
      body.push(
        `  let d${a}_${b} = select(0.0, x[xb + u32(max(y${a}, 0)) * W + u32(max(x${b}, 0))], ` +
          `vy${a} && vx${b});`,
      );
    }
  }
  body.push(...sandwich("u", f.BT, (a, b) => `d${a}_${b}`, f.BT, al, al).map((l) => `  ${l}`));
  for (let a = 0; a < al; a++) {
    for (let b = 0; b < al; b++) {
      body.push(`  U[((${a * al + b}u * G + g) * NT + t) * KK + c] = u${a}_${b};`);
    }
  }
  return {
    code: [
      constants({
        KK: z.K,
        G: s.groups,
        NT: z.NT,
        TPI: z.TH * z.TW,
        TW: z.TW,
        NB: s.batch,
        CIN: s.inC,
        H: s.H,
        W: s.W,
      }),
      constants({ PAD: s.pad }, "i32"),
      `@group(0) @binding(0) var<uniform> P: vec4u;`,
      storage(1, "x", "array<f32>", "read"),
      storage(2, "U", "array<f32>", "read_write"),
      ...head,
      ...body,
      `}`,
    ].join("\n"),
    grid,
  };
}

/** The alpha^2 * groups batched GEMMs M = U V. Bindings: U, V, M. */
export function winogradGemmWgsl(
  s: WinogradShape,
  f: WinogradMatrices,
  tile: GemmTile,
): string {
  const z = winogradSizes(s, f);
  return gemmCoreWgsl({
    M: z.NT,
    N: z.N,
    KO: 1,
    KI: z.K,
    decls: [
      storage(0, "U", "array<f32>", "read"),
      storage(1, "V", "array<f32>", "read"),
      storage(2, "Mo", "array<f32>", "read_write"),
    ],
    a: {
      line: (sl, i) => [`let ua${sl} = (z * GM + min(${i}, GM - 1u)) * KI;`],
      read: (sl, k) => `U[ua${sl} + ${k}]`,
    },
    b: {
      line: (sl, i) => [`let vb${sl} = z * KI * GN + min(${i}, GN - 1u);`],
      read: (sl, k) => `V[vb${sl} + ${k} * GN]`,
    },
    write: (row, col, v) => [`Mo[(z * GM + ${row}) * GN + ${col}] = ${v};`],
    tile,
  });
}

/**
 * Output transform of one chunk (base image in P.x), plus bias and ReLU when the shape
 * asks. Bindings: P, M, y, (b).
 */
export function winogradOutputWgsl(s: WinogradShape, f: WinogradMatrices): WinogradKernel {
  const z = winogradSizes(s, f), al = f.alpha, m = f.m;
  const total = z.NT * s.groups * z.N;
  const { head, grid } = linearIndex(total);
  const body = [
    `  let n = i % KN; let g = (i / KN) % G; let t = i / (KN * G);`,
    `  let img = P.x + t / TPI; let tt = t % TPI;`,
    `  if (img >= NB) { return; }`,
    `  let oy0 = tt / TW * ${m}u; let ox0 = tt % TW * ${m}u;`,
    `  let oc = g * KN + n;`,
    `  let yb = (img * COUT + oc) * OH * OW;`,
  ];
  for (let a = 0; a < al; a++) {
    for (let b = 0; b < al; b++) {
      body.push(`  let q${a}_${b} = Mo[((${a * al + b}u * G + g) * NT + t) * KN + n];`);
    }
  }
  body.push(...sandwich("o", f.AT, (a, b) => `q${a}_${b}`, f.AT, al, al).map((l) => `  ${l}`));
  if (s.bias) body.push(`  let bias = b[oc];`);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let v = s.bias ? `o${i}_${j} + bias` : `o${i}_${j}`;
      if (s.relu) v = `max(${v}, 0.0)`;
      body.push(
        `  if (oy0 + ${i}u < OH && ox0 + ${j}u < OW) { ` +
          `y[yb + (oy0 + ${i}u) * OW + ox0 + ${j}u] = ${v}; }`,
      );
    }
  }
  return {
    code: [
      constants({
        KN: z.N,
        G: s.groups,
        NT: z.NT,
        TPI: z.TH * z.TW,
        TW: z.TW,
        NB: s.batch,
        COUT: s.outC,
        OH: s.OH,
        OW: s.OW,
      }),
      `@group(0) @binding(0) var<uniform> P: vec4u;`,
      storage(1, "Mo", "array<f32>", "read"),
      storage(2, "y", "array<f32>", "read_write"),
      ...(s.bias ? [storage(3, "b", "array<f32>", "read")] : []),
      ...head,
      ...body,
      `}`,
    ].join("\n"),
    grid,
  };
}

/** Scratch budget per buffer: a chunk's U and M each stay within this many bytes. */
export const WINOGRAD_CHUNK_BYTES = 64 << 20;

/**
 * Images per chunk so U and M each fit `budget` bytes (0 when even one image does not).
 */
export function winogradChunk(
  s: Omit<WinogradShape, "chunk">,
  f: WinogradMatrices,
  budget: number,
) {
  const one = winogradSizes({ ...s, chunk: 1 }, f);
  const perImage = Math.max(one.uSize, one.mSize) * 4;
  return Math.min(s.batch, Math.floor(budget / perImage));
}

/** One value per dispatch kind of a Winograd correlation. */
interface Stages<T> {
  weights: T;
  input: T;
  gemm: T;
  output: T;
}

/** Floats of each Winograd scratch buffer. */
export interface WorkspaceSizes {
  /** Transformed input chunk. */
  U: number;
  /** GEMM output chunk. */
  M: number;
  /** Transformed weights. */
  V: number;
}

/**
 * Winograd scratch shared by the convolutions of one column. They run one after another
 * within a submit, so one set of buffers, as large as the largest request, serves them all.
 * Convs reserve their sizes when created; the buffers are allocated on first use (after
 * every layer has reserved) and grow only if a larger conv is created later.
 *
 * @example
 * ```ts ignore
 * const workspace = new ConvWorkspace(column);
 * const conv3 = await Conv2d.create(column, { ...params3, workspace });
 * const conv4 = await Conv2d.create(column, { ...params4, workspace });
 * ```
 */
export class ConvWorkspace {
  /** The column the buffers live on. */
  readonly column: Column;
  #need: WorkspaceSizes = { U: 0, M: 0, V: 0 };
  #held: Record<keyof WorkspaceSizes, Tensor> | null = null;
  readonly #fixed: boolean;

  /**
   * A workspace on `column`: growing and self-allocated, or over `tensors` the caller
   * planned (then a conv needing more than they hold is an error at its creation).
   */
  constructor(column: Column, tensors?: Record<keyof WorkspaceSizes, Tensor>) {
    this.column = column;
    this.#held = tensors ?? null;
    this.#fixed = !!tensors;
  }

  /** Raises the sizes to at least `sizes` (floats). */
  reserve(sizes: WorkspaceSizes): void {
    for (const k of ["U", "M", "V"] as const) {
      if (this.#fixed && sizes[k] > this.#held![k].size) {
        throw new RangeError(
          `conv workspace: ${this.#held![k].label} holds ${this.#held![k].size} floats, ` +
            `a conv needs ${sizes[k]}`,
        );
      }
      this.#need[k] = Math.max(this.#need[k], sizes[k]);
    }
  }

  /** The buffers, allocated (or regrown) to the reserved sizes. */
  tensors(): Record<keyof WorkspaceSizes, Tensor> {
    const h = this.#held;
    if (h && (this.#fixed || (["U", "M", "V"] as const).every((k) => h[k].size >= this.#need[k]))) {
      return h;
    }
    this.dispose();
    const t = (k: keyof WorkspaceSizes) =>
      Tensor.empty(this.column, [Math.max(this.#need[k], 1)], `conv workspace ${k}`);
    return this.#held = { U: t("U"), M: t("M"), V: t("V") };
  }

  /**
   * Returns self-allocated buffers to the column's pool (reallocated if used again);
   * planned tensors passed to the constructor stay the caller's.
   */
  dispose(): void {
    if (this.#fixed || !this.#held) return;
    for (const t of Object.values(this.#held)) t.dispose();
    this.#held = null;
  }
}

/**
 * One Winograd correlation (conv2d forward, or backward-data in "data" mode) on a column:
 * its pipelines and the per-chunk base-image uniforms (written once); scratch comes from
 * a ConvWorkspace.
 */
export class WinogradConv {
  readonly #k: Stages<GPUComputePipeline>;
  readonly #grids: Stages<[number, number, number]>;
  readonly #chunkBases: GPUBuffer[];
  readonly #workspace: ConvWorkspace;

  private constructor(
    column: Column,
    label: string,
    s: WinogradShape,
    k: Stages<GPUComputePipeline>,
    grids: Stages<[number, number, number]>,
    workspace: ConvWorkspace,
  ) {
    this.#workspace = workspace;
    this.#k = k;
    this.#grids = grids;
    const chunks = ceilDiv(s.batch, s.chunk);
    this.#chunkBases = Array.from({ length: chunks }, (_, c) => {
      const buf = column.device.createBuffer({
        label: `${label} chunk ${c}`,
        size: 16,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      column.device.queue.writeBuffer(buf, 0, new Uint32Array([c * s.chunk, 0, 0, 0]));
      return buf;
    });
  }

  /**
   * Compiles the four pipelines of F(m, r) for `s` in `mode`. With `widen` (the tile is
   * the profile's default) the GEMM's tile goes through {@link widenGemmTile}.
   */
  static async create(
    column: Column,
    label: string,
    s: WinogradShape,
    m: number,
    r: number,
    mode: "forward" | "data",
    tile: GemmTile,
    workspace: ConvWorkspace,
    widen = false,
  ): Promise<WinogradConv> {
    const f = winogradMatrices(m, r);
    const z = winogradSizes(s, f);
    workspace.reserve({ U: z.uSize, M: z.mSize, V: z.vSize });
    const fitted = fitTile(label, tile, z.N, z.NT);
    const t = widen ? widenGemmTile(fitted, z.N) : fitted;
    const w = winogradWeightsWgsl(s, f, mode), i = winogradInputWgsl(s, f);
    const o = winogradOutputWgsl(s, f);
    const [weights, input, gemm, output] = await Promise.all([
      column.pipeline(`${label}.winogradWeights`, w.code),
      column.pipeline(`${label}.winogradInput`, i.code),
      column.pipeline(`${label}.winogradGemm`, winogradGemmWgsl(s, f, t)),
      column.pipeline(`${label}.winogradOutput`, o.code),
    ]);
    return new WinogradConv(column, label, s, { weights, input, gemm, output }, {
      weights: w.grid,
      input: i.grid,
      gemm: gemmGrid(z.NT, z.N, z.P * s.groups, t),
      output: o.grid,
    }, workspace);
  }

  /** Records y = correlate(x, w) (+ b, ReLU as the shape says), all chunks. */
  record(enc: Encoder, x: Tensor, w: Tensor, y: Tensor, b?: Tensor): void {
    const { U, M, V } = this.#workspace.tensors();
    enc.dispatch(this.#k.weights, [w, V], this.#grids.weights);
    for (const base of this.#chunkBases) {
      enc.dispatch(this.#k.input, [base, x, U], this.#grids.input);
      enc.dispatch(this.#k.gemm, [U, V, M], this.#grids.gemm);
      enc.dispatch(this.#k.output, b ? [base, M, y, b] : [base, M, y], this.#grids.output);
    }
  }
}
