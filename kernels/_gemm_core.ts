// The one tiled GEMM core. Every matrix product in the project (plain GEMM, Linear,
// conv2d forward / backward-data / backward-weights as implicit GEMM) is
//
//   C[z][m, n] = sum_{tap < KO} sum_{k < KI} A[z][m, (tap, k)] * B[z][(tap, k), n]
//
// where z is the batch/group index (the dispatch's z dimension), and the reduction is
// split into an outer "tap" loop and an inner loop so that gather operands (conv) can do
// their index arithmetic once per tap instead of once per element. A plain GEMM has
// KO = 1, KI = K. Operands and the epilogue are pluggable hooks (as in tfjs-backend-webgpu's
// matmul_packed + conv2d_mm): the core only names slots, the hooks emit WGSL statements
// for them. Nothing is materialized: conv reads x through its A hook.
//
// Tiling (all in TypeScript, see GemmTile): a workgroup of wgN x wgM invocations computes
// a (wgM*tm) x (wgN*tn) block of C; each invocation owns tm x tn outputs, rows and columns
// interleaved by the workgroup size (row = base + i*wgM + lid.y). With tk = 0 ("software"
// profile) every invocation reads A/B straight from memory with no barriers; with wgM = 1
// the A reads are workgroup-uniform, which lavapipe turns into scalar loads + broadcasts.
// With tk > 0 ("gpu" profile) A and B tiles of depth tk are staged in workgroup memory.

import { ceilDiv, constants, foldWorkgroups, type RuntimeDims, runtimeDims } from "./_wgsl.ts";
import type { Column, Profile } from "./columns.ts";
import type { Binding, Encoder } from "./encoder.ts";

/** Tile shape of the GEMM core. */
export interface GemmTile {
  /** Invocations per workgroup along N (the fast, lane dimension). */
  wgN: number;
  /** Invocations per workgroup along M. */
  wgM: number;
  /** Output rows per invocation. */
  tm: number;
  /** Output columns per invocation. */
  tn: number;
  /** K depth staged in workgroup memory per step; 0 = no workgroup memory, no barriers. */
  tk: number;
}

/**
 * Default tiles: "software" = barrier-free 8x8 register blocks with workgroup-uniform rows
 * (measured on lavapipe, 2 shared cores: 512^3 GEMM ~3.5-6 GFLOP/s vs ~1-1.5 for 8x2 or
 * 4x4 blocks; 16x4 is faster for conv forward but 2x slower for backward-data);
 * "gpu" = 64x64 shared-memory tiles, 4x4 outputs per invocation.
 */
export const DEFAULT_TILES: Readonly<Record<Profile, Readonly<GemmTile>>> = {
  software: { wgN: 16, wgM: 1, tm: 8, tn: 8, tk: 0 },
  gpu: { wgN: 16, wgM: 16, tm: 4, tn: 4, tk: 16 },
};

/**
 * One operand as WGSL statement generators. `slot` is a unique identifier suffix the
 * hook appends to its variable names; the core guarantees statement order
 * line -> tap -> read. In scope: `z: u32` (batch/group), and in tap/read `tap: u32`.
 */
export interface GemmOperand {
  /** Statements run once per row (A) or column (B) slot; `index` may exceed the extent. */
  line(slot: string, index: string): string[];
  /** Statements run per slot at the start of every outer reduction step. */
  tap?(slot: string): string[];
  /** f32 expression for inner reduction index `k` (a u32 expression < KI). */
  read(slot: string, k: string): string;
}

/** Writes one finished output; the core only calls it for row < M and col < N. */
export type GemmEpilogue = (row: string, col: string, value: string) => string[];

