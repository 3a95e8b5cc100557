// Softmax cross-entropy over logits [batch, classes] with integer labels [batch].
//
//   m_b        = max_j x[b,j]                          (subtracted: exp never overflows)
//   loss[b]    = log(sum_j exp(x[b,j] - m_b)) - (x[b,label_b] - m_b)      (overwrites)
//   dLogits    = (softmax(x)[b,j] - (j == label_b)) / batch               (overwrites;
//                the gradient of the MEAN loss over the batch)
//   rank_b     = #{j : x[b,j] > x[b,label]} + #{j < label : x[b,j] == x[b,label]}
//   hits       = [#{b : rank_b < 1}, #{b : rank_b < 5}]   (top-1, top-5; overwrites)
//   softmax:     probs[b,j] = exp(x[b,j] - m_b) / sum_j exp(x[b,j] - m_b)  (overwrites)
//
// The rank counts ties at a lower index as ahead of the label, i.e. a stable sort by
// descending logit: a row of equal logits is a top-1 hit only for label 0.
//
// Labels are bound as u32 (an i32 tensor's negative values read as huge u32). The GPU
// cannot throw, so a label >= classes gives loss NaN (visible in the mean loss), no
// one-hot term in dLogits, and no hit; validate labels on the host when they are made.
//
// Layout: row-major [batch, classes]. Tiling: one workgroup per row; its threads stride
// over the classes, then tree-reduce (max and rank together, then the exp sum) in
// workgroup memory. Hits are two atomic counters, cleared before the dispatch.

import type { Column } from "./columns.ts";
import type { Encoder } from "./encoder.ts";
import type { Tensor } from "./tensor.ts";
import { constants, foldWorkgroups, requirePositiveInt, storage } from "./_wgsl.ts";

/** Static parameters of {@link SoftmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyParams {
  /** Rows (samples). */
  batch: number;
  /** Classes per row (1000 for ImageNet). */
  classes: number;
  /** Threads per row, a power of two (default 64 on software adapters, 256 on GPUs). */
  workgroupSize?: number;
}

/** What one pipeline variant computes. */
export interface SoftmaxXentVariant {
  /** "xent": loss (+ optional dLogits and hits); "softmax": probabilities only. */
  mode: "xent" | "softmax";
  /** Write dLogits (xent only). */
  grad?: boolean;
  /** Count top-1/top-5 hits (xent only). */
  hits?: boolean;
}

