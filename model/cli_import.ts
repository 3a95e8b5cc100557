// `deno task import --config torchvision --weights alexnet.safetensors --out DIR`: makes
// a checkpoint (`predict`, `filters` and `train --resume` read it) from another
// framework's weights saved as safetensors under the config's parameter names — for
// torchvision's `alexnet` the `state_dict` keys (`features.0.weight` ...). A PyTorch
// `.pth` becomes such a file with `tools/pth_to_safetensors.py`.
//
// Every parameter of the config must be there with its shape (the error names the first
// one that is not); extra tensors are refused. The checkpoint starts from zero momentum.
// For the torchvision config the input is torchvision's normalisation ((x / 255 -
// mean_c) / std_c with ImageNet's mean and std) and, with 1000 classes, the labels are
// ImageNet's class names. Exit codes: 0 done, 1 the weights do not fit, 2 bad command line.

import { parseFlags } from "../flags.ts";
import { CheckpointError, reportError, UsageError } from "../errors.ts";
import { IMAGENET_CLASSES } from "../data/imagenet_classes.ts";
import { readSafetensors, saveCheckpoint } from "./checkpoint.ts";
import { configFor, configs, parameterShapes } from "./config.ts";
import type { CheckpointState } from "./checkpoint_format.ts";

const HELP = `Make a checkpoint from weights saved as safetensors.

Usage: deno task import --config NAME --weights FILE --out DIR

  --config NAME     the network: torchvision, paper, small or tiny
  --weights FILE    a safetensors file with the config's parameter names and shapes
                    (torchvision: its alexnet state_dict; see tools/pth_to_safetensors.py)
  --out DIR         the checkpoint folder to write
  --help            this text
`;

/** ImageNet's per-channel mean and standard deviation on the 0..1 scale (torchvision's). */
export const IMAGENET_NORMALIZATION: Readonly<{ mean: number[]; std: number[] }> = Object.freeze(
  { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
);

/**
 * Writes a checkpoint at `out` from `weights` (a safetensors file holding the config's
 * parameters); returns the checkpoint's state. The class count comes from the logits
 * layer's weight.
 *
 * @example
 * ```ts ignore
 * await importWeights({ config: "torchvision", weights: "alexnet.safetensors", out: "out/tv" });
 * // deno task predict --checkpoint out/tv cat.jpg
 * ```
 */
export async function importWeights(
  opts: { config: string; weights: string; out: string },
): Promise<CheckpointState> {
  const probe = parameterShapes(configFor(opts.config));
  const { tensors } = await readSafetensors(opts.weights);
  const bad = (message: string) => new CheckpointError(`${opts.weights}: ${message}`, opts.weights);
  const logits = probe.filter((p) => p.kind === "weight").at(-1)!;
  const classes = tensors.get(logits.name)?.shape[0];
  if (classes === undefined) throw bad(`missing tensor "${logits.name}" (config ${opts.config})`);
  const config = configFor(opts.config, classes);
  const weights = new Map<string, Float32Array>(), momentum = new Map<string, Float32Array>();
  for (const p of parameterShapes(config)) {
    const t = tensors.get(p.name);
    if (!t) throw bad(`missing tensor "${p.name}" (config ${config.name})`);
    if (!(t.data instanceof Float32Array)) throw bad(`"${p.name}" is not F32`);
    if (t.shape.join() !== p.shape.join()) {
      throw bad(`"${p.name}" has shape [${t.shape}], config ${config.name} needs [${p.shape}]`);
    }
    weights.set(p.name, t.data);
    momentum.set(p.name, new Float32Array(t.data.length));
  }
  const extra = [...tensors.keys()].filter((k) => !weights.has(k));
  if (extra.length) {
    throw bad(`unexpected tensor "${extra[0]}" (config ${config.name} has no such parameter)`);
  }
  const S = config.storedSize;
  const { mean, std } = IMAGENET_NORMALIZATION;
  const state: CheckpointState = {
    config,
    epoch: 0,
    step: 0,
    importedFrom: opts.weights,
    // torchvision's input: (x / 255 - mean_c) / std_c = (x - 255 mean_c) / (255 std_c).
    input: config.name === "torchvision"
      ? { mean: mean.map((m) => 255 * m), inputScale: std.map((s) => 1 / (255 * s)) }
      : { mean: new Array(3 * S * S).fill(0), inputScale: 1 },
    ...(config.classes === 1000 ? { classes: [...IMAGENET_CLASSES] } : {}),
  };
  await saveCheckpoint(opts.out, { weights, momentum, state });
  return state;
}

/** Runs the import CLI on `args`; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseFlags({
      args,
      options: {
        config: { type: "string" },
        weights: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    for (const k of ["config", "weights", "out"] as const) {
      if (!values[k]) throw new UsageError(`--${k} is required`);
    }
    if (!Object.hasOwn(configs, values.config!)) {
      throw new UsageError(
        `--config must be one of ${Object.keys(configs).join(", ")}, got "${values.config}"`,
      );
    }
    const state = await importWeights(values as { config: string; weights: string; out: string });
    console.log(
      `wrote ${values.out}: config ${state.config.name}, ${state.config.classes} classes`,
    );
    return 0;
  } catch (e) {
    return reportError("import", e);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
