// The software adapter's one setting we choose for our command lines: llvmpipe's vector
// width. Mesa's llvmpipe (lavapipe through Vulkan, or GL) compiles every pipeline at its
// first dispatch, and it compiles our register-blocked kernels about 2.5x faster with
// 128-bit vectors than with its AVX2 default of 256: most of a kernel's body is per-lane
// loads, which the wider vector only doubles. Step times were unchanged within the
// machine's noise (tiny, small and paper, 1 and 2 columns; docs/performance.md).

/** The value {@link preferFastSoftwareCompiles} sets. */
export const SOFTWARE_VECTOR_BITS = 128;

/**
 * Asks Mesa's llvmpipe for 128-bit vectors (LP_NATIVE_VECTOR_WIDTH) unless the variable
 * is already set, and returns the width in effect, or undefined outside Deno or without
 * permission to read the environment (the driver then keeps its default). Mesa reads
 * it once, when the process first opens the adapter, so call it before the first
 * `navigator.gpu.requestAdapter()` (or `openColumns`). Other drivers ignore it. Every
 * command line of this project calls it; `LP_NATIVE_VECTOR_WIDTH=256` restores Mesa's
 * default.
 *
 * @example
 * ```ts
 * import { preferFastSoftwareCompiles } from "./software.ts";
 * const bits = preferFastSoftwareCompiles(); // "128" unless set before
 * console.log(`llvmpipe vectors: ${bits} bits`);
 * ```
 */
export function preferFastSoftwareCompiles(): string | undefined {
  if (typeof Deno === "undefined") return undefined;
  const name = "LP_NATIVE_VECTOR_WIDTH";
  try {
    const set = Deno.env.get(name);
    if (set) return set;
    Deno.env.set(name, String(SOFTWARE_VECTOR_BITS));
    return String(SOFTWARE_VECTOR_BITS);
  } catch {
    return undefined; // no --allow-env: the driver keeps its default
  }
}
