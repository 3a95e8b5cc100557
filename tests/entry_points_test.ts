// The "./kernels" entry runs in a browser: its module graph holds no `node:` or `npm:`
// module, and it type-checks against the DOM and WebGPU types alone (no Deno types, so
// any `Deno.` outside a feature check fails to compile).

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
const KERNELS = `${ROOT}kernels/mod.ts`;

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

Deno.test("the kernels entry imports only local modules (no node:, npm: or remote)", async () => {
  const r = await deno(["info", "--json", KERNELS]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { modules: { specifier: string }[] };
  const specifiers = info.modules.map((m) => m.specifier);
  assert.ok(specifiers.length > 15, `${specifiers.length} modules`);
  const foreign = specifiers.filter((s) => !s.startsWith(`file://${ROOT}kernels/`));
  assert.deepEqual(foreign, []);
});

Deno.test("the kernels entry type-checks with only the DOM and WebGPU types", async () => {
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
    const r = await deno(["check", "--config", `${dir}/deno.json`, KERNELS]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