/** Everything the core needs to emit one GEMM shader. */
export interface GemmSpec {
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Outer reduction steps (taps). */
  KO: number;
  /** Inner reduction length per tap. */
  KI: number;
  /** Module-scope declarations (bindings, helper functions). */
  decls: string[];
  /** Statements shared by all slots at the start of every tap (e.g. `let ky = tap / KW;`). */
  tapShared?: string[];
  /** The A (rows) operand. */
  a: GemmOperand;
  /** The B (columns) operand. */
  b: GemmOperand;
  /** Writes C. */
  write: GemmEpilogue;
  /** Tile shape. */
  tile: GemmTile;
  /**
   * Read the sizes from a uniform at this binding instead of compiling them in: the
   * core's GM, GN, KO, KI, TILES, TILES_N, NUM_WG_X and the operands' `extra` sizes
   * (which then must not also be declared as constants in `decls`). Layers of the same
   * geometry and tile then share one shader; {@link gemmCoreDims} gives the uniform's
   * contents.
   */
  runtimeDims?: { binding: number; extra: Record<string, number> };
}

/** A compiled GEMM-core pipeline with its dispatch grid. */
export interface GemmPipeline {
  /** The pipeline. */
  pipeline: GPUComputePipeline;
  /** Workgroups [x, y, z]. */
  grid: [number, number, number];
  /** With `runtimeDims`: the uniform holding the sizes, bound after the tensors. */
  sizes?: GPUBuffer;
}

/**
 * Compiles `spec` on `column` (or fetches it from the column's cache) as `name`, with its
 * sizes uniform when the spec reads its sizes at run time.
 */
export async function gemmPipeline(
  column: Column,
  name: string,
  spec: GemmSpec,
  grid: [number, number, number],
): Promise<GemmPipeline> {
  const pipeline = await column.pipeline(name, gemmCoreWgsl(spec));
  if (!spec.runtimeDims) return { pipeline, grid };
  return { pipeline, grid, sizes: column.uniformBuffer(`${name} sizes`, gemmCoreDims(spec).bytes) };
}

/** Records `p` over `bindings` (the tensors), its sizes uniform bound last when it has one. */
export function dispatchGemm(enc: Encoder, p: GemmPipeline, bindings: Binding[]): void {
  enc.dispatch(p.pipeline, p.sizes ? [...bindings, p.sizes] : bindings, p.grid);
}

/** Workgroup grid of a GEMM: tiles folded into (x, y), batch/groups in z. */
export function gemmGrid(M: number, N: number, batch: number, tile: GemmTile): [
  number,
  number,
  number,
] {
  const tiles = ceilDiv(M, tile.wgM * tile.tm) * ceilDiv(N, tile.wgN * tile.tn);
  const [x, y] = foldWorkgroups(tiles);
  return [x, y, batch];
}

/**
 * Validates a tile and narrows the lane count to the problem (a 48-column conv does not
 * need 64 lanes). With `shapeRules` (a default tile, not one the caller set) the tile may
 * also change with the GEMM's shape: {@link shortNarrowTile}, {@link widenGemmTile}.
 * Throws naming `kernel`.
 */
