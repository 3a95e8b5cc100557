// Kernel lab for the GEMM core (llm.c's dev/cuda style): for each paper conv layer and
// direction, check our output against the CPU reference, then time ours and TF.js's
// WebGPU backend the same way in the same process and print GFLOP/s and the ratio.
//
// Timing is amortised: one sample records `--per` runs (default 8) and waits once
// (ours: one Encoder + sync; TF.js: `per` op calls + one onSubmittedWorkDone), so the
// ~12 ms completion poll of Deno's WebGPU does not swamp small layers. A figure is the
// median of `--reps` samples (the 2 cores are shared; medians resist other jobs).
//
//   deno run -A bench/lab_gemm.ts [--batch 4] [--layers conv2,conv3] [--dirs f,d,w]
//     [--tiles '[{"wgN":16,"wgM":1,"tm":8,"tn":8,"tk":0}]'] [--per 8] [--reps 5]
//     [--no-tfjs] [--no-check] [--gemm 512] [--cpu] [--algos direct,auto,w2,w4]
//     [--config tiny|small|paper] [--torch]
//
// --cpu times by this process's CPU time instead of wall time: other jobs on the shared
// cores then cost us less noise (use it to rank tiles; report wall time against TF.js).
// Without --tiles each direction uses the profile's per-direction default. --config
// times a built-in config's per-column conv layers (as a training step runs them, at
// --batch) instead of the paper's layer table. --torch also times PyTorch on the CPU at
// the same shapes (bench/peers/torch_conv_layers.py, Debian's /usr/bin/python3 with
// python3-torch) and prints its GFLOP/s and ours / its speed per direction.

import { AlexNetError, reportError, UsageError } from "../errors.ts";
import { intFlag, parseFlags } from "../flags.ts";
import { type Column, openColumns } from "../kernels/columns.ts";
import { Conv2d, type Conv2dParams } from "../kernels/conv2d.ts";
import { Encoder, sync } from "../kernels/encoder.ts";
import { DEFAULT_TILES, Gemm, type GemmTile } from "../kernels/gemm.ts";
import { Tensor } from "../kernels/tensor.ts";
import { assertClose } from "../reference/assert.ts";
import { uniform } from "../reference/rand.ts";
import {
  conv2dBackwardDataRef,
  conv2dBackwardWeightsRef,
  conv2dForwardRef,
  maskGrad,
} from "../reference/conv2d.ts";
import { paperConvLayers } from "./cases/conv2d.ts";
import { configFor, type ConfigName } from "../model/config.ts";
import { type LayerStage, networkStages } from "../model/network.ts";
import { convParams } from "../model/plan.ts";

/** A config's conv layers as column 0 runs them, by stage name. */
function configConvLayers(name: ConfigName, batch: number): Record<string, Conv2dParams> {
  const stages = networkStages(configFor(name), batch);
  const convs = stages.filter((s): s is LayerStage => s.type === "conv");
  return Object.fromEntries(convs.map((s) => [s.name, convParams(s, 0)]));
}

type Dir = "f" | "d" | "w";
const DIR_NAMES: Record<Dir, "forward" | "backwardData" | "backwardWeights"> = {
  f: "forward",
  d: "backwardData",
  w: "backwardWeights",
};

/** This process's user + system CPU milliseconds (Linux /proc; lavapipe's threads are ours). */
function cpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
}

/** Set by --cpu: time by CPU milliseconds instead of wall (steadier on a shared machine). */
let useCpu = false;

/** Median milliseconds per run: `reps` samples of `per` runs recorded, then one wait. */
async function timeAmortised(
  record: () => void,
  wait: () => Promise<void>,
  per: number,
  reps: number,
): Promise<number> {
  const t: number[] = [];
  const now = () => useCpu ? cpuMs() : performance.now();
  for (let r = 0; r <= reps; r++) {
    const t0 = now();
    for (let i = 0; i < per; i++) record();
    await wait();
    if (r > 0) t.push((now() - t0) / per); // sample 0 warms up / compiles
  }
  return t.sort((a, b) => a - b)[t.length >> 1];
}

type TF = typeof import("@tensorflow/tfjs");

/** TF.js's WebGPU backend with an explicit flush-and-wait (see bench/peers/tfjs.ts). */
async function openTfjs(): Promise<{ tf: TF; wait: () => Promise<void> }> {
  const tf: TF = await import("@tensorflow/tfjs");
  await import("@tensorflow/tfjs-backend-webgpu");
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') failed");
  await tf.ready();
  const be = tf.backend() as unknown as {
    device: GPUDevice;
    commandEncoder: GPUCommandEncoder | null;
    endComputePassEncoder(): void;
    submitQueue(): void;
  };
  const wait = async () => {
    if (be.commandEncoder) {
      be.endComputePassEncoder();
      be.submitQueue();
    }
    await be.device.queue.onSubmittedWorkDone();
  };
  return { tf, wait };
}

