/**
 * alexnet-webgpu: the two-column AlexNet of Krizhevsky, Sutskever and Hinton (2012),
 * on WebGPU with hand-written WGSL kernels.
 *
 * This entry is plain WebGPU and runs in a browser too: the kernels, the network over
 * one or two columns, its training step and classification, checkpoints to and from
 * bytes, the pieces of a training run (schedule, recipe, state, events), and a run
 * stepped by the caller over a dataset in memory (`TrainSession`, `fetchDataset`) with
 * the same losses as `train()`. It imports
 * no `node:` or `npm:` module. The training loop over prepared datasets, file
 * checkpoints, data preparation and the CLIs are in `jsr:@alexnet/webgpu/deno`.
 *
 * @example
 * ```ts ignore
 * import { AlexNet, configFor, initParameters, openColumns, TrainStep } from "jsr:@alexnet/webgpu";
 * const config = configFor("tiny", 10);
 * const { columns } = await openColumns({ count: 2 });
 * const net = await AlexNet.create({ config, batch: 32, columns });
 * net.writeParameters(initParameters(config, 1, { scheme: "kaiming" }));
 * net.clearMomentum();
 * const step = await TrainStep.create(net, { mean: new Float32Array(3 * 36 * 36) });
 * // step.run(batch, { step: 0, hyper: { lr: 0.01 } }) for each batch of 36x36 images
 * ```
 *
 * @module
 */
// Kernels: columns, tensors, and one module per operation (also "./kernels" alone).
export * from "./kernels/mod.ts";

// Errors the library throws on purpose.
export * from "./errors.ts";

// Model: configs, init, the memory plan, the two-column network and its training step,
// classification, checkpoints as bytes, the schedule, recipe, state and events of a run.
export * from "./model/config.ts";
export * from "./model/init.ts";
export * from "./model/rng.ts";
export * from "./model/checkpoint_format.ts";
export * from "./model/safetensors.ts";
export * from "./model/plan.ts";
export * from "./model/alexnet.ts";
export * from "./model/step.ts";
export * from "./model/classify.ts";
export * from "./model/classifier.ts";
export * from "./model/session.ts";
export * from "./model/schedule.ts";
export * from "./model/recipe.ts";
export * from "./model/train_state.ts";
export * from "./model/events.ts";

// Data: a batch as the loader yields it, the augmentation kernel's params, and datasets
// held in memory (fetched over HTTP) batched exactly as the Deno loader batches them.
export * from "./data/batch.ts";
export * from "./data/memory.ts";
export { type AugmentDraw, augmentDraw, epochPermutation } from "./data/rng.ts";
