// The end-to-end peer: the same two-column AlexNet trained with TensorFlow.js's WebGPU
// backend on the same adapter, at the same batch, with the same optimizer.
//
// Structure: activations are kept as one tensor per column (NHWC, TF.js's layout), so
// the network is the paper's two columns written in tf ops. A layer whose columns see
// only their own half (conv2, conv4, conv5 in the paper: groups 2) convolves each
// column's tensor on its own; a layer that sees both (conv3, fc6, fc7, fc8) first
// concatenates the two columns' tensors — TF.js has no grouped convolution, and
// separate convolutions + concat is the same math. conv1 sees the image on both.
//
// LRN: tf.localResponseNormalization does not divide alpha by the window, so the paper's
// alpha (1e-4) is passed as is, depthRadius = (n-1)/2, bias = k. Dropout 0.5 after fc6
// and fc7 (tf.dropout), softmax cross-entropy (tf.losses.softmaxCrossEntropy, mean), and
// the paper's update with tf ops: v = 0.9 v - wd lr w - lr g; w = w + v.
//
// One step = tf.variableGrads of the loss + the update + a readback of the loss (our
// step also reads its loss back once). The input is a resident float32 batch: no upload
// or augmentation, which favours the peer slightly (our step includes both).

import type { AlexNetConfig } from "../../model/config.ts";

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

function halves(n: number): [number, number] {
  return [Math.ceil(n / 2), Math.floor(n / 2)];
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
  // Per layer and column: [weight, bias].
  type Conv = { w: Var[]; b: Var[]; spec: AlexNetConfig["conv"][number] };
  const convs: Conv[] = [];
  let inC: number = cfg.inChannels, side = cfg.inputSize;
  cfg.conv.forEach((spec, i) => {
    // Input channels one column's conv sees: the whole previous layer (conv1, groups 1)
    // or its own half (groups 2).
    const cin = i === 0 || spec.groups === 1 ? inC : inC / 2;
    const w = [0, 1].map(() => param([spec.kernel, spec.kernel, cin, spec.out / 2], 0.01, "w"));
    const b = [0, 1].map(() => param([spec.out / 2], 0, "b"));
    convs.push({ w, b, spec });
    inC = spec.out;
    side = Math.floor((side + 2 * spec.padding - spec.kernel) / spec.stride) + 1;
    if (spec.pool) side = Math.floor((side - cfg.pool.size) / cfg.pool.stride) + 1;
  });
  const fcs: { w: Var[]; b: Var[] }[] = [];
  let features = inC * side * side;
  for (const out of [...cfg.fc.map((f) => [f / 2, f / 2]), halves(cfg.classes)]) {
    fcs.push({
      w: out.map((o) => param([features, o], 0.01, "fc")),
      b: out.map((o) => param([o], 0, "fcb")),
    });
    features = out[0] + out[1];
  }
  const x = tf.randomNormal([batch, cfg.inputSize, cfg.inputSize, 3], 0, 50, "float32", 7);
  const labels = tf.oneHot(
    tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % cfg.classes), "int32"),
    cfg.classes,
  ).cast("float32");
  const { size, alpha, beta, k } = cfg.lrn;
  const radius = (size - 1) / 2;

  const loss = () => {
    let cols: T[] = [x, x];
    convs.forEach(({ w, b, spec }, i) => {
      const input = i > 0 && spec.groups === 1 ? tf.concat(cols, 3) : null;
      cols = [0, 1].map((c) => {
        let y: T = tf.relu(
          tf.add(
            tf.conv2d((input ?? cols[c]) as never, w[c] as never, spec.stride, spec.padding),
            b[c],
          ),
        );
        if (spec.lrn) y = tf.localResponseNormalization(y as never, radius, k, alpha, beta);
        if (spec.pool) y = tf.maxPool(y as never, cfg.pool.size, cfg.pool.stride, "valid");
        return y;
      });
    });
    cols = cols.map((c) => c.reshape([batch, -1]));
    fcs.forEach(({ w, b }, i) => {
      const input = tf.concat(cols, 1);
      const last = i === fcs.length - 1;
      cols = [0, 1].map((c) => {
        const y = tf.add(tf.matMul(input, w[c]), b[c]);
        return last ? y : tf.dropout(tf.relu(y), cfg.dropout);
      });
    });
    return tf.losses.softmaxCrossEntropy(labels, tf.concat(cols, 1)) as Scalar;
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