/** TF.js ms per run of `dir` at `p` (NHWC, its natural layout). */
async function timeTfjs(
  t: { tf: TF; wait: () => Promise<void> },
  p: Conv2dParams,
  oh: number,
  dir: Dir,
  per: number,
  reps: number,
): Promise<number> {
  const { tf } = t;
  const k = p.kernel as number, s = p.stride as number ?? 1, pad = p.padding as number ?? 0;
  const x = tf.randomUniform([
    p.batch,
    p.height,
    p.width,
    p.inChannels,
  ]) as import("@tensorflow/tfjs").Tensor4D;
  const f = tf.randomUniform([k, k, p.inChannels, p.outChannels]) as typeof x;
  const dy = tf.randomUniform([p.batch, oh, oh, p.outChannels]) as typeof x;
  const strides: [number, number] = [s, s];
  const run = (): import("@tensorflow/tfjs").Tensor => {
    if (dir === "f") return tf.conv2d(x, f, strides, pad);
    if (dir === "d") {
      return tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: f }, {
        strides,
        pad,
        dataFormat: "NHWC",
        inputShape: x.shape,
      }) as typeof x;
    }
    return tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
      strides,
      pad,
      dataFormat: "NHWC",
      filterShape: f.shape,
    }) as typeof x;
  };
  const outs: import("@tensorflow/tfjs").Tensor[] = [];
  const ms = await timeAmortised(
    () => outs.push(run()),
    async () => {
      await t.wait();
      tf.dispose(outs.splice(0));
    },
    per,
    reps,
  );
  tf.dispose([x, f, dy]);
  return ms;
}

/** PyTorch's ms per call for each layer and direction (bench/peers/torch_conv_layers.py). */
async function timeTorch(
  layers: Record<string, Conv2dParams>,
  per: number,
  reps: number,
): Promise<Record<string, Record<(typeof DIR_NAMES)[Dir], number>>> {
  const shapes = Object.fromEntries(
    Object.entries(layers).map(([name, p]) => [name, {
      batch: p.batch,
      inChannels: p.inChannels,
      size: p.height,
      outChannels: p.outChannels,
      kernel: p.kernel,
      stride: p.stride ?? 1,
      padding: p.padding ?? 0,
      groups: p.groups ?? 1,
    }]),
  );
  const script = new URL("./peers/torch_conv_layers.py", import.meta.url).pathname;
  const child = new Deno.Command("/usr/bin/python3", {
    args: [script, "--per", String(per), "--reps", String(reps)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(shapes)));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    const last = new TextDecoder().decode(stderr).trim().split("\n").at(-1);
    throw new AlexNetError(`torch_conv_layers.py failed (exit ${code}): ${last}`);
  }
  return JSON.parse(new TextDecoder().decode(stdout)).layers;
}

/** max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return e / m;
}

/** Runs all three directions once and compares them with the CPU reference. */
async function check(col: Column, conv: Conv2d, dirs: Dir[]): Promise<void> {
  const g = conv.params;
  const xs = [g.batch, g.inChannels, g.height, g.width];
  const ws = [g.outChannels, g.inChannels / g.groups, g.kh, g.kw];
  const ys = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  const n = (s: number[]) => s.reduce((a, b) => a * b);
  const xv = uniform(n(xs), 1), wv = uniform(n(ws), 2, -0.1, 0.1);
  const bv = uniform(g.outChannels, 3, -0.1, 0.1), gv = uniform(n(ys), 4);
  using x = Tensor.from(col, xv, xs, "x");
  using w = Tensor.from(col, wv, ws, "w");
  using b = Tensor.from(col, bv, [g.outChannels], "b");
  using y = Tensor.empty(col, ys, "y");
  using dY = Tensor.from(col, gv, ys, "dY");
  using dX = Tensor.empty(col, xs, "dX");
  using dW = Tensor.empty(col, ws, "dW");
  using db = Tensor.empty(col, [g.outChannels], "db");
  const enc = new Encoder(col, "lab check");
  conv.forward(enc, { x, w, b, y });
  if (dirs.includes("d")) conv.backwardData(enc, { w, y, dY, dX });
  if (dirs.includes("w")) conv.backwardWeights(enc, { x, y, dY, dW, db });
  enc.submit();
  const s = { ...g };
  const yGpu = await y.read();
  const yRef = conv2dForwardRef(s, xv, wv, bv, g.relu);
  assertClose(yGpu, yRef, { shape: ys, what: "y" });
  const errs = [`y ${relErr(yGpu, yRef).toExponential(1)}`];
  const gm = maskGrad(gv, g.relu ? yGpu : null);
  if (dirs.includes("d")) {
    const dxGpu = await dX.read(), dxRef = conv2dBackwardDataRef(s, wv, gm);
    assertClose(dxGpu, dxRef, { rel: 1e-3, what: "dX" });
    errs.push(`dX ${relErr(dxGpu, dxRef).toExponential(1)}`);
  }
  console.log(`  max error / max |ref|: ${errs.join(", ")}`);
  if (dirs.includes("w")) {
    const r = conv2dBackwardWeightsRef(s, xv, gm);
    assertClose(await dW.read(), r.dW, { rel: 1e-3, what: "dW" });
    assertClose(await db.read(), r.db, { rel: 1e-3, what: "db" });
  }
}

