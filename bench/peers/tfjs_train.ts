// The end-to-end peer: the same two-column AlexNet trained with TensorFlow.js's WebGPU
// backend on the same adapter, at the same batch, with the same optimizer.
//
// Structure: the stages come from the config's layer table (networkStages), and
// activations are kept as one tensor per column (NHWC, TF.js's layout), so the network
// is the paper's two columns written in tf ops. A "split" layer (conv2, conv4, conv5 in
// the paper) convolves each column's tensor on its own; a "cross" layer (conv3, fc6,
// fc7, fc8) reads the exchange, the two columns' tensors concatenated — TF.js has no
// grouped convolution, and separate convolutions + concat is the same math. conv1 sees
// the image on both. (Flattening NHWC orders features differently from our NCHW; the
// peer is timed, not compared value by value, so that does not matter.)
//
// LRN: tf.localResponseNormalization does not divide alpha by the window, so the paper's
// alpha (1e-4) is passed as is, depthRadius = (n-1)/2, bias = k. Dropout 0.5 after fc6
// and fc7 (tf.dropout), softmax cross-entropy (tf.losses.softmaxCrossEntropy, mean), and
// the paper's update with tf ops: v = 0.9 v - wd lr w - lr g; w = w + v.
//
// One step = tf.variableGrads of the loss + the update + a readback of the loss (our
// step also reads its loss back once). The input is a resident float32 batch: no upload
// or augmentation, which favours the peer slightly (our step includes both).

import { type AlexNetConfig, type ConvLayer, networkStages } from "../../model/config.ts";

type TF = typeof import("@tensorflow/tfjs");
type T = import("@tensorflow/tfjs").Tensor;
type Var = import("@tensorflow/tfjs").Variable;
type Scalar = import("@tensorflow/tfjs").Scalar;

/** A TF.js training step of one config at one batch. */
export interface TfjsTrainer {
  /** What the peer runs, for the report. */
  note: string;
  /** Runs one step (forward, backward, update, loss readback); resolves to the loss. */
  step(): Promise<number>;
  /** Frees every tensor and variable it made. */
  dispose(): void;
}

/** Loads TF.js with the WebGPU backend (throws when it does not start). */
export async function loadTfjsWebgpu(): Promise<TF> {
  const tf: TF = await import("@tensorflow/tfjs");
  await import("@tensorflow/tfjs-backend-webgpu");
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') returned false");
  await tf.ready();
  return tf;
}

/**
 * Builds the network of `cfg` for `batch` images in TF.js and returns its step.
 *
 * @example
 * ```ts ignore
 * const tf = await loadTfjsWebgpu();
 * const t = tfjsTrainer(tf, configs.tiny, 8);
 * await t.step(); // warm-up (compiles shaders)
 * const t0 = performance.now(); await t.step(); console.log(performance.now() - t0);
 * t.dispose();
 * ```
 */
export function tfjsTrainer(tf: TF, cfg: AlexNetConfig, batch: number): TfjsTrainer {
  const vars: Var[] = [];
  const moms: Var[] = [];
  const param = (shape: number[], std: number, name: string) => {
    const v = tf.variable(
      std > 0 ? tf.randomNormal(shape, 0, std, "float32", vars.length + 1) : tf.zeros(shape),
      true,
      `${name}_${vars.length}`,
    );
    vars.push(v);
    moms.push(tf.variable(tf.zeros(shape), false));
    return v;
  };
  // The network's stages, from the config's layer table; per stage and part: [w, b].
  const stages = networkStages(cfg, batch);
  const weights = new Map<string, { w: Var; b: Var }[]>();
  for (const s of stages) {
    if (s.type !== "conv" && s.type !== "fc") continue;
    weights.set(
      s.name,
      s.outShape.map((out) => {
        const o = out[1];
        const l = s.layer as ConvLayer;
        const shape = s.type === "conv"
          ? [l.kernel, l.kernel, s.inShape[1], o] // HWIO
          : [s.inShape[1], o];
        return { w: param(shape, 0.01, s.type), b: param([o], 0, `${s.type}b`) };
      }),
    );
  }
  const x = tf.randomNormal([batch, cfg.inputSize, cfg.inputSize, 3], 0, 50, "float32", 7);
  const labels = tf.oneHot(
    tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % cfg.classes), "int32"),
    cfg.classes,
  ).cast("float32");

  const loss = () => {
    const outs = new Map<string, T[]>();
    const cats = new Map<string, T>();
    const flat = (t: T) => t.rank === 2 ? t : t.reshape([batch, -1]);
    for (const s of stages) {
      if (s.type === "exchange") {
        const parts = outs.get(s.from)!;
        const to = stages.find((t) => t.name === s.to);
        const ready = to?.type === "fc" || s.to === "loss" ? parts.map(flat) : parts;
        cats.set(s.name, tf.concat(ready, ready[0].rank - 1));
        continue;
      }
      const input = s.input;
      outs.set(
        s.name,
        s.outShape.map((_, p) => {
          let h: T = input.from === "image"
            ? x
            : input.from === "exchange"
            ? cats.get(input.name)!
            : outs.get(input.name)![p];
          const l = s.layer;
          if (l.kind === "conv") {
            const { w, b } = weights.get(s.name)![p];
            h = tf.add(tf.conv2d(h as never, w as never, l.stride, l.padding), b);
          } else if (l.kind === "fc") {
            const { w, b } = weights.get(s.name)![p];
            h = tf.add(tf.matMul(flat(h), w), b);
          } else if (l.kind === "lrn") {
            h = tf.localResponseNormalization(h as never, (l.size - 1) / 2, l.k, l.alpha, l.beta);
          } else if (l.kind === "maxpool") {
            h = tf.maxPool(h as never, l.size, l.stride, "valid");
          } else if (l.kind === "avgpool") {
            // Adaptive pooling to the side it already has, or global: what the configs use.
            if (l.output === 1) h = tf.mean(h, [1, 2], true);
          } else if (l.kind === "dropout") {
            h = tf.dropout(h, l.p);
          }
          return s.relu ? tf.relu(h) : h;
        }),
      );
    }
    return tf.losses.softmaxCrossEntropy(labels, cats.get("logits")!) as Scalar;
  };

  const lr = 0.01, momentum = 0.9, wd = 0.0005;
  return {
    note: "tf ops per column (NHWC): conv2d+bias+relu, LRN (alpha not divided by n), " +
      "maxPool, concat where a layer sees both columns, matMul, dropout 0.5, " +
      "softmaxCrossEntropy; tf.variableGrads; v = 0.9v - wd·lr·w - lr·g, w += v; loss readback",
    async step() {
      const value = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss, vars);
        for (const [i, w] of vars.entries()) {
          const v = moms[i];
          v.assign(
            tf.sub(tf.sub(tf.mul(v, momentum), tf.mul(w, wd * lr)), tf.mul(grads[w.name], lr)),
          );
          w.assign(tf.add(w, v));
        }
        return value;
      });
      const out = (await value.data())[0];
      value.dispose();
      return out;
    },
    dispose() {
      tf.dispose([...vars, ...moms, x, labels]);
    },
  };
}
