// Parameter initialization, seeded and in whole-network PyTorch shapes.
//
// "paper" (default), section 5 of the paper: "We initialized the weights in each layer
// from a zero-mean Gaussian distribution with standard deviation 0.01. We initialized
// the neuron biases in the second, fourth, and fifth convolutional layers, as well as
// in the fully-connected hidden layers, with the constant 1. ... We initialized the
// neuron biases in the remaining layers with the constant 0."
// Our reading: the fully-connected HIDDEN layers are fc6 and fc7; fc8 is the output
// layer, so its bias is 0 (a constant bias on every logit would not change the softmax
// anyway). Biases 1: conv2, conv4, conv5, fc6, fc7. Biases 0: conv1, conv3, fc8. Which
// layers get 1 is data: each conv or fc entry's `initBias` in the config's layer table.
//
// "kaiming": weights N(0, 2 / fan_in) with fan_in = (in / groups) * kh * kw (He et al.
// 2015), biases 0. N(0, 0.01) makes activations shrink layer by layer when widths are
// small (tiny: conv1 fan-in 75, so each layer scales by ~0.01 * sqrt(fan_in) < 1); the
// paper's widths are what make 0.01 trainable. Use it when a small config will not
// start learning.
//
// Draws happen in parameterShapes order from one Rng stream ("init"), so the same seed
// gives the same weights on every platform.

import { type AlexNetConfig, parameterShapes, sizeOf } from "./config.ts";
import { Rng } from "./rng.ts";

/** Initialization scheme. */
export type InitScheme = "paper" | "kaiming";

/** Options of {@link initParameters}. */
export interface InitOptions {
  /** "paper" (default) or "kaiming". */
  scheme?: InitScheme;
  /** Overrides the weights' standard deviation ("paper": default 0.01). */
  std?: number;
}

/**
 * Seeded initial parameters: `Map<name, Float32Array>` in PyTorch order and shapes.
 * A number as `options` is shorthand for `{ std }`.
 *
 * @example
 * ```ts
 * import { configs } from "./config.ts";
 * import { initParameters } from "./init.ts";
 * const w = initParameters(configs.tiny, 1);
 * console.assert(w.get("conv2.bias")![0] === 1 && w.get("fc8.bias")![0] === 0);
 * ```
 */
export function initParameters(
  cfg: AlexNetConfig,
  seed: number,
  options: InitOptions | number = {},
): Map<string, Float32Array> {
  const opts: InitOptions = typeof options === "number" ? { std: options } : options;
  const scheme = opts.scheme ?? "paper";
  if (scheme !== "paper" && scheme !== "kaiming") {
    throw new RangeError(`initParameters: scheme must be "paper" or "kaiming", got ${scheme}`);
  }
  if (opts.std !== undefined && !(Number.isFinite(opts.std) && opts.std > 0)) {
    throw new RangeError(`initParameters: std must be a positive number, got ${opts.std}`);
  }
  const rng = new Rng(seed, "init");
  const out = new Map<string, Float32Array>();
  for (const { name, shape, kind, initBias } of parameterShapes(cfg)) {
    const data = new Float32Array(sizeOf(shape));
    if (kind === "weight") {
      const fanIn = sizeOf(shape.slice(1));
      const std = opts.std ?? (scheme === "paper" ? 0.01 : Math.sqrt(2 / fanIn));
      rng.fillNormal(data, 0, std);
    } else if (scheme === "paper") {
      data.fill(initBias);
    }
    out.set(name, data);
  }
  return out;
}