export function fitTile(
  kernel: string,
  tile: GemmTile,
  N: number,
  M: number,
  shapeRules = false,
): GemmTile {
  for (const k of ["wgN", "wgM", "tm", "tn"] as const) {
    if (!Number.isInteger(tile[k]) || tile[k] < 1) {
      throw new RangeError(`${kernel}: tile.${k} must be a positive integer, got ${tile[k]}`);
    }
  }
  if (!Number.isInteger(tile.tk) || tile.tk < 0) {
    throw new RangeError(`${kernel}: tile.tk must be a non-negative integer, got ${tile.tk}`);
  }
  if (tile.wgN * tile.wgM > 256) {
    throw new RangeError(
      `${kernel}: tile.wgN * tile.wgM must be <= 256, got ${tile.wgN * tile.wgM}`,
    );
  }
  const short = shapeRules ? shortNarrowTile(tile, N, M) : null;
  if (short) return short;
  const t = { ...tile };
  if (t.tk === 0 && t.wgM === 1 && ceilDiv(N, 8) * 2 <= t.tn && M >= 8 * N) {
    // Narrow and tall (conv1 of a small net: N = 8 output channels, M = 32K pixels): with
    // lanes along N each lane would own ceil(N/8) < tn/2 columns, so a k step would load
    // about as many values as it multiplies. Lanes go along M instead, each lane owning an
    // 8 x min(N, tn) block (measured on lavapipe: tiny conv1/conv2 2-3.5x faster).
    return { wgN: 1, wgM: 8, tm: Math.min(8, t.tm), tn: Math.min(t.tn, N), tk: 0 };
  }
  if (t.tk === 0) {
    // Barrier-free tiles can shrink freely; keep whole 8-lane SIMD groups.
    t.wgN = Math.min(t.wgN, Math.max(8, ceilDiv(ceilDiv(N, t.tn), 8) * 8));
    // Narrow columns (conv1's backward-data has N = 3) keep lanes busy with fewer columns.
    t.tn = Math.min(t.tn, Math.max(1, ceilDiv(N, t.wgN)));
    t.tm = Math.min(t.tm, Math.max(1, ceilDiv(M, t.wgM)));
  }
  const threads = t.wgN * t.wgM;
  if (t.tk > 0 && ((t.wgM * t.tm * t.tk) % threads || (t.wgN * t.tn * t.tk) % threads)) {
    throw new RangeError(
      `${kernel}: tile: (wgM*tm*tk) and (wgN*tn*tk) must be multiples of wgN*wgM ` +
        `(${t.wgM * t.tm * t.tk}, ${t.wgN * t.tn * t.tk}, ${threads})`,
    );
  }
  return shapeRules ? widenGemmTile(t, N) : t;
}

/**
 * For a short, narrow GEMM on a barrier-free tile (at most 128 rows, at most 32 columns:
 * conv1's backward-weights, whose rows are 3 x kh x kw + 1 = 76 for a 5x5 kernel), lanes
 * along M with the rows spread evenly over the fewest 8-lane tiles: 2 tiles of 40 rows
 * rather than 64 + 12, so both halves of the work take equally long. Null when the tile
 * has workgroup memory or the GEMM is larger (pure). Measured on lavapipe, alternated in
 * one process: conv1's backward-weights of `tiny` 1.22x and of `small` 1.40x faster
 * (`small`'s 24 columns had lanes along N with 3 columns each before). Part of
 * {@link fitTile}'s shape rules.
 *
 * @example
 * ```ts
 * const t = { wgN: 8, wgM: 1, tm: 16, tn: 8, tk: 0 };
 * console.log(shortNarrowTile(t, 24, 76)); // { wgN: 1, wgM: 8, tm: 5, tn: 8, tk: 0 }
 * console.log(shortNarrowTile(t, 24, 300)); // null
 * ```
 */
export function shortNarrowTile(tile: GemmTile, N: number, M: number): GemmTile | null {
  if (tile.tk !== 0 || tile.wgM !== 1 || M > 128 || N > 32) return null;
  const tiles = ceilDiv(M, 64);
  return { wgN: 1, wgM: 8, tm: ceilDiv(M, 8 * tiles), tn: Math.min(tile.tn, N), tk: 0 };
}

/**
 * A barrier-free tile with lanes along N and 8 columns per lane, widened to 12 columns
 * when 12 per lane cover N exactly (pure; other tiles come back unchanged). Part of
 * {@link fitTile}'s shape rules, which Conv2d uses for the tiles the caller did not set;
 * its Winograd GEMMs apply this one alone. Measured on lavapipe, the two tiles alternated
 * in one process: the paper's 192-wide layers 1.02-1.17x faster
 * (Winograd forward and backward-data GEMMs, direct backward-weights) and up to 1.39x
 * (direct backward-data); small's 96-wide layers 1.18-1.43x, for about 0.4 s more
 * compile per shader. Where 12 would leave a partial tile (N = 64, 128, 256) they lost
 * 2-22 %, and 16 columns per lane lost up to 20 % even where they fit (spills).
 *
 * @example
 * ```ts
 * const t = { wgN: 8, wgM: 1, tm: 16, tn: 8, tk: 0 };
 * console.log(widenGemmTile(t, 192).tn, widenGemmTile(t, 128).tn); // 12 8
 * ```
 */
