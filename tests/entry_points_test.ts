// The library entry "." and the "./kernels" entry run in a browser: their module graphs
// hold only this repository's files (no `node:`, `npm:` or remote module), and they
// type-check against the DOM and WebGPU types alone (no Deno types, so any `Deno.`
// outside a feature check fails to compile). "./deno" is the rest, for Deno.

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
const exports = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).exports as Record<
  string,
  string
>;
const BROWSER = [".", "./kernels"] as const;

async function deno(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("deno.json exports the library, the kernels and the Deno entry", () => {
  assert.deepEqual(exports, {
    ".": "./mod.ts",
    "./kernels": "./kernels/mod.ts",
    "./deno": "./deno.ts",
  });
});

for (const name of BROWSER) {
  Deno.test(`entry "${name}" imports only this repository's modules`, async () => {
    const r = await deno(["info", "--json", exports[name]]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { modules: { specifier: string }[] };
    const specifiers = info.modules.map((m) => m.specifier);
    assert.ok(specifiers.length > 15, `${specifiers.length} modules`);
    const foreign = specifiers.filter((s) => !s.startsWith(`file://${ROOT}`));
    assert.deepEqual(foreign, []);
    // The Deno-only parts stay out: the worker loader, file checkpoints, sharp's decoder.
    const denoOnly = specifiers.filter((s) =>
      /\/(loader|_shard_reader|checkpoint|decode|train|cli_[a-z]+)\.ts$/.test(s)
    );
    assert.deepEqual(denoOnly, []);
  });

  Deno.test(`entry "${name}" type-checks with only the DOM and WebGPU types`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "alexnet-browser-types-" });
    try {
      await Deno.writeTextFile(
        `${dir}/deno.json`,
        JSON.stringify({
          compilerOptions: {
            lib: ["dom", "dom.iterable", "esnext"],
            types: ["npm:@webgpu/types@0.1.64"],
          },
        }),
      );
      const r = await deno(["check", "--config", `${dir}/deno.json`, exports[name]]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("the Deno entry adds training, data and pictures to the library", async () => {
  const lib = await import("../mod.ts");
  const all = await import("../deno.ts");
  for (const name of Object.keys(lib)) assert.ok(name in all, name);
  for (const name of ["train", "openDataset", "Loader", "saveCheckpoint", "predict", "evaluate"]) {
    assert.ok(name in all && !(name in lib), name);
  }
  for (const name of ["decodeCheckpoint", "encodeCheckpoint", "classify", "AlexNet", "TrainStep"]) {
    assert.ok(name in lib, name);
  }
});
