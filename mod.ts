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
export * from "./kernels/columns.ts";
export * from "./kernels/tensor.ts";
export * from "./kernels/encoder.ts";
export * from "./kernels/transfer.ts";
export * from "./kernels/elementwise.ts";