export function widenGemmTile(tile: GemmTile, N: number): GemmTile {
  const lanesAlongN = tile.tk === 0 && tile.wgM === 1 && tile.tn === 8;
  return lanesAlongN && N % (tile.wgN * 12) === 0 ? { ...tile, tn: 12 } : tile;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function coreSizes(spec: Pick<GemmSpec, "M" | "N" | "KO" | "KI" | "tile">) {
  const { M, N, KO, KI, tile } = spec;
  const tilesN = ceilDiv(N, tile.wgN * tile.tn);
  const tiles = ceilDiv(M, tile.wgM * tile.tm) * tilesN;
  const [nx] = foldWorkgroups(tiles);
  return { GM: M, GN: N, KO, KI, TILES: tiles, TILES_N: tilesN, NUM_WG_X: nx };
}

/**
 * The sizes of a spec with `runtimeDims`, as its shader's uniform declaration, `main`'s
 * opening lines and the uniform buffer's bytes (pure). Throws if the spec has none.
 */
export function gemmCoreDims(spec: GemmSpec): RuntimeDims {
  if (!spec.runtimeDims) throw new TypeError("gemmCoreDims: the spec has no runtimeDims");
  return runtimeDims(spec.runtimeDims.binding, { ...coreSizes(spec), ...spec.runtimeDims.extra });
}

/** Emits the compute shader for `spec` (pure). Entry point `main`. */
export function gemmCoreWgsl(spec: GemmSpec): string {
  const { a, b, tile } = spec;
  const { wgN, wgM, tm, tn, tk } = tile;
  const tileM = wgM * tm, tileN = wgN * tn;
  const rows = range(tm), cols = range(tn);
  const dims = spec.runtimeDims ? gemmCoreDims(spec) : null;
  const out: string[] = [
    ...(dims ? dims.decls : [constants(coreSizes(spec))]),
    ...spec.decls,
  ];
  if (tk > 0) {
    out.push(
      `var<workgroup> As: array<array<f32, ${tileM}>, ${tk}>;`,
      `var<workgroup> Bs: array<array<f32, ${tileN}>, ${tk}>;`,
    );
  }
  out.push(
    `@compute @workgroup_size(${wgN}, ${wgM})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,`,
    `        @builtin(local_invocation_index) lidx: u32) {`,
    ...(dims ? dims.lets : []),
    `  let z = wid.z;`,
    `  let tile = wid.y * NUM_WG_X + wid.x;`,
    // Uniform early exit: the folded grid may have a few spare workgroups.
    `  if (tile >= TILES) { return; }`,
    // With one invocation along M the rows are visibly workgroup-uniform (no lid term),
    // so the compiler emits scalar loads + broadcasts for the A operand.
    `  let rowBase = (tile / TILES_N) * ${tileM}u${wgM > 1 ? " + lid.y" : ""};`,
    `  let colBase = (tile % TILES_N) * ${tileN}u${wgN > 1 ? " + lid.x" : ""};`,
  );
  const body: string[] = [];
  for (const i of rows) body.push(`let row${i} = rowBase + ${i * wgM}u;`);
  for (const j of cols) body.push(`let col${j} = colBase + ${j * wgN}u;`);
  for (const i of rows) for (const j of cols) body.push(`var acc${i}_${j} = 0.0;`);
  const fmas = (av: (i: number) => string, bv: (j: number) => string) => {
    const s: string[] = [];
    for (const i of rows) s.push(`let a${i} = ${av(i)};`);
    for (const j of cols) s.push(`let b${j} = ${bv(j)};`);
    for (const i of rows) {
      // a*b + acc, not fma(): lavapipe runs WGSL fma() ~2x slower than a contracted mul-add.
      for (const j of cols) s.push(`acc${i}_${j} += a${i} * b${j};`);
    }
    return s;
  };
  if (tk === 0) {
    for (const i of rows) body.push(...a.line(`r${i}`, `row${i}`));
    for (const j of cols) body.push(...b.line(`c${j}`, `col${j}`));
    body.push(`for (var tap = 0u; tap < KO; tap++) {`);
    const tapBody = [...(spec.tapShared ?? [])];
    for (const i of rows) tapBody.push(...(a.tap?.(`r${i}`) ?? []));
    for (const j of cols) tapBody.push(...(b.tap?.(`c${j}`) ?? []));
    tapBody.push(`for (var k = 0u; k < KI; k++) {`);
    tapBody.push(
      ...fmas((i) => a.read(`r${i}`, "k"), (j) => b.read(`c${j}`, "k")).map((l) => `  ${l}`),
    );
    tapBody.push(`}`);
    body.push(...tapBody.map((l) => `  ${l}`), `}`);
  } else {
    const threads = wgN * wgM;
    const la = range((tileM * tk) / threads), lb = range((tileN * tk) / threads);
    // Loader slots: consecutive invocations read consecutive k of A and n of B.
    for (const s of la) {
      body.push(`let ea${s} = lidx + ${s * threads}u;`);
      body.push(`let lr${s} = ea${s} / ${tk}u; let lk${s} = ea${s} % ${tk}u;`);
      body.push(...a.line(`la${s}`, `(tile / TILES_N) * ${tileM}u + lr${s}`));
    }
    for (const s of lb) {
      body.push(`let eb${s} = lidx + ${s * threads}u;`);
      body.push(`let lc${s} = eb${s} % ${tileN}u; let lj${s} = eb${s} / ${tileN}u;`);
      body.push(...b.line(`lb${s}`, `(tile % TILES_N) * ${tileN}u + lc${s}`));
    }
    body.push(`for (var tap = 0u; tap < KO; tap++) {`);
    const tapBody = [...(spec.tapShared ?? [])];
    for (const s of la) tapBody.push(...(a.tap?.(`la${s}`) ?? []));
    for (const s of lb) tapBody.push(...(b.tap?.(`lb${s}`) ?? []));
    tapBody.push(`for (var kc = 0u; kc < KI; kc += ${tk}u) {`);
    for (const s of la) {
      tapBody.push(
        `  let ka${s} = kc + lk${s};`,
        `  As[lk${s}][lr${s}] = select(0.0, ${a.read(`la${s}`, `min(ka${s}, KI - 1u)`)}, ` +
          `ka${s} < KI);`,
      );
    }
    for (const s of lb) {
      tapBody.push(
        `  let kb${s} = kc + lj${s};`,
        `  Bs[lj${s}][lc${s}] = select(0.0, ${b.read(`lb${s}`, `min(kb${s}, KI - 1u)`)}, ` +
          `kb${s} < KI);`,
      );
    }
    tapBody.push(`  workgroupBarrier();`, `  for (var kk = 0u; kk < ${tk}u; kk++) {`);
    tapBody.push(
      ...fmas(
        (i) => `As[kk][lid.y + ${i * wgM}u]`,
        (j) => `Bs[kk][lid.x + ${j * wgN}u]`,
      ).map((l) => `    ${l}`),
    );
    tapBody.push(`  }`, `  workgroupBarrier();`, `}`);
    body.push(...tapBody.map((l) => `  ${l}`), `}`);
  }
  for (const i of rows) {
    for (const j of cols) {
      body.push(
        `if (row${i} < GM && col${j} < GN) {`,
        ...spec.write(`row${i}`, `col${j}`, `acc${i}_${j}`).map((l) => `  ${l}`),
        `}`,
      );
    }
  }
  out.push(...body.map((l) => `  ${l}`), `}`);
  return out.join("\n");
}
