/**
 * The kernels alone: columns (devices), tensors, the encoder, the exchange between
 * columns, and one module per operation. Plain WebGPU: this entry imports no `node:` or
 * `npm:` module and touches `Deno` only behind feature checks, so it also runs in a
 * browser with WebGPU.
 *
 * @example
 * ```ts ignore
 * import { Elementwise, Encoder, openColumns, Tensor } from "jsr:@alexnet/webgpu/kernels";
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
export * from "./columns.ts";
export * from "./tensor.ts";
export * from "./encoder.ts";
export * from "./transfer.ts";
export * from "./elementwise.ts";
export * from "./gemm.ts";
export * from "./linear.ts";
export * from "./conv2d.ts";
export * from "./maxpool.ts";
export * from "./avgpool.ts";
export * from "./lrn.ts";
export * from "./dropout.ts";
export * from "./softmax_xent.ts";
export * from "./sgd.ts";
export * from "./finite.ts";
export * from "./augment.ts";
export * from "./concat.ts";
export type { ScalarType, UniformLayout } from "./_wgsl.ts";
