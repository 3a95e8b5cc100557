// CPU reference for dropout, naive and obviously right: Philox4x32-10 written with
// BigInt products (no 16-bit splitting, unlike kernels/_rng.ts), so the two
// implementations check each other; this one is pinned to Random123's KAT vectors.

const MASK32 = 0xffffffffn;

/** Philox4x32-10 with BigInt arithmetic: counter [c0..c3], key [k0, k1] -> 4 words. */
export function philoxRef(ctr: readonly number[], key: readonly number[]): number[] {
  let c = ctr.map((v) => BigInt(v >>> 0));
  let k = key.map((v) => BigInt(v >>> 0));
  for (let r = 0; r < 10; r++) {
    if (r > 0) k = [(k[0] + 0x9e3779b9n) & MASK32, (k[1] + 0xbb67ae85n) & MASK32];
    const p0 = 0xd2511f53n * c[0];
    const p1 = 0xcd9e8d57n * c[2];
    c = [(p1 >> 32n) ^ c[1] ^ k[0], p1 & MASK32, (p0 >> 32n) ^ c[3] ^ k[1], p0 & MASK32];
  }
  return c.map(Number);
}

/** keep_i = bits(seed, step, i) >= floor(p * 2^32), bits = word i%4 of philox((i/4,0,0,0), (seed, step)). */
export function dropoutMaskRef(p: number, seed: number, step: number, size: number): Uint8Array {
  const threshold = Math.floor(p * 2 ** 32);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = philoxRef([Math.floor(i / 4), 0, 0, 0], [seed, step])[i % 4] >= threshold ? 1 : 0;
  }
  return out;
}

/** y = x * mask / (1 - p) (the scale rounded to f32 as the kernel's constant is). */
export function dropoutRef(x: Float32Array, mask: Uint8Array, p: number): Float32Array {
  const scale = Math.fround(1 / (1 - p));
  return x.map((v, i) => (mask[i] ? v * scale : 0));
}