/** Builds the WGSL of one variant (pure; exported for tests). */
export function softmaxXentWgsl(
  batch: number,
  classes: number,
  variant: SoftmaxXentVariant,
  workgroupSize = 64,
): string {
  const xent = variant.mode === "xent";
  const grad = xent && variant.grad === true;
  const hits = xent && variant.hits === true;
  const [nx] = foldWorkgroups(batch);
  const wg = workgroupSize;
  const bindings = [storage(0, "logits", "array<f32>", "read")];
  if (xent) {
    bindings.push(storage(1, "labels", "array<u32>", "read"));
    bindings.push(storage(2, "loss", "array<f32>", "read_write"));
    if (grad) bindings.push(storage(3, "dLogits", "array<f32>", "read_write"));
    if (hits) bindings.push(storage(grad ? 4 : 3, "hits", "array<atomic<u32>>", "read_write"));
  } else {
    bindings.push(storage(1, "probs", "array<f32>", "read_write"));
  }
  const label = xent ? "labels[row]" : "CLASSES";
  return [
    constants({ BATCH: batch, CLASSES: classes, NUM_WG_X: nx, WG: wg }),
    constants({ INV_BATCH: Math.fround(1 / batch) }, "f32"),
    ...bindings,
    `var<workgroup> red: array<f32, ${wg}>;`,
    `var<workgroup> cnt: array<u32, ${wg}>;`,
    `@compute @workgroup_size(${wg})`,
    `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
    `  let row = wid.y * NUM_WG_X + wid.x;`,
    `  if (row >= BATCH) { return; }`,
    `  let base = row * CLASSES;`,
    `  let label = ${label};`,
    `  let valid = label < CLASSES;`,
    `  let xl = select(0.0, logits[base + min(label, CLASSES - 1u)], valid);`,
    `  var m = -3.402823e38;`,
    `  var c = 0u;`,
    `  for (var j = lid; j < CLASSES; j += WG) {`,
    `    let v = logits[base + j];`,
    `    m = max(m, v);`,
    `    c += u32(v > xl || (v == xl && j < label));`,
    `  }`,
    `  red[lid] = m;`,
    `  cnt[lid] = c;`,
    `  workgroupBarrier();`,
    `  for (var s = WG / 2u; s > 0u; s >>= 1u) {`,
    `    if (lid < s) {`,
    `      red[lid] = max(red[lid], red[lid + s]);`,
    `      cnt[lid] += cnt[lid + s];`,
    `    }`,
    `    workgroupBarrier();`,
    `  }`,
    `  let mx = red[0];`,
    `  let rank = cnt[0];`,
    `  workgroupBarrier();`,
    `  var sum = 0.0;`,
    `  for (var j = lid; j < CLASSES; j += WG) { sum += exp(logits[base + j] - mx); }`,
    `  red[lid] = sum;`,
    `  workgroupBarrier();`,
    `  for (var s = WG / 2u; s > 0u; s >>= 1u) {`,
    `    if (lid < s) { red[lid] += red[lid + s]; }`,
    `    workgroupBarrier();`,
    `  }`,
    `  let total = red[0];`,
    ...(xent
      ? [
        `  if (lid == 0u) {`,
        // A runtime NaN (a constant one would be a shader-creation error).
        `    let nan = bitcast<f32>(0x7fc00000u + min(label, 0u));`,
        `    loss[row] = select(nan, log(total) - (xl - mx), valid);`,
        ...(hits
          ? [
            `    if (valid) {`,
            `      atomicAdd(&hits[0], u32(rank < 1u));`,
            `      atomicAdd(&hits[1], u32(rank < 5u));`,
            `    }`,
          ]
          : []),
        `  }`,
      ]
      : []),
    ...(grad
      ? [
        `  let inv = 1.0 / total;`,
        `  for (var j = lid; j < CLASSES; j += WG) {`,
        `    let p = exp(logits[base + j] - mx) * inv;`,
        `    dLogits[base + j] = (p - select(0.0, 1.0, j == label)) * INV_BATCH;`,
        `  }`,
      ]
      : []),
    ...(!xent
      ? [
        `  let inv = 1.0 / total;`,
        `  for (var j = lid; j < CLASSES; j += WG) { probs[base + j] = exp(logits[base + j] - mx) * inv; }`,
      ]
      : []),
    `}`,
  ].join("\n");
}

type Key = "loss" | "lossGrad" | "lossHits" | "lossGradHits" | "softmax";
const VARIANTS: Record<Key, SoftmaxXentVariant> = {
  loss: { mode: "xent" },
  lossGrad: { mode: "xent", grad: true },
  lossHits: { mode: "xent", hits: true },
  lossGradHits: { mode: "xent", grad: true, hits: true },
  softmax: { mode: "softmax" },
};

/**
 * Softmax cross-entropy (loss, gradient, top-1/top-5 hits) and softmax probabilities.
 *
 * @example
 * ```ts ignore
 * const xent = await SoftmaxCrossEntropy.create(column, { batch: 128, classes: 1000 });
 * const enc = new Encoder(column);
 * xent.run(enc, { logits, labels, loss, dLogits, hits });
 * enc.submit();
 * const [top1, top5] = await hits.read();
 * ```
 */
export class SoftmaxCrossEntropy {
  /** Rows. */
  readonly batch: number;
  /** Classes per row. */
  readonly classes: number;
  #pipelines: Record<Key, GPUComputePipeline>;
  #grid: [number, number];

  private constructor(batch: number, classes: number, pipelines: Record<Key, GPUComputePipeline>) {
    this.batch = batch;
    this.classes = classes;
    this.#pipelines = pipelines;
    this.#grid = foldWorkgroups(batch);
  }

  /** Compiles (or fetches from the column's cache) the pipelines for `params`. */
  static async create(
    column: Column,
    params: SoftmaxCrossEntropyParams,
  ): Promise<SoftmaxCrossEntropy> {
    const batch = requirePositiveInt("softmaxXent", "batch", params.batch);
    const classes = requirePositiveInt("softmaxXent", "classes", params.classes);
    const wg = requirePositiveInt(
      "softmaxXent",
      "workgroupSize",
      params.workgroupSize ?? (column.profile === "gpu" ? 256 : 64),
    );
    if ((wg & (wg - 1)) !== 0) {
      throw new RangeError(`softmaxXent: workgroupSize must be a power of two, got ${wg}`);
    }
    const keys = Object.keys(VARIANTS) as Key[];
    const compiled = await Promise.all(
      keys.map((k) =>
        column.pipeline(`softmaxXent.${k}`, softmaxXentWgsl(batch, classes, VARIANTS[k], wg))
      ),
    );
    return new SoftmaxCrossEntropy(
      batch,
      classes,
      Object.fromEntries(keys.map((k, i) => [k, compiled[i]])) as Record<Key, GPUComputePipeline>,
    );
  }

  #f32(method: string, param: string, t: Tensor, shape: number[]): void {
    t.expectShape(`softmaxXent.${method}`, param, shape);
    if (t.dtype !== "f32") {
      throw new TypeError(
        `softmaxXent.${method}: ${param} (${t.label}) must be f32, got ${t.dtype}`,
      );
    }
  }

  /**
   * Per-sample loss, and optionally dLogits (of the mean loss) and [top-1, top-5] hits.
   * Overwrites loss, dLogits and hits.
   */
  run(
    enc: Encoder,
    t: { logits: Tensor; labels: Tensor; loss: Tensor; dLogits?: Tensor; hits?: Tensor },
  ): void {
    const { batch, classes } = this;
    this.#f32("run", "logits", t.logits, [batch, classes]);
    t.labels.expectShape("softmaxXent.run", "labels", [batch]);
    if (t.labels.dtype !== "i32" && t.labels.dtype !== "u32") {
      throw new TypeError(
        `softmaxXent.run: labels (${t.labels.label}) must be i32 or u32, got ${t.labels.dtype}`,
      );
    }
    this.#f32("run", "loss", t.loss, [batch]);
    if (t.dLogits) this.#f32("run", "dLogits", t.dLogits, [batch, classes]);
    if (t.hits) {
      t.hits.expectShape("softmaxXent.run", "hits", [2]);
      if (t.hits.dtype !== "u32") {
        throw new TypeError(
          `softmaxXent.run: hits (${t.hits.label}) must be u32, got ${t.hits.dtype}`,
        );
      }
      enc.clear(t.hits);
    }
    const bindings = [t.logits, t.labels, t.loss];
    if (t.dLogits) bindings.push(t.dLogits);
    if (t.hits) bindings.push(t.hits);
    const key: Key = t.dLogits
      ? (t.hits ? "lossGradHits" : "lossGrad")
      : (t.hits ? "lossHits" : "loss");
    enc.dispatch(this.#pipelines[key], bindings, this.#grid);
  }

  /** probs = softmax(logits) per row (for evaluation, e.g. 10-crop averaging). Overwrites probs. */
  softmax(enc: Encoder, t: { logits: Tensor; probs: Tensor }): void {
    this.#f32("softmax", "logits", t.logits, [this.batch, this.classes]);
    this.#f32("softmax", "probs", t.probs, [this.batch, this.classes]);
    enc.dispatch(this.#pipelines.softmax, [t.logits, t.probs], this.#grid);
  }
}
