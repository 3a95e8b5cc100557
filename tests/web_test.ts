// The page's pure helpers: the tar it downloads checkpoints in (unpacked by the system's
// tar as the reference), the medians of the browser bench and its table.

import assert from "node:assert/strict";
import { tar } from "../web/_tar.ts";
import { formatBrowserTable, median } from "../bench/_browser.ts";

Deno.test("tar: GNU tar unpacks the files with their bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "alexnet-tar-" });
  try {
    const files = [
      { path: "ck/model.safetensors", data: Uint8Array.from({ length: 1500 }, (_, i) => i * 7) },
      { path: "ck/state.json", data: new TextEncoder().encode('{"a":1}\n') },
      { path: "ck/empty", data: new Uint8Array(0) },
    ];
    await Deno.writeFile(`${dir}/x.tar`, tar(files, 1_700_000_000));
    const r = await new Deno.Command("tar", { args: ["xvf", "x.tar"], cwd: dir }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    for (const f of files) assert.deepEqual(await Deno.readFile(`${dir}/${f.path}`), f.data);
    const mtime = (await Deno.stat(`${dir}/ck/state.json`)).mtime!.getTime();
    assert.equal(mtime, 1_700_000_000_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => tar([{ path: "x".repeat(101), data: new Uint8Array(1) }]),
    /tar: a path must be 1\.\.100 bytes, got 101/,
  );
});

Deno.test("browser bench: medians and the table's rows", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const times = { firstStepMs: 900, stepMs: [10, 30, 20], predictMs: [5, 7], losses: [], top1: 0 };
  const table = formatBrowserTable([
    { runtime: "Deno", adapter: "llvmpipe", profile: "software", times },
    { runtime: "Chromium", adapter: "swiftshader", profile: "gpu", times },
  ]);
  assert.match(table, /predict, 1 image \(median ms\)\s+6\.0\s+6\.0/);
  assert.match(table, /train step \(median ms\)\s+20\.0\s+20\.0/);
  assert.match(table, /Deno software\s+Chromium gpu/);
});
