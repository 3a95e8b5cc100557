// File helpers of the checkpoint writer: atomic writes and durable renames.

let tmpCounter = 0;

/**
 * Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename,
 * then fsync of the directory — a crash leaves either the old file or the new one.
 *
 * @example
 * ```ts ignore
 * await writeFileAtomic("out/state.json", new TextEncoder().encode("{}"));
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${tmpCounter++}`;
  try {
    using f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    let done = 0;
    while (done < bytes.length) done += await f.write(bytes.subarray(done));
    await f.sync();
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.rename(tmp, path);
  await syncDirectory(dirname(path));
}

/** fsyncs a directory so a rename inside it is durable (best effort where unsupported). */
export async function syncDirectory(dir: string): Promise<void> {
  try {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Some platforms cannot open or fsync directories; the rename is still atomic.
  }
}

/** The directory part of a path ("." for a bare file name). */
export function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}
