// The peer: the same layer shapes in TensorFlow.js's WebGPU backend, on the same adapter,
// in the same process. TF.js picks its own GPUDevice (navigator.gpu, high-performance),
// which on a one-adapter machine is the adapter our columns use.
//
// Layout: TF.js convolutions, pooling and LRN are channels-last (NHWC, filters
// [kh, kw, in, out]); ours are NCHW. Each side runs its own natural layout at the same
// N, C, H, W, so the figures compare the two implementations, not a transpose.
//
// Sync: TF.js batches dispatches into one command encoder and submits every 15 dispatches
// (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE). Each timed iteration ends the open pass, submits
// (the backend's own endComputePassEncoder + submitQueue, the same calls its readback
// path makes) and awaits `device.queue.onSubmittedWorkDone()` — exactly what our side's
// `sync(column)` awaits, so both pay the same completion-wait cost and no readback.
// WEBGPU_CPU_FORWARD is turned off so small ops are never run on the CPU.
//
// LRN: tf.localResponseNormalization computes x / (bias + alpha * sum_{|j-c|<=r} x_j^2)^beta
// without dividing alpha by the window size, so the paper's alpha = 1e-4 is passed as is
// (with depthRadius 2, i.e. n = 5, bias = k = 2, beta = 0.75).

import type { PeerShape } from "./_shape.ts";
import { medianOf } from "../_time.ts";

type TF = typeof import("@tensorflow/tfjs");
type TFTensor = import("@tensorflow/tfjs").Tensor;

/** A peer workload at one shape. */
export interface PeerTask {
  /** What the peer runs, e.g. "tf.conv2d NHWC". */
  note: string;
  /**
   * One timed iteration: record the op(s) `repeat` times (default 1), submit, await the
   * queue once, free the outputs.
   */
  iterate(repeat?: number): Promise<void>;
  /** Runs once and checks the output's shape and that it is finite; throws otherwise. */
  check(): Promise<void>;
  /** Frees the inputs. */
  dispose(): void;
}

/** A benchmark peer. */
export interface Peer {
  /** e.g. "tfjs-webgpu". */
  name: string;
  /** Library version. */
  version: string;
  /** The adapter the peer's device came from. */
  adapter: string;
  /** How an iteration waits for the GPU. */
  sync: string;
  /** Layout and parameter notes for the report. */
  notes: string[];
  /** The workload for `shape`, or a string saying why the peer has none. */
  prepare(shape: PeerShape): PeerTask | string;
  /** Median of empty submit + sync round trips on the peer's device, milliseconds. */
  syncFloor(): Promise<number>;
  /** Releases the backend. */
  close(): void;
}

