// A POSIX ustar archive of a few in-memory files: how the page hands over a checkpoint
// folder in one download (`tar xf alexnet-tiny.tar` gives the folder `deno task predict
// --checkpoint` reads).

const BLOCK = 512;

/**
 * The ustar bytes of `files` (paths up to 100 bytes, mode 0644, mtime `mtime` seconds).
 *
 * @example
 * ```ts
 * import { tar } from "./_tar.ts";
 * const bytes = tar([{ path: "ck/a.txt", data: new TextEncoder().encode("hi") }]);
 * bytes.length; // 512 header + 512 data + 1024 end = 2048
 * ```
 */
export function tar(files: { path: string; data: Uint8Array }[], mtime = 0): Uint8Array {
  const enc = new TextEncoder();
  const size = files.reduce((n, f) => n + BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK, 0);
  const out = new Uint8Array(size + 2 * BLOCK);
  let at = 0;
  for (const f of files) {
    const name = enc.encode(f.path);
    if (name.length === 0 || name.length > 100) {
      throw new RangeError(`tar: a path must be 1..100 bytes, got ${name.length} for "${f.path}"`);
    }
    const h = out.subarray(at, at + BLOCK);
    const field = (offset: number, text: string) => h.set(enc.encode(text), offset);
    const octal = (offset: number, width: number, v: number) =>
      field(offset, v.toString(8).padStart(width - 1, "0") + "\0");
    h.set(name, 0);
    octal(100, 8, 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, f.data.length);
    octal(136, 12, mtime);
    field(148, "        "); // the checksum counts its own field as spaces
    field(156, "0");
    field(257, "ustar\0");
    field(263, "00");
    const sum = h.reduce((a, b) => a + b, 0);
    field(148, sum.toString(8).padStart(6, "0") + "\0 ");
    out.set(f.data, at + BLOCK);
    at += BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK;
  }
  return out;
}
