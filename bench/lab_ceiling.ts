// Kernel lab: the adapter's ceiling for the GEMM core's inner loop. Each invocation runs
// a register-blocked multiply-add loop (a tm x tn block of accumulators, as the core's
// software tiles) with its operands
//
//   none      computed in registers (no memory access in the loop): multiply-adds alone
//   lane      the tn column values loaded per k at per-invocation addresses (the core's B)
//   uniform   the tm row values loaded per k at workgroup-uniform addresses (the core's A)
//   both      both loaded, as in a real GEMM k step
//   ubo       as both, but the row values come from a uniform buffer (64 KiB, the same
//             values), at the same workgroup-uniform addresses
//
// from a small buffer that stays in cache, and prints GFLOP/s per block shape and mode.
// The gap between "none" and "both" is what buffer loads cost on the adapter; "both"
// bounds any kernel built on the core's barrier-free tiles, "ubo" one whose uniform
// operand fits a uniform buffer (a small layer's weights).
//
// One sample records `--per` dispatches and waits once (Deno's completion poll costs
// ~12 ms); a figure is the median of `--reps` samples.
//
//   deno run -A bench/lab_ceiling.ts [--blocks 8x8,16x8,16x16] [--k 1024] [--per 4]
//     [--reps 5] [--groups 64]

import { reportError, UsageError } from "../errors.ts";
import { intFlag, parseFlags } from "../flags.ts";
import { openColumns } from "../kernels/columns.ts";
import { sync } from "../kernels/encoder.ts";

/** Operand sources of the multiply-add loop. */
export type CeilingMode = "none" | "lane" | "uniform" | "both" | "ubo";

/** The lab's shader: `k` steps of a tm x tn register block per invocation (pure). */
export function ceilingWgsl(tm: number, tn: number, k: number, mode: CeilingMode): string {
  const rows = Array.from({ length: tm }, (_, i) => i);
  const cols = Array.from({ length: tn }, (_, j) => j);
  const loadA = mode === "uniform" || mode === "both" || mode === "ubo";
  const loadB = mode === "lane" || mode === "both" || mode === "ubo";
  const body: string[] = [];
  for (const i of rows) for (const j of cols) body.push(`var acc${i}_${j} = 0.0;`);
  for (const i of rows) body.push(`var a${i} = f32(wid.x + ${i}u) * 1e-3;`);
  for (const j of cols) body.push(`var b${j} = f32(lid + ${j}u) * 1e-3;`);
  body.push(`for (var k = 0u; k < ${k}u; k++) {`);
  // Addresses wrap inside 64 KiB: the loads hit the cache, as a GEMM's tiles mostly do.
  for (const i of rows) {
    const at = `(k * ${tm}u + ${i}u + wid.x) & 16383u`;
    if (mode === "ubo") {
      body.push(`  let ai${i} = ${at}; let av${i} = usrc[ai${i} >> 2u][ai${i} & 3u];`);
    } else if (loadA) body.push(`  let av${i} = src[${at}];`);
  }
  for (const j of cols) {
    if (loadB) body.push(`  let bv${j} = src[(k * 64u + lid * ${tn}u + ${j}u) & 16383u];`);
  }
  for (const i of rows) {
    for (const j of cols) {
      body.push(`  acc${i}_${j} += ${loadA ? "av" : "a"}${i} * ${loadB ? "bv" : "b"}${j};`);
    }
  }
  // Without loads the operands still change every step, so nothing is loop-invariant.
  if (!loadA) { for (const i of rows) body.push(`  a${i} = a${i} * 0.999 + 1e-4;`); }
  if (!loadB) { for (const j of cols) body.push(`  b${j} = b${j} * 0.999 + 1e-4;`); }
  body.push(`}`);
  const sum = rows.flatMap((i) => cols.map((j) => `acc${i}_${j}`)).join(" + ");
  return [
    `@group(0) @binding(0) var<storage, read> src: array<f32>;`,
    `@group(0) @binding(1) var<storage, read_write> dst: array<f32>;`,
    `@group(0) @binding(2) var<uniform> usrc: array<vec4f, 4096>;`,
    `@compute @workgroup_size(64)`,
    `fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u,`,
    `        @builtin(local_invocation_index) lid: u32) {`,
    ...body.map((l) => `  ${l}`),
    // src and usrc are read in every mode, so the bind group layout is the same for all.
    `  dst[gid.x] = ${sum} + src[gid.x & 16383u] + usrc[0].x * 0.0;`,
    `}`,
  ].join("\n");
}

