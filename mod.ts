/**
 * alexnet-webgpu: the two-column AlexNet of Krizhevsky, Sutskever and Hinton (2012),
 * trained with WebGPU and hand-written WGSL kernels.
 *
 * This module re-exports the public API: columns (devices), tensors, and kernels.
 *
 * @example
 * ```ts ignore
 * import { Elementwise, Encoder, openColumns, Tensor } from "jsr:@alexnet/webgpu";
 * const { columns: [col] } = await openColumns({ count: 1 });
 * const ew = await Elementwise.create(col, { size: 4 });
 * using x = Tensor.from(col, new Float32Array([-1, 2, -3, 4]), [4], "x");
 * using y = Tensor.empty(col, [4], "y");
 * const enc = new Encoder(col);
 * ew.relu(enc, { x, y });
 * enc.submit();
 * console.log(await y.read()); // [0, 2, 0, 4]
 * ```
 *
 * @module
 */
// Kernels: columns, tensors, and one module per operation (also "./kernels" alone).
export * from "./kernels/mod.ts";

// Errors the library throws on purpose.
export * from "./errors.ts";

// Model: configs, init, checkpoints, the two-column network, training and evaluation.
export * from "./model/config.ts";
export * from "./model/shapes.ts";
export * from "./model/init.ts";
export * from "./model/rng.ts";
export * from "./model/checkpoint.ts";
export * from "./model/plan.ts";
export * from "./model/alexnet.ts";
export * from "./model/step.ts";
export * from "./model/train.ts";
export * from "./model/evaluate.ts";
export { imageFiles, predict, type Prediction, type PredictOptions } from "./model/cli_predict.ts";

// Data: datasets, preparation and the loader.
export * from "./data/mod.ts";

// Visualisation: conv1 filter mosaics, training curves, prediction grids.
export * from "./viz/mod.ts";
