// Local response normalization across channels (NCHW, f32), the paper's formula (alpha is
// NOT divided by n, unlike PyTorch/Caffe), with n odd and half = (n - 1) / 2:
//
//   s_c  = k + alpha * sum_{j = max(0, c - half)}^{min(C - 1, c + half)} a_j^2
//   b_c  = a_c * s_c^-beta                                              (overwrites y)
//   dX_i = dY_i * s_i^-beta - 2 alpha beta a_i * sum_{|c - i| <= half} dY_c a_c s_c^(-beta-1)
//                                                                       (overwrites dX)
// (d b_c / d a_i = [c = i] s_c^-beta - 2 alpha beta a_c a_i s_c^(-beta-1) [|c - i| <= half];
// a_c s_c^(-beta-1) = b_c / s_c, and windows are symmetric.)
//
// Layouts: x, y, dY, dX [N, C, H, W]. Tiling: one invocation per (n, h, w) column walks
// the channels with a sliding window held in registers (a shift register of n values,
// unrolled for static n), so every element of x (and dY) is read exactly once and every
// output written once; neighbouring invocations touch neighbouring w, so loads coalesce on
// a GPU. Backward recomputes s from x instead of reading y, streaming three lagged
// windows: x and dY up to channel j, s and t_m = dY_m a_m s_m^(-beta-1) at m = j - half,
// and dX at o = j - 2 half. No workgroup memory or barriers.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { ceilDiv, constants, foldWorkgroups, requirePositiveInt, storage } from "./_wgsl.ts";

/** Static parameters of an LRN op. */
export interface LrnParams {
  /** Batch size N. */
  batch: number;
  /** Channels C. */
  channels: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** Window n across channels, odd (default 5). */
  size?: number;
  /** alpha, not divided by n (default 1e-4). */
  alpha?: number;
  /** beta (default 0.75). */
  beta?: number;
  /** k, must be > 0 so s stays positive (default 2). */
  k?: number;
  /** Threads per workgroup (default 64 on the software profile, 256 on GPUs). */
  workgroupSize?: number;
}

/** Fully validated LRN parameters, as the WGSL builders take them. */
export interface LrnShape {
  /** Batch size N. */
  batch: number;
  /** Channels C. */
  channels: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** Window n (odd). */
  size: number;
  /** alpha. */
  alpha: number;
  /** beta. */
  beta: number;
  /** k. */
  k: number;
}

/** Validates `params`, filling the paper's defaults; errors name `lrn` and the parameter. */
export function lrnShape(params: LrnParams): LrnShape {
  const kernel = "lrn";
  const batch = requirePositiveInt(kernel, "batch", params.batch);
  const channels = requirePositiveInt(kernel, "channels", params.channels);
  const height = requirePositiveInt(kernel, "height", params.height);
  const width = requirePositiveInt(kernel, "width", params.width);
  const size = requirePositiveInt(kernel, "size", params.size ?? 5);
  if (size % 2 !== 1) {
    throw new RangeError(`${kernel}: size must be odd (a window centred on c), got ${size}`);
  }
  const real = (name: string, v: number, ok: (v: number) => boolean, want: string) => {
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
      throw new RangeError(`${kernel}: ${name} must be ${want}, got ${String(v)}`);
    }
    return v;
  };
  const alpha = real("alpha", params.alpha ?? 1e-4, (v) => v >= 0, "a finite number >= 0");
  const beta = real("beta", params.beta ?? 0.75, () => true, "a finite number");
  const k = real("k", params.k ?? 2, (v) => v > 0, "a finite number > 0");
  return { batch, channels, height, width, size, alpha, beta, k };
}

// Shared by both passes: constants, the invocation's column, and s^-beta.
function prelude(s: LrnShape, workgroupSize: number): string[] {
  const count = s.batch * s.height * s.width;
  return [
    constants({
      WG: workgroupSize,
      COUNT: count,
      NUM_WG_X: foldWorkgroups(ceilDiv(count, workgroupSize))[0],
      C: s.channels,
      HW: s.height * s.width,
    }),
    constants({ ALPHA: s.alpha, BETA: s.beta, LRN_K: s.k }, "f32"),
    ``,
    // pow is exp2(log2) with a loose precision bound; the paper's beta has an exact form.
    `fn powNegBeta(v: f32) -> f32 {`,
    s.beta === 0.75
      ? `  let r = inverseSqrt(v);\n  return r * sqrt(r);`
      : `  return pow(v, -BETA);`,
    `}`,
  ];
}