/** The header's usage lines, for --help. */
const USAGE =
  `Usage: deno run -A bench/lab_gemm.ts [--batch 4] [--layers conv2,conv3] [--dirs f,d,w]
  [--tiles '[{"wgN":16,"wgM":1,"tm":8,"tn":8,"tk":0}]'] [--per 8] [--reps 5] [--no-tfjs]
  [--no-check] [--gemm 512] [--cpu] [--algos direct,auto,w2,w4] [--config tiny|small|paper]
  [--torch]  (the file's header says what each does)`;

/** The lab as a command: 0, or the exit code of its one-line error (2 bad flags, 1 else). */
async function main(args: string[]): Promise<number> {
  try {
    await run(args);
    return 0;
  } catch (e) {
    return reportError("lab_gemm", e);
  }
}

async function run(args: string[]): Promise<void> {
  const { values } = parseFlags({
    args,
    options: {
      help: { type: "boolean", short: "h", default: false },
      batch: { type: "string", default: "4" },
      layers: { type: "string", default: "conv1,conv2,conv3,conv4,conv5" },
      dirs: { type: "string", default: "f,d,w" },
      tiles: { type: "string" },
      per: { type: "string", default: "8" },
      reps: { type: "string", default: "5" },
      "no-tfjs": { type: "boolean", default: false },
      "no-check": { type: "boolean", default: false },
      gemm: { type: "string" },
      cpu: { type: "boolean", default: false },
      "no-relu": { type: "boolean", default: false },
      algos: { type: "string", default: "auto" },
      config: { type: "string" },
      torch: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const batch = intFlag("batch", values.batch, 1, 4096, UsageError)!;
  const per = intFlag("per", values.per, 1, 1024, UsageError)!;
  const reps = intFlag("reps", values.reps, 1, 1000, UsageError)!;
  const gemmSize = intFlag("gemm", values.gemm, 1, 8192, UsageError);
  const allDirs = values.dirs.split(",") as Dir[];
  for (const d of allDirs) {
    if (!(d in DIR_NAMES)) throw new UsageError(`--dirs takes f, d and w, got "${d}"`);
  }
  if (values.config !== undefined && !["tiny", "small", "paper"].includes(values.config)) {
    throw new UsageError(`--config must be tiny, small or paper, got "${values.config}"`);
  }
  let tiles: (Partial<GemmTile> | undefined)[] = [undefined];
  if (values.tiles !== undefined) {
    try {
      tiles = JSON.parse(values.tiles);
    } catch {
      throw new UsageError(`--tiles must be a JSON array of tiles, got ${values.tiles}`);
    }
    if (!Array.isArray(tiles)) throw new UsageError(`--tiles must be a JSON array of tiles`);
  }
  useCpu = values.cpu;
  const convs = values.config
    ? configConvLayers(values.config as ConfigName, batch)
    : paperConvLayers(batch);
  const layerNames = values.layers.split(",").filter(Boolean);
  for (const name of layerNames) {
    if (!convs[name]) {
      throw new UsageError(
        `--layers: no layer ${name}; the layers are ${Object.keys(convs).join(", ")}`,
      );
    }
  }
  const { columns: [col], destroy } = await openColumns({ count: 1 });
  const wait = () => sync(col);
  if (gemmSize !== undefined) {
    const n = gemmSize;
    for (const tile of tiles) {
      const g = await Gemm.create(col, { M: n, N: n, K: n, tile });
      using a = Tensor.zeros(col, [n, n], "a");
      using b = Tensor.zeros(col, [n, n], "b");
      using c = Tensor.zeros(col, [n, n], "c");
      let enc: Encoder | null = null;
      const ms = await timeAmortised(
        () => g.run(enc ??= new Encoder(col, "lab"), { a, b, c }),
        () => {
          enc!.submit();
          enc = null;
          return wait();
        },
        per,
        reps,
      );
      const t = JSON.stringify(tile ?? DEFAULT_TILES[col.profile]);
      console.log(`gemm ${n}^3 ${t}: ${(2 * n ** 3 / ms / 1e6).toFixed(2)} GFLOP/s`);
    }
  }
  const tfjs = values["no-tfjs"] ? null : await openTfjs();
  const torch = values.torch
    ? await timeTorch(Object.fromEntries(layerNames.map((n) => [n, convs[n]])), per, reps)
    : null;
  const rows: string[] = [];
  for (const name of layerNames) {
    const p = convs[name];
    // A layer that reads the image (conv1) never computes its input gradient.
    const dirs = p.inputGrad === false ? allDirs.filter((d) => d !== "d") : allDirs;
    const peer: Partial<Record<Dir, number>> = {};
    for (const tile of tiles) {
      for (const algo of values.algos.split(",")) {
        // "direct", "auto", or "w<m>": Winograd F(m x m, r x r).
        const wm = /^w(\d)$/.exec(algo);
        const conv = await Conv2d.create(col, {
          ...p,
          algorithm: wm ? "winograd" : algo as Conv2dParams["algorithm"],
          ...(wm ? { winogradTile: Number(wm[1]) } : {}),
          relu: !values["no-relu"],
          // An entry naming directions is a per-direction choice; otherwise it sets all three.
          ...(tile && ("forward" in tile || "backwardData" in tile || "backwardWeights" in tile)
            ? { tiles: tile as Conv2dParams["tiles"] }
            : { tile }),
        });
        if (!values["no-check"]) await check(col, conv, dirs);
        const g = conv.params;
        const flops = 2 * g.batch * g.outChannels * g.outHeight * g.outWidth *
          (g.inChannels / g.groups) * g.kh * g.kw;
        using x = Tensor.from(col, uniform(g.batch * g.inChannels * g.height * g.width, 1), [
          g.batch,
          g.inChannels,
          g.height,
          g.width,
        ], "x");
        using w = Tensor.zeros(col, [g.outChannels, g.inChannels / g.groups, g.kh, g.kw], "w");
        using b = Tensor.from(col, uniform(g.outChannels, 3), [g.outChannels], "b");
        using y = Tensor.zeros(col, [g.batch, g.outChannels, g.outHeight, g.outWidth], "y");
        using dY = Tensor.from(col, uniform(y.size, 4), y.shape, "dY");
        using dX = Tensor.zeros(col, x.shape, "dX");
        using dW = Tensor.zeros(col, w.shape, "dW");
        using db = Tensor.zeros(col, b.shape, "db");
        const e0 = new Encoder(col, "lab y");
        conv.forward(e0, { x, w, b, y }); // a real ReLU mask for the backward directions
        e0.submit();
        const record: Record<Dir, (e: Encoder) => void> = {
          f: (e) => conv.forward(e, { x, w, b, y }),
          d: (e) => conv.backwardData(e, { w, y, dY, dX }),
          w: (e) => conv.backwardWeights(e, { x, y, dY, dW, db }),
        };
        const out: string[] = [];
        for (const d of dirs) {
          let enc: Encoder | null = null;
          const ms = await timeAmortised(
            () => record[d](enc ??= new Encoder(col, "lab")),
            () => {
              enc!.submit();
              enc = null;
              return wait();
            },
            per,
            reps,
          );
          const ours = flops / ms / 1e6;
          if (tfjs && peer[d] === undefined) {
            peer[d] = flops / (await timeTfjs(tfjs, p, g.outHeight, d, per, reps)) / 1e6;
          }
          const ratio = peer[d]
            ? ` tfjs ${peer[d]!.toFixed(2)} x${(ours / peer[d]!).toFixed(2)}`
            : "";
          const torchMs = torch?.[name][DIR_NAMES[d]];
          const pt = torchMs ? flops / torchMs / 1e6 : null;
          const vsTorch = pt ? ` torch ${pt.toFixed(1)} x${(ours / pt).toFixed(2)}` : "";
          out.push(`${d} ${ours.toFixed(2)}${ratio}${vsTorch}`);
          rows.push(
            `| ${name} | ${DIR_NAMES[d]} | ${ours.toFixed(2)} | ${peer[d]?.toFixed(2) ?? "-"} | ` +
              `${peer[d] ? (ours / peer[d]!).toFixed(2) : "-"} | ${pt?.toFixed(1) ?? "-"} | ` +
              `${pt ? (ours / pt).toFixed(2) : "-"} |`,
          );
        }
        console.log(
          `${name} N=${g.batch} ${algo} ${tile ? JSON.stringify(tile) : "default"}: ` +
            out.join("  "),
        );
      }
    }
  }
  console.log(
    [
      "| layer | direction | ours GFLOP/s | tfjs GFLOP/s | ours/tfjs | torch GFLOP/s | ours/torch |",
      "|---|---|---|---|---|---|---|",
      ...rows,
    ].join("\n"),
  );
  destroy();
}

if (import.meta.main) Deno.exit(await main(Deno.args));
