// Shared GPU setup for tests: one column per test file, opened lazily. With no
// adapter the suite FAILS with the install hint; GPU tests never skip silently.

import { type Column, type Columns, openColumns } from "../kernels/columns.ts";

let opened: Promise<Columns> | null = null;

/** Opens (once per test module) two columns on this machine's adapter(s). */
export function gpuColumns(): Promise<Columns> {
  opened ??= openColumns({ count: 2 });
  return opened;
}

/** The first column, for single-column kernel tests. */
export async function gpu(): Promise<Column> {
  return (await gpuColumns()).columns[0];
}

/** Deno.test options for GPU tests: WebGPU keeps handles (poll loop) alive. */
export const GPU_TEST = { sanitizeResources: false, sanitizeOps: false } as const;