const MAIN = [
  `@compute @workgroup_size(WG)`,
  `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
  `  let i = (wid.y * NUM_WG_X + wid.x) * WG + lid;`,
  `  if (i >= COUNT) { return; }`,
  `  let base = (i / HW) * C * HW + i % HW;`,
];

// Shift registers r0..r{len-1}: r0 is the oldest value.
const regs = (name: string, len: number) => Array.from({ length: len }, (_, q) => `${name}${q}`);
const declare = (name: string, len: number) =>
  `  var ${regs(name, len).map((r) => `${r} = 0.0`).join("; var ")};`;
const shiftIn = (name: string, len: number, value: string) =>
  [
    ...regs(name, len).slice(1).map((r, q) => `${name}${q} = ${r};`),
    `${name}${len - 1} = ${value};`,
  ]
    .map((l) => `    ${l}`);
const sumOf = (terms: string[]) => terms.join(" + ");

// Walks channels j = 0 .. C + lag - 1 with outputs lagging by `lag`: a static prologue
// (j < lag: loads only), a loop with no conditionals (lag <= j < C), and a static
// epilogue (j >= C: zeros shift in past the last channel). `step` emits one step.
function stream(
  channels: number,
  lag: number,
  step: (j: string, load: boolean, output: boolean) => string[],
): string[] {
  const lines: string[] = [];
  const block = (j: number, load: boolean, output: boolean) =>
    lines.push(`  {`, ...step(`${j}u`, load, output), `  }`);
  for (let j = 0; j < lag; j++) block(j, j < channels, false);
  if (channels > lag) {
    lines.push(`  for (var j = ${lag}u; j < C; j++) {`, ...step("j", true, true), `  }`);
  }
  for (let j = Math.max(lag, channels); j < channels + lag; j++) block(j, false, true);
  return lines;
}

/** WGSL of the forward pass: one invocation per (n, h, w) column (pure; exported for tests). */
export function lrnForwardWgsl(s: LrnShape, workgroupSize = 64): string {
  const n = s.size, half = (n - 1) / 2;
  const xr = regs("x", n);
  return [
    ...prelude(s, workgroupSize),
    storage(0, "x", "array<f32>", "read"),
    storage(1, "y", "array<f32>", "read_write"),
    ...MAIN,
    `  // At step j, x${n - 1} holds channel j and x${half} the output channel j - ${half}.`,
    declare("x", n),
    ...stream(s.channels, half, (j, load, output) => [
      ...shiftIn("x", n, load ? `x[base + ${j} * HW]` : "0.0"),
      ...(output
        ? [
          `    let s = LRN_K + ALPHA * (${sumOf(xr.map((r) => `${r} * ${r}`))});`,
          `    y[base + (${j} - ${half}u) * HW] = x${half} * powNegBeta(s);`,
        ]
        : []),
    ]),
    `}`,
  ].join("\n");
}