// The parts of tfjs-backend-webgpu's WebGPUBackend this file touches (not in its typings).
interface WebGPUBackendLike {
  device: GPUDevice & { adapterInfo?: GPUAdapterInfo };
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/**
 * Loads TF.js with its WebGPU backend and returns the peer; throws when the backend
 * cannot start (the caller reports that and runs without a peer).
 *
 * @example
 * ```ts ignore
 * const peer = await openTfjsPeer();
 * const task = peer.prepare({ kind: "lrn", dir: "forward", n: 4, c: 48, h: 55, w: 55 });
 * ```
 */
export async function openTfjsPeer(): Promise<Peer> {
  const tf: TF = await import("@tensorflow/tfjs");
  await import("@tensorflow/tfjs-backend-webgpu");
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') returned false");
  await tf.ready();
  const backend = tf.backend() as unknown as WebGPUBackendLike;
  const info = backend.device.adapterInfo;
  const sync = async () => {
    if (backend.commandEncoder) {
      backend.endComputePassEncoder();
      backend.submitQueue();
    }
    await backend.device.queue.onSubmittedWorkDone();
  };
  return {
    name: "tfjs-webgpu",
    version: tf.version.tfjs,
    adapter: info?.description || [info?.vendor, info?.architecture].filter(Boolean).join(" ") ||
      "unknown",
    sync: "endComputePassEncoder + submitQueue, then await device.queue.onSubmittedWorkDone()",
    notes: [
      "conv2d, maxPool, LRN run channels-last (NHWC, filters [kh,kw,in,out]); ours NCHW",
      "conv2d forward: tf.fused.conv2d with bias + relu (ours fuses both too)",
      "conv2d/linear backward: no ReLU mask on dY in the peer (ours fuses it), so the peer does slightly less work",
      "grouped conv (groups > 1): TF.js has no groups, so one conv per group on pre-split inputs, outputs concatenated (what a TF.js user writes)",
      "LRN: depthRadius 2, bias 2, alpha 1e-4 (TF.js does not divide alpha by n), beta 0.75",
      "conv2d backward: Conv2DBackpropInput / Conv2DBackpropFilter kernels, default flags",
      "maxpool/LRN backward: MaxPoolGrad / LRNGrad kernels given the forward's output",
      "fc layers: tf.matMul with the transposes of x·Wᵀ, dY·W, dYᵀ·x (linear forward: fused bias, + relu where the layer has one); linear backward = dY·W, dYᵀ·x and sum(dY)",
      "ReLU backward: dy * step(y) (TF.js's own Relu gradient)",
    ],
    prepare: (shape) => makeTask(tf, shape, sync),
    syncFloor: () => medianOf(sync),
    close() {
      tf.disposeVariables();
      tf.engine().reset();
    },
  };
}

type Build = { note: string; inputs: TFTensor[]; run: () => TFTensor | TFTensor[]; out: number[] };

function makeTask(tf: TF, s: PeerShape, sync: () => Promise<void>): PeerTask | string {
  const b = build(tf, s);
  if (typeof b === "string") return b;
  const once = async () => {
    const out = tf.tidy(b.run);
    await sync();
    return out;
  };
  return {
    note: b.note,
    async iterate(repeat = 1) {
      const outs: (TFTensor | TFTensor[])[] = [];
      for (let r = 0; r < repeat; r++) outs.push(tf.tidy(b.run));
      await sync();
      tf.dispose(outs.flat());
    },
    async check() {
      const out = await once();
      const first = Array.isArray(out) ? out[0] : out;
      try {
        if (first.shape.join(",") !== b.out.join(",")) {
          throw new Error(`tfjs ${b.note}: output shape [${first.shape}], want [${b.out}]`);
        }
        const v = await first.data();
        if (!v.every(Number.isFinite)) throw new Error(`tfjs ${b.note}: non-finite output`);
      } finally {
        tf.dispose(out);
      }
    },
    dispose() {
      tf.dispose(b.inputs);
    },
  };
}

function build(tf: TF, s: PeerShape): Build | string {
  const rnd = (shape: number[]) => tf.randomUniform(shape, -1, 1, "float32", 7);
  switch (s.kind) {
    case "conv2d": {
      // TF.js has no grouped convolution: G convolutions of the per-group shape on
      // pre-split tensors, outputs concatenated along channels.
      const G = s.groups, cg = s.c / G, kg = s.k / G;
      const strides: [number, number] = [s.stride, s.stride];
      const xs: TFTensor[] = [], fs: TFTensor[] = [], dys: TFTensor[] = [], bs: TFTensor[] = [];
      for (let g = 0; g < G; g++) {
        xs.push(rnd([s.n, s.h, s.w, cg]));
        fs.push(rnd([s.kh, s.kw, cg, kg]).mul(0.1));
        dys.push(rnd([s.n, s.oh, s.ow, kg]));
        bs.push(rnd([kg]));
      }
      const inputs = [...xs, ...fs, ...dys, ...bs];
      const cat = (parts: TFTensor[]) => (G === 1 ? parts[0] : tf.concat(parts, 3));
      const grouped = G === 1 ? "" : ` x${G} groups + concat`;
      if (s.dir === "forward") {
        return {
          note: `tf.fused.conv2d NHWC + bias + relu${grouped}`,
          inputs,
          run: () =>
            cat(xs.map((x, g) =>
              tf.fused.conv2d({
                x: x as never,
                filter: fs[g] as never,
                strides,
                pad: s.pad,
                bias: bs[g],
                activation: "relu",
              })
            )),
          out: [s.n, s.oh, s.ow, s.k],
        };
      }
      if (s.dir === "backwardData") {
        return {
          note: `Conv2DBackpropInput NHWC${grouped}`,
          inputs,
          run: () =>
            cat(
              dys.map((dy, g) =>
                tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: fs[g] }, {
                  strides,
                  pad: s.pad,
                  dataFormat: "NHWC",
                  inputShape: [s.n, s.h, s.w, cg],
                }) as TFTensor
              ),
            ),
          out: [s.n, s.h, s.w, s.c],
        };
      }
      return {
        note: `Conv2DBackpropFilter NHWC + bias grad sum(dY)${grouped}`,
        inputs,
        run: () => {
          const dw = cat(
            xs.map((x, g) =>
              tf.engine().runKernel("Conv2DBackpropFilter", { x, dy: dys[g] }, {
                strides,
                pad: s.pad,
                dataFormat: "NHWC",
                filterShape: [s.kh, s.kw, cg, kg],
              }) as TFTensor
            ),
          );
          return [dw, ...dys.map((dy) => tf.sum(dy, [0, 1, 2]))];
        },
        out: [s.kh, s.kw, cg, s.k],
      };
    }
    case "maxpool": {
      const x = rnd([s.n, s.h, s.w, s.c]);
      const y = tf.maxPool(x as never, s.size, s.stride, "valid");
      const dy = rnd([s.n, s.oh, s.ow, s.c]);
      if (s.dir === "forward") {
        return {
          note: "tf.maxPool NHWC",
          inputs: [x, y, dy],
          run: () => tf.maxPool(x as never, s.size, s.stride, "valid"),
          out: [s.n, s.oh, s.ow, s.c],
        };
      }
      return {
        note: "MaxPoolGrad NHWC",
        inputs: [x, y, dy],
        run: () =>
          tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: y }, {
            filterSize: s.size,
            strides: s.stride,
            pad: "valid",
          }) as TFTensor,
        out: [s.n, s.h, s.w, s.c],
      };
    }
    case "lrn": {
      const x = rnd([s.n, s.h, s.w, s.c]).mul(4);
      const lrn = (t: TFTensor) => tf.localResponseNormalization(t as never, 2, 2, 1e-4, 0.75);
      const y = lrn(x), dy = rnd([s.n, s.h, s.w, s.c]);
      if (s.dir === "forward") {
        return {
          note: "tf.localResponseNormalization NHWC",
          inputs: [x, y, dy],
          run: () => lrn(x),
          out: [s.n, s.h, s.w, s.c],
        };
      }
      return {
        note: "LRNGrad NHWC",
        inputs: [x, y, dy],
        run: () =>
          tf.engine().runKernel("LRNGrad", { x, y, dy }, {
            depthRadius: 2,
            bias: 2,
            alpha: 1e-4,
            beta: 0.75,
          }) as TFTensor,
        out: [s.n, s.h, s.w, s.c],
      };
    }
    case "gemm": {
      const x = rnd([s.m, s.k]), w = rnd([s.n, s.k]).mul(0.01), dy = rnd([s.m, s.n]);
      const bias = rnd([s.n]);
      const inputs = [x, w, dy, bias];
      if (s.dir === "forward" && s.bias) {
        const activation = s.relu ? "relu" : "linear";
        return {
          note: `tf.fused.matMul x·Wᵀ + b${s.relu ? ", relu" : ""}`,
          inputs,
          run: () => tf.fused.matMul({ a: x, b: w, transposeB: true, bias, activation }),
          out: [s.m, s.n],
        };
      }
      if (s.dir === "backward") {
        return {
          note: "tf.matMul dY·W and dYᵀ·x" + (s.bias ? ", db = sum(dY)" : ""),
          inputs,
          run: () => [
            tf.matMul(dy, w),
            tf.matMul(dy, x, true, false),
            ...(s.bias ? [tf.sum(dy, 0)] : []),
          ],
          out: [s.m, s.k],
        };
      }
      if (s.dir === "forward") {
        return {
          note: "tf.matMul x·Wᵀ",
          inputs,
          run: () => tf.matMul(x, w, false, true),
          out: [s.m, s.n],
        };
      }
      if (s.dir === "backwardData") {
        return { note: "tf.matMul dY·W", inputs, run: () => tf.matMul(dy, w), out: [s.m, s.k] };
      }
      return {
        note: s.bias ? "tf.matMul dYᵀ·x, db = sum(dY)" : "tf.matMul dYᵀ·x",
        inputs,
        run: () => s.bias ? [tf.matMul(dy, x, true, false), tf.sum(dy, 0)] : tf.matMul(dy, x, true),
        out: [s.n, s.k],
      };
    }
    case "reluBackward": {
      const y = tf.relu(rnd([s.size])), dy = rnd([s.size]);
      return {
        note: "dy * step(y)",
        inputs: [y, dy],
        run: () => tf.mul(dy, tf.step(y)),
        out: [s.size],
      };
    }
    case "dropout": {
      const x = rnd([s.size]);
      if (s.dir === "forward") {
        return {
          note: "tf.dropout(x, 0.5)",
          inputs: [x],
          run: () => tf.dropout(x, 0.5),
          out: [s.size],
        };
      }
      const mask = tf.randomUniform([s.size]).greaterEqual(0.5).cast("float32").mul(2);
      return {
        note: "dy * mask * 2",
        inputs: [x, mask],
        run: () => tf.mul(x, mask),
        out: [s.size],
      };
    }
    case "softmaxXent": {
      const logits = rnd([s.n, s.classes]).mul(3);
      const labels = tf.oneHot(
        tf.tensor1d(
          Array.from({ length: s.n }, (_, i) => (i * 7919) % s.classes),
          "int32",
        ),
        s.classes,
      ).cast("float32");
      const loss = () => tf.losses.softmaxCrossEntropy(labels, logits);
      const grad = () => tf.div(tf.sub(tf.softmax(logits), labels), s.n);
      const out = [s.n, s.classes];
      const inputs = [logits, labels];
      if (s.dir === "forward") {
        return { note: "tf.losses.softmaxCrossEntropy (mean)", inputs, run: loss, out: [] };
      }
      if (s.dir === "backward") {
        return { note: "(softmax(z) - onehot) / N", inputs, run: grad, out };
      }
      return {
        note: "dLogits, mean loss and top-1 hits as tf ops",
        inputs,
        run: () => [grad(), loss(), tf.sum(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1)))],
        out,
      };
    }
    case "sgd": {
      const w = tf.variable(rnd([s.size]).mul(0.01)), v = tf.variable(tf.zeros([s.size]));
      const g = rnd([s.size]).mul(0.01);
      const lr = 0.01, wd = 0.0005;
      return {
        note: "v = 0.9v - wd·lr·w - lr·g; w += v (tf ops + assign)",
        inputs: [w, v, g],
        run: () => {
          v.assign(tf.sub(tf.sub(tf.mul(v, 0.9), tf.mul(w, wd * lr)), tf.mul(g, lr)));
          w.assign(tf.add(w, v));
          return [w.clone()];
        },
        out: [s.size],
      };
    }
  }
}
