// Compile-time lab: what each pipeline of a run costs to compile on this adapter.
//
//   ALEXNET_DEBUG=1 deno run -A bench/cold_start.ts --columns 1 2> shaders.txt
//   MESA_SHADER_CACHE_DISABLE=true deno run -A bench/lab_compile.ts shaders.txt [--filter gemm]
//
// reads the shaders a run printed (ALEXNET_DEBUG=1 prints each new one with its kernel
// name), then on one fresh device creates each pipeline and dispatches one workgroup of
// it on scratch buffers, timing the creation and the first dispatch apart. lavapipe
// compiles at the first dispatch, so that is where its time shows; with Mesa's shader
// cache disabled every compile is cold, as on a fresh machine. Prints one JSON line per
// shader, then the total per kernel name, largest first.

import { parseArgs } from "node:util";

/** One shader as ALEXNET_DEBUG prints it. */
export interface PrintedShader {
  /** The kernel's name (e.g. `conv2d.forward`). */
  name: string;
  /** Its WGSL. */
  code: string;
}

/** Splits ALEXNET_DEBUG's output into shaders (column 0's, or every one if `all`). */
export function printedShaders(text: string, all = false): PrintedShader[] {
  const parts = text.split(/^\/\/ ---- (.*) \(column (\d+)\) ----$/m);
  const out: PrintedShader[] = [];
  for (let i = 1; i + 2 < parts.length; i += 3) {
    if (all || parts[i + 1] === "0") out.push({ name: parts[i], code: parts[i + 2] });
  }
  return out;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { filter: { type: "string" } },
  });
  if (positionals.length !== 1) {
    console.error("usage: lab_compile.ts SHADERS.txt [--filter NAME]");
    Deno.exit(2);
  }
  const shaders = printedShaders(Deno.readTextFileSync(positionals[0]))
    .filter((s) => !values.filter || s.name.includes(values.filter));
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("lab_compile: no WebGPU adapter");
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const totals = new Map<string, { count: number; ms: number }>();
  for (const [i, s] of shaders.entries()) {
    const module = device.createShaderModule({ label: s.name, code: s.code });
    const t0 = performance.now();
    const pipeline = await device.createComputePipelineAsync({
      label: s.name,
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const t1 = performance.now();
    // Scratch buffers for every binding: out-of-range accesses are clamped by WebGPU.
    const entries: GPUBindGroupEntry[] = [];
    for (const m of s.code.matchAll(/@binding\((\d+)\)\s*var<(storage|uniform)[^>]*>/g)) {
      const uniform = m[2] === "uniform";
      const buffer = device.createBuffer({
        size: uniform ? 256 : 1 << 16,
        usage: uniform ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE,
      });
      entries.push({ binding: Number(m[1]), resource: { buffer } });
    }
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }),
    );
    pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const t2 = performance.now();
    const row = {
      i,
      name: s.name,
      chars: s.code.length,
      createMs: Math.round(t1 - t0),
      firstDispatchMs: Math.round(t2 - t1),
    };
    console.log(JSON.stringify(row));
    const t = totals.get(s.name) ?? { count: 0, ms: 0 };
    totals.set(s.name, { count: t.count + 1, ms: t.ms + row.createMs + row.firstDispatchMs });
  }
  const sorted = [...totals].sort((a, b) => b[1].ms - a[1].ms);
  const all = sorted.reduce((sum, [, t]) => sum + t.ms, 0);
  for (const [name, t] of sorted) {
    console.log(`${name.padEnd(28)} ${String(t.count).padStart(3)}  ${(t.ms / 1000).toFixed(2)} s`);
  }
  console.log(
    `${"total".padEnd(28)} ${String(shaders.length).padStart(3)}  ${(all / 1000).toFixed(2)} s`,
  );
  device.destroy();
}