/** WGSL of the backward pass: one invocation per (n, h, w) column (pure). */
export function lrnBackwardWgsl(s: LrnShape, workgroupSize = 64): string {
  const n = s.size, half = (n - 1) / 2;
  const xr = regs("x", n);
  return [
    ...prelude(s, workgroupSize),
    `const TWO_ALPHA_BETA: f32 = 2.0 * ALPHA * BETA;`,
    storage(0, "x", "array<f32>", "read"),
    storage(1, "dY", "array<f32>", "read"),
    storage(2, "dX", "array<f32>", "read_write"),
    ...MAIN,
    `  // At step j: x/g hold channels j-${2 * half}..j (a, dY), s and t are computed for`,
    `  // m = j - ${half}, t holds t_{m-${2 * half}}..t_m, p holds p_{m-${half}}..p_m, and dX is`,
    `  // written for o = j - ${2 * half}, whose a, dY, p are x0, g0, p0.`,
    declare("x", n),
    declare("g", n),
    declare("t", n),
    declare("p", half + 1),
    ...stream(s.channels, 2 * half, (j, load, output) => [
      ...shiftIn("x", n, load ? `x[base + ${j} * HW]` : "0.0"),
      ...shiftIn("g", n, load ? `dY[base + ${j} * HW]` : "0.0"),
      `    let s = LRN_K + ALPHA * (${sumOf(xr.map((r) => `${r} * ${r}`))});`,
      `    let pm = powNegBeta(s);`,
      ...shiftIn("t", n, `g${half} * x${half} * pm / s`),
      ...shiftIn("p", half + 1, `pm`),
      ...(output
        ? [
          `    dX[base + (${j} - ${2 * half}u) * HW] = g0 * p0 - TWO_ALPHA_BETA * x0 * ` +
          `(${sumOf(regs("t", n))});`,
        ]
        : []),
    ]),
    `}`,
  ].join("\n");
}

/**
 * Local response normalization across channels with the paper's constants by default
 * (n = 5, alpha = 1e-4 not divided by n, beta = 0.75, k = 2). Equals PyTorch's
 * `LocalResponseNorm(n, alpha * n, beta, k)`.
 *
 * @example
 * ```ts ignore
 * const lrn = await Lrn.create(column, { batch: 4, channels: 48, height: 55, width: 55 });
 * const enc = new Encoder(column, "lrn1");
 * lrn.forward(enc, { x, y });
 * lrn.backward(enc, { x, y, dY, dX }); // overwrites dX
 * enc.submit();
 * ```
 */
export class Lrn {
  /** The validated parameters. */
  readonly shape: LrnShape;
  #forward: GPUComputePipeline;
  #backward: GPUComputePipeline;
  #grid: [number, number];

  private constructor(
    shape: LrnShape,
    forward: GPUComputePipeline,
    backward: GPUComputePipeline,
    wg: number,
  ) {
    this.shape = shape;
    this.#forward = forward;
    this.#backward = backward;
    this.#grid = foldWorkgroups(ceilDiv(shape.batch * shape.height * shape.width, wg));
  }

  /** Validates `params` and compiles (or fetches from the column's cache) both pipelines. */
  static async create(column: Column, params: LrnParams): Promise<Lrn> {
    const shape = lrnShape(params);
    const wg = requirePositiveInt(
      "lrn",
      "workgroupSize",
      params.workgroupSize ?? (column.profile === "software" ? 64 : 256),
    );
    const [forward, backward] = await Promise.all([
      column.pipeline("lrn.forward", lrnForwardWgsl(shape, wg)),
      column.pipeline("lrn.backward", lrnBackwardWgsl(shape, wg)),
    ]);
    return new Lrn(shape, forward, backward, wg);
  }

  #check(kernel: string, tensors: Record<string, Tensor>): void {
    const s = this.shape;
    for (const [param, t] of Object.entries(tensors)) {
      t.expectShape(kernel, param, [s.batch, s.channels, s.height, s.width]);
      if (t.dtype !== "f32") {
        throw new RangeError(`${kernel}: ${param} (${t.label}) must be f32, got ${t.dtype}`);
      }
    }
  }

  /** y = x * (k + alpha * windowed sum of x^2)^-beta. Overwrites y. */
  forward(enc: Encoder, t: { x: Tensor; y: Tensor }): void {
    this.#check("lrn.forward", t);
    enc.dispatch(this.#forward, [t.x, t.y], this.#grid);
  }

  /**
   * dX from x and dY (s is recomputed from x; `y` is checked but not read, so the
   * backward moves 3 tensors). Overwrites dX.
   */
  backward(enc: Encoder, t: { x: Tensor; y: Tensor; dY: Tensor; dX: Tensor }): void {
    this.#check("lrn.backward", t);
    enc.dispatch(this.#backward, [t.x, t.dY, t.dX], this.#grid);
  }
}