/** `8x8,16x8` as [tm, tn] pairs; throws a UsageError naming the bad one. */
function parseBlocks(text: string): [number, number][] {
  return text.split(",").map((block) => {
    const m = /^(\d+)x(\d+)$/.exec(block);
    const [tm, tn] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (tm < 1 || tn < 1 || tm > 32 || tn > 32) {
      throw new UsageError(`--blocks takes tm x tn pairs of 1 to 32 such as 8x8, got "${block}"`);
    }
    return [tm, tn];
  });
}

const USAGE = `Usage: deno run -A bench/lab_ceiling.ts [--blocks 8x8,16x8,16x16] [--k 1024]
  [--per 4] [--reps 5] [--groups 64]  (the file's header says what it measures)`;

/** The lab as a command: 0, or the exit code of its one-line error (2 bad flags, 1 else). */
async function main(args: string[]): Promise<number> {
  try {
    await run(args);
    return 0;
  } catch (e) {
    return reportError("lab_ceiling", e);
  }
}

async function run(args: string[]): Promise<void> {
  const { values } = parseFlags({
    args,
    options: {
      help: { type: "boolean", short: "h", default: false },
      blocks: { type: "string", default: "4x4,8x8,16x8,16x16" },
      k: { type: "string", default: "1024" },
      reps: { type: "string", default: "5" },
      groups: { type: "string", default: "64" },
      per: { type: "string", default: "4" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const blocks = parseBlocks(values.blocks);
  const k = intFlag("k", values.k, 1, 1 << 20, UsageError)!;
  const reps = intFlag("reps", values.reps, 1, 1000, UsageError)!;
  const groups = intFlag("groups", values.groups, 1, 65535, UsageError)!;
  const per = intFlag("per", values.per, 1, 1024, UsageError)!;
  const { columns: [col], destroy } = await openColumns({ count: 1 });
  const device = col.device;
  const src = device.createBuffer({ size: 1 << 16, usage: GPUBufferUsage.STORAGE });
  const dst = device.createBuffer({ size: groups * 64 * 4, usage: GPUBufferUsage.STORAGE });
  const usrc = device.createBuffer({ size: 1 << 16, usage: GPUBufferUsage.UNIFORM });
  const modes: CeilingMode[] = ["none", "lane", "uniform", "both", "ubo"];
  const rows: string[] = [];
  for (const [tm, tn] of blocks) {
    const block = `${tm}x${tn}`;
    const cells: string[] = [];
    for (const mode of modes) {
      const pipeline = await col.pipeline(`ceiling ${block} ${mode}`, ceilingWgsl(tm, tn, k, mode));
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [src, dst, usrc].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const run = async () => {
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        for (let i = 0; i < per; i++) pass.dispatchWorkgroups(groups);
        pass.end();
        device.queue.submit([enc.finish()]);
        await sync(col);
      };
      await run(); // compiles
      const t: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        await run();
        t.push(performance.now() - t0);
      }
      const ms = t.sort((a, b) => a - b)[t.length >> 1];
      cells.push((2 * per * groups * 64 * k * tm * tn / ms / 1e6).toFixed(1));
    }
    rows.push(`| ${block} | ${cells.join(" | ")} |`);
  }
  console.log(`adapter: ${col.description}; GFLOP/s (multiply-adds only), median of ${reps}`);
  console.log(
    ["| block | " + modes.join(" | ") + " |", "|---|---|---|---|---|---|", ...rows].join("\n"),
  );
  destroy();
}

if (import.meta.main) Deno.exit(await main(Deno.args));
