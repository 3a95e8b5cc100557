// A trained network ready to classify stored-size images: what `deno task predict` and
// the web page share. It reads a checkpoint's weights and its state.json (class names,
// the training mean image and input scale), builds an inference-only network, and
// ranks classes by the centre-crop (or 10-crop averaged) softmax. Images arrive already
// decoded to the config's stored S x S RGB square: predict decodes files with sharp
// (data/decode.ts), the page with the browser's decoder.

import { CheckpointError } from "../errors.ts";
import type { Column } from "../kernels/columns.ts";
import { AlexNet } from "./alexnet.ts";
import { type CheckpointState, decodeCheckpointState } from "./checkpoint_format.ts";
import { classify } from "./classify.ts";
import { parameterShapes } from "./config.ts";
import { decodeSafetensors } from "./safetensors.ts";
import { TrainStep } from "./step.ts";

/** One class of a ranking. */
export interface RankedClass {
  /** Class index. */
  label: number;
  /** Class name (state.json's `classes`, or "class N"). */
  name: string;
  /** Softmax probability. */
  probability: number;
}

/**
 * The indices of the `k` largest entries of a probability row, best first (ties: lower
 * index first).
 *
 * @example
 * ```ts
 * import { topK } from "./classifier.ts";
 * topK([0.1, 0.5, 0.2, 0.5], 3); // [1, 3, 2]
 * ```
 */
export function topK(probs: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i);
  idx.sort((a, b) => probs[b] - probs[a] || a - b);
  return idx.slice(0, k);
}

/**
 * Decodes what inference needs of a checkpoint — state.json and model.safetensors,
 * without the optimizer's file — with the same checks as `decodeCheckpoint`: the state
 * parses and its config is valid, the weights belong to the same save, hold exactly the
 * config's tensors with their shapes, and are finite. Errors are CheckpointErrors
 * naming `where` and the problem.
 *
 * @example
 * ```ts ignore
 * const get = async (f: string) => new Uint8Array(await (await fetch(`ck/${f}`)).arrayBuffer());
 * const { weights, state } = decodeWeights({
 *   model: await get("model.safetensors"),
 *   state: await get("state.json"),
 * }, "ck");
 * ```
 */
export function decodeWeights(
  files: { model: Uint8Array; state: Uint8Array },
  where = "checkpoint",
): { weights: Map<string, Float32Array>; state: CheckpointState } {
  const { id, state } = decodeCheckpointState(files.state, where);
  const file = `${where}/model.safetensors`;
  const bad = (message: string) => new CheckpointError(`${file}: ${message}`, where);
  let contents;
  try {
    contents = decodeSafetensors(files.model, file);
  } catch (e) {
    throw new CheckpointError((e as Error).message, where, { cause: e });
  }
  const saved = contents.metadata["alexnet.checkpoint"];
  if (saved !== id) {
    throw bad(
      `belongs to save ${saved ?? "(none)"}, but state.json is save ${id} (files of ` +
        `different checkpoints)`,
    );
  }
  const weights = new Map<string, Float32Array>();
  const shapes = parameterShapes(state.config);
  for (const { name, shape } of shapes) {
    const t = contents.tensors.get(name);
    if (!t) throw bad(`missing tensor "${name}" (config ${state.config.name})`);
    if (!(t.data instanceof Float32Array)) throw bad(`"${name}" is not F32`);
    if (t.shape.join() !== shape.join()) {
      throw bad(
        `tensor "${name}" has shape [${t.shape}], config ${state.config.name} needs [${shape}]`,
      );
    }
    const at = t.data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) throw bad(`"${name}" holds a non-finite value (${t.data[at]} at index ${at})`);
    weights.set(name, t.data);
  }
  const known = new Set(shapes.map((s) => s.name));
  const extra = [...contents.tensors.keys()].find((k) => !known.has(k));
  if (extra) {
    throw bad(`unexpected tensor "${extra}" (config ${state.config.name} has no such parameter)`);
  }
  return { weights, state };
}

/** Options of {@link Classifier.create}. */
export interface ClassifierOptions {
  /** Parameters by PyTorch name (a checkpoint's `weights`). */
  weights: ReadonlyMap<string, Float32Array>;
  /** The checkpoint's state: `config`, `input` (mean, inputScale), optional `classes`. */
  state: CheckpointState;
  /** Columns opened by the caller (kept open by `dispose()`). */
  columns: readonly Column[];
  /** Images per GPU pass (default 16). */
  batch?: number;
  /** Names the checkpoint in errors. */
  where?: string;
}

