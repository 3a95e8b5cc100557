// A seeded, serialisable random number generator for everything the trainer draws:
// parameter init, epoch shuffles and augmentation draws (crops, flips, PCA lighting).
//
// The generator is xoshiro128** (Blackman & Vigna): 128 bits of state as four u32
// words, 32-bit outputs, period 2^128 - 1. It fits JavaScript's 32-bit integer ops
// (Math.imul, >>>), so every platform gives the same sequence, and its whole state is
// four numbers — a checkpoint stores them in state.json and a resumed run continues
// the exact sequence. Seeds are expanded with splitmix32 so nearby seeds (1, 2, 3)
// give unrelated streams; a stream name (e.g. "init", "shuffle", "augment") is hashed
// into the seed so the consumers of one run seed never share a sequence.

/** The serialised state of an {@link Rng} (JSON-safe). */
export interface RngState {
  /** Always "xoshiro128**". */
  algorithm: "xoshiro128**";
  /** The four u32 state words. */
  state: [number, number, number, number];
}

const TWO_POW_32 = 4294967296;

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// splitmix32 (as in the xoshiro authors' seeding advice): a bijective mixer.
function splitmix32(s: { x: number }): number {
  s.x = (s.x + 0x9e3779b9) >>> 0;
  let z = s.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

// FNV-1a over UTF-16 code units: a stable hash of the stream name.
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

// One xoshiro128** step on the state words; returns the output.
function next(s: Uint32Array): number {
  const s1 = s[1];
  const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
  const t = s1 << 9;
  s[2] ^= s[0];
  s[3] ^= s1;
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return result;
}

/**
 * A seeded xoshiro128** generator with `getState`/`setState` for checkpoints.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42, "shuffle");
 * const saved = a.getState();
 * const x = a.uniform();
 * const b = new Rng(0);
 * b.setState(saved);
 * console.assert(b.uniform() === x);
 * ```
 */
export class Rng {
  // A typed array, not four number fields: u32 values above 2^31 would be boxed as heap
  // numbers on every store, which made drawing the paper's 61M weights take ~18 s.
  #s = new Uint32Array(4);

  /**
   * Seeds the generator.
   *
   * @param seed a non-negative safe integer.
   * @param stream a name that selects an independent stream for the same seed.
   */
  constructor(seed: number, stream = "") {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`rng: seed must be a non-negative safe integer, got ${seed}`);
    }
    const lo = seed >>> 0, hi = Math.floor(seed / TWO_POW_32) >>> 0;
    const s = { x: (lo ^ Math.imul(hi, 0x632be5ab) ^ fnv1a(stream)) >>> 0 };
    for (let i = 0; i < 4; i++) this.#s[i] = splitmix32(s);
    // All-zero is xoshiro's one fixed point; splitmix32 is a bijection of a counter, so
    // four consecutive zeros cannot happen, but guard anyway.
    if (this.#s.every((x) => x === 0)) this.#s[0] = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    return next(this.#s);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); 1 <= n <= 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** One draw from N(mean, std^2) (Box-Muller; uses two uniforms, discards the pair). */
  normal(mean = 0, std = 1): number {
    const u = (this.nextU32() + 1) / TWO_POW_32; // (0, 1]: log(u) is finite
    const v = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * Fills `out` with N(mean, std^2) draws (Marsaglia's polar method, both values of
   * each accepted pair: no trigonometry, which dominated the paper config's 61M draws).
   */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    const st = this.#s, n = out.length;
    for (let i = 0; i < n;) {
      const x = next(st) / 2147483648 - 1, y = next(st) / 2147483648 - 1; // [-1, 1)
      const r2 = x * x + y * y;
      if (r2 >= 1 || r2 === 0) continue;
      const m = std * Math.sqrt((-2 * Math.log(r2)) / r2);
      out[i++] = mean + m * x;
      if (i < n) out[i++] = mean + m * y;
    }
    return out;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /** The current state (JSON-safe); {@link setState} with it resumes the same sequence. */
  getState(): RngState {
    const [a, b, c, d] = this.#s;
    return { algorithm: "xoshiro128**", state: [a, b, c, d] };
  }

  /** Restores a state from {@link getState}; throws on anything malformed. */
  setState(state: RngState): void {
    const s = validateRngState(state, "rng state");
    this.#s.set(s.state);
  }

  /** A generator continuing from a given state. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** An independent copy at the same position. */
  clone(): Rng {
    return Rng.fromState(this.getState());
  }
}

/**
 * Checks that `value` is a valid {@link RngState}; `what` names it in the error.
 *
 * @example
 * ```ts
 * import { Rng, validateRngState } from "./rng.ts";
 * validateRngState(new Rng(1).getState(), "state.json rng.shuffle");
 * ```
 */
export function validateRngState(value: unknown, what: string): RngState {
  const v = value as Partial<RngState> | null;
  if (typeof v !== "object" || v === null) {
    throw new TypeError(`${what}: expected an object {algorithm, state}, got ${value}`);
  }
  if (v.algorithm !== "xoshiro128**") {
    throw new TypeError(`${what}.algorithm: expected "xoshiro128**", got ${v.algorithm}`);
  }
  const s = v.state;
  if (
    !Array.isArray(s) || s.length !== 4 ||
    !s.every((x) => Number.isInteger(x) && x >= 0 && x < TWO_POW_32)
  ) {
    throw new TypeError(`${what}.state: expected four u32 integers, got ${JSON.stringify(s)}`);
  }
  if (s.every((x) => x === 0)) {
    throw new RangeError(`${what}.state: all zero is not a valid xoshiro128** state`);
  }
  return { algorithm: "xoshiro128**", state: [s[0], s[1], s[2], s[3]] };
}
