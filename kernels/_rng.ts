// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel
// random numbers: as easy as 1, 2, 3", SC'11; the generator of Random123, cuRAND and
// JAX). A counter-based generator is a pure function (counter, key) -> 4 words, so
// every GPU invocation computes its own numbers without state, and the host can
// recompute any of them: the same (seed, step, i) gives the same bits on ANY adapter.
//
// Integer only: WGSL has no 64-bit integers, so the 32x32 -> 64 multiply is split into
// 16-bit halves (exact in u32 arithmetic on the GPU, and in doubles on the host).
// The WGSL and TypeScript versions below are the same algorithm; tests check both
// against Random123's known-answer vectors (tests/kat_vectors).

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (exact in doubles: no partial product reaches 2^53). */
function mulhi(a: number, b: number): number {
  const bl = b & 0xffff, bh = b >>> 16;
  const p1 = a * bl; // < 2^48
  const p2 = a * bh; // < 2^48
  const p2h = Math.floor(p2 / 65536), p2l = p2 % 65536;
  return (p2h + Math.floor((p2l * 65536 + p1) / 4294967296)) >>> 0;
}

/**
 * Philox4x32-10 on the host: counter words `c0..c3`, key words `k0, k1` -> 4 u32 words.
 *
 * @example
 * ```ts
 * import { philox4x32 } from "./_rng.ts";
 * philox4x32(0, 0, 0, 0, 0, 0)[0].toString(16); // "6627e8d5" (Random123 KAT)
 * ```
 */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
): [number, number, number, number] {
  c0 >>>= 0, c1 >>>= 0, c2 >>>= 0, c3 >>>= 0, k0 >>>= 0, k1 >>>= 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/**
 * The WGSL of the same generator: `fn philox4x32(ctr: vec4u, key: vec2u) -> vec4u`.
 * Include it once in a shader that needs random bits.
 */
export function philoxWgsl(): string {
  return `fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn philox4x32(ctr_in: vec4u, key_in: vec2u) -> vec4u {
  var c = ctr_in;
  var k = key_in;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2u(${W0}u, ${W1}u); }
    let hi0 = philox_mulhi(${M0}u, c.x); let lo0 = ${M0}u * c.x;
    let hi1 = philox_mulhi(${M1}u, c.z); let lo1 = ${M1}u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}`;
}

/**
 * The 32 random bits for element `i` of stream (`seed`, `step`): word `i % 4` of
 * Philox4x32-10 with counter `(floor(i / 4), 0, 0, 0)` and key `(seed, step)`.
 * One GPU invocation computes the four elements of one counter.
 */
export function randomBits(seed: number, step: number, i: number): number {
  return philox4x32(Math.floor(i / 4), 0, 0, 0, seed, step)[i % 4];
}

/** Throws a RangeError naming the kernel and parameter unless `v` is a u32. */
export function requireU32(kernel: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(
      `${kernel}: ${name} must be an integer in [0, 2^32), got ${String(v)}`,
    );
  }
  return v;
}