/**
 * An inference-only network with a checkpoint's weights, ranking the classes of stored
 * S x S RGB images.
 *
 * @example
 * ```ts ignore
 * const { columns } = await openColumns({ count: 1 });
 * const c = await Classifier.create({ ...decodeWeights(files), columns });
 * const [ranked] = await c.rank([rgb], { top: 5 }); // rgb: S * S * 3 bytes, HWC
 * console.log(ranked[0].name, ranked[0].probability);
 * ```
 */
export class Classifier {
  /** The network. */
  readonly net: AlexNet;
  /** Class names, by label. */
  readonly classes: readonly string[];
  /** Stored image side S: every image is S x S x 3 bytes. */
  readonly size: number;
  #step: TrainStep;

  private constructor(net: AlexNet, step: TrainStep, classes: readonly string[]) {
    this.net = net;
    this.#step = step;
    this.classes = classes;
    this.size = net.config.storedSize;
  }

  /** Builds the network and uploads the weights and the mean image. */
  static async create(o: ClassifierOptions): Promise<Classifier> {
    const cfg = o.state.config, where = o.where ?? "checkpoint";
    const S = cfg.storedSize;
    const input = o.state.input as
      | { mean?: number[]; inputScale?: number | number[] }
      | undefined;
    // The mean image [3, S, S], or one mean per channel (an imported torchvision model).
    const mean = !Array.isArray(input?.mean)
      ? undefined
      : input.mean.length === 3
      ? Float32Array.from({ length: 3 * S * S }, (_, i) => input.mean![Math.floor(i / (S * S))])
      : input.mean.length === 3 * S * S
      ? Float32Array.from(input.mean)
      : undefined;
    if (!mean) {
      throw new CheckpointError(
        `${where}: state.json has no input.mean of 3 x ${S} x ${S} (or 3) values`,
        where,
      );
    }
    const names = o.state.classes as string[] | undefined;
    const classes = Array.isArray(names) && names.length === cfg.classes
      ? names
      : Array.from({ length: cfg.classes }, (_, i) => `class ${i}`);
    const batch = o.batch ?? 16;
    // Inference only: no gradients, momentum or backward buffers.
    const net = await AlexNet.create({ config: cfg, batch, columns: o.columns, inference: true });
    try {
      net.writeParameters(o.weights);
      const step = await TrainStep.create(net, {
        mean,
        inputScale: input?.inputScale ?? 1,
      });
      return new Classifier(net, step, classes);
    } catch (e) {
      net.dispose();
      throw e;
    }
  }

  /** Class probabilities of each image (S x S x 3 bytes, HWC), one row per image. */
  async probabilities(
    images: readonly Uint8Array[],
    opts: { tenCrop?: boolean } = {},
  ): Promise<Float32Array[]> {
    const S = this.size, K = this.classes.length, n = this.net.batch;
    images.forEach((im, i) => {
      if (im.length !== S * S * 3) {
        throw new RangeError(
          `Classifier: image ${i} must be ${S}x${S}x3 = ${S * S * 3} bytes, got ${im.length}`,
        );
      }
    });
    const out: Float32Array[] = [];
    for (let i = 0; i < images.length; i += n) {
      const chunk = images.slice(i, i + n);
      const packed = new Uint8Array(chunk.length * S * S * 3);
      chunk.forEach((im, j) => packed.set(im, j * S * S * 3));
      const probs = await classify(this.#step, packed, chunk.length, opts);
      chunk.forEach((_, j) => out.push(probs.slice(j * K, (j + 1) * K)));
    }
    return out;
  }

  /** The `top` (default 5) most probable classes of each image, best first. */
  async rank(
    images: readonly Uint8Array[],
    opts: { tenCrop?: boolean; top?: number } = {},
  ): Promise<RankedClass[][]> {
    const rows = await this.probabilities(images, opts);
    const k = Math.min(opts.top ?? 5, this.classes.length);
    return rows.map((row) =>
      topK(row, k).map((label) => ({ label, name: this.classes[label], probability: row[label] }))
    );
  }

  /** Releases the network (the columns stay open). */
  dispose(): void {
    this.#step.dispose();
    this.net.dispose();
  }
}
