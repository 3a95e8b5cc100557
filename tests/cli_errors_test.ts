// Every CLI, run as a subprocess on real files, answers a fault with ONE line on stderr
// that names the thing and what was expected (no stack trace), exit code 1 for a
// runtime fault and 2 for a bad command line; predict keeps going past a bad image.

import assert from "node:assert/strict";
import { encodeImage } from "../data/decode.ts";
import { errorLine, exitCodeFor, MemoryPlanError, UsageError } from "../errors.ts";
import { saveCheckpoint } from "../model/checkpoint.ts";
import { configFor } from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { GPU_TEST } from "./_gpu.ts";
import { makeDataset } from "./model_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const tiny = configFor("tiny", 10);

/** Runs `deno run -A <script> ...args` from the repository root. */
async function cli(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Asserts the run failed with `code` and exactly one stderr line matching `line`. */
function oneLine(r: { code: number; stderr: string }, code: 1 | 2, line: RegExp, what: string) {
  // (Deno prints "Download ..." the first time an npm package is fetched.)
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("Download "));
  assert.equal(r.code, code, `${what}: exit code; stderr:\n${r.stderr}`);
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], line, `${what}: ${lines[0]}`);
  assert.doesNotMatch(r.stderr, /Uncaught|^\s+at /m, what);
}

let tmp: string | null = null;
const temp = async () => tmp ??= await Deno.makeTempDir({ prefix: "alexnet-cli-errors-" });

Deno.test("errorLine and exitCodeFor: one line, 2 only for usage", () => {
  assert.equal(exitCodeFor(new UsageError("x")), 2);
  assert.equal(exitCodeFor(new MemoryPlanError("x")), 2);
  assert.equal(exitCodeFor(new Error("x")), 1);
  assert.equal(errorLine(new UsageError("--lr must be positive\nmore")), "--lr must be positive");
  let fsError: unknown;
  try {
    Deno.readFileSync("/nonexistent/file");
  } catch (e) {
    fsError = e;
  }
  assert.match(
    errorLine(fsError),
    /^No such file or directory \(os error 2\): .*\/nonexistent\/file/,
  );
  assert.match(
    errorLine(new ReferenceError("x is not defined")),
    /^ReferenceError: x is not defined \(a bug; ALEXNET_DEBUG=1 prints the stack\)$/,
  );
});

Deno.test("train: usage errors exit 2 in one line", async () => {
  for (
    const [args, line] of [
      [["--seed", "1e20"], /--seed must be an integer from 0 to 4294967295, got "1e20"/],
      [["--epochs", "1e9"], /--epochs must be an integer from 1 to 10000, got "1e9"/],
      [["--lr", "0"], /--lr must be a positive number, got "0"/],
      [["--lr=-0.01"], /--lr must be a positive number/],
      [["--checkpoint-every", "0"], /--checkpoint-every must be an integer from 1/],
      [["--bogus"], /Unknown option '--bogus'/],
    ] as const
  ) {
    const r = await cli("model/cli_train.ts", [...args]);
    oneLine(
      r,
      2,
      new RegExp(`^train: .*${line.source}.*\\(train --help lists the options\\)$`),
      args.join(" "),
    );
  }
});

Deno.test("train: runtime faults exit 1 in one line", GPU_TEST, async () => {
  const dir = await temp();
  await makeDataset(`${dir}/ds`, { train: 8, val: 4, classes: 10, size: tiny.storedSize });
  await Deno.mkdir(`${dir}/unprepared`);
  await Deno.writeTextFile(`${dir}/file`, "");
  await Deno.mkdir(`${dir}/corrupt`);
  await Deno.writeTextFile(`${dir}/corrupt/state.json`, "{oops");
  const data = ["--dataset", "folder", "--data", `${dir}/ds`, "--columns", "1", "--batch", "4"];
  for (
    const [args, code, line] of [
      [[...data, "--resume", `${dir}/none`], 1, /checkpoint .*\/none does not exist$/],
      [[...data, "--resume", `${dir}/corrupt`], 1, /corrupt\/state\.json: not valid JSON/],
      [["--dataset", "folder", "--data", `${dir}/unprepared`], 1, /unprepared: no index\.json/],
      [
        [...data, "--batch", "16"],
        1,
        /the dataset test has 8 training images, fewer than one batch of 16$/,
      ],
      [[...data, "--out", `${dir}/file/sub`], 1, /Not a directory .*file\/sub/],
      // Absurd but well-formed: refused from the memory plan before allocating.
      [
        [...data, "--batch", "65536"],
        2,
        /at batch 65536 .* does not fit: .*largest batch that fits is \d+/,
      ],
    ] as const
  ) {
    const r = await cli("model/cli_train.ts", [...args]);
    oneLine(r, code, new RegExp(`^train: .*${line.source}`), args.join(" "));
  }
});

Deno.test(
  "predict: a folder with a bad image predicts the rest and exits 1; a NaN checkpoint exits 1",
  GPU_TEST,
  async () => {
    const dir = await temp();
    const S = tiny.storedSize;
    const state = {
      config: tiny,
      classes: Array.from({ length: 10 }, (_, k) => `class${k}`),
      input: { mean: Array(3 * S * S).fill(100), inputScale: 1 / 64 },
    };
    const weights = initParameters(tiny, 1, { scheme: "kaiming" });
    const momentum = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length)]));
    await saveCheckpoint(`${dir}/ck`, { weights, momentum, state });
    await Deno.mkdir(`${dir}/images/sub`, { recursive: true });
    const img = (v: number) => ({
      data: new Uint8Array(40 * 40 * 3).map((_, i) => (v * (i % 7)) % 256),
      width: 40,
      height: 40,
      channels: 3 as const,
    });
    await Deno.writeFile(`${dir}/images/a.png`, await encodeImage(img(30), { kind: "png" }));
    await Deno.writeFile(`${dir}/images/sub/c.jpg`, await encodeImage(img(90), { kind: "jpeg" }));
    await Deno.writeFile(`${dir}/images/b.jpg`, new Uint8Array([0xff, 0xd8, 1, 2, 3])); // corrupt
    await Deno.writeTextFile(`${dir}/images/notes.txt`, "not an image, not listed");

    const r = await cli("model/cli_predict.ts", ["--checkpoint", `${dir}/ck`, `${dir}/images`]);
    assert.equal(r.code, 1, r.stderr);
    const errs = r.stderr.split("\n").filter((l) => l !== "");
    assert.equal(errs.length, 2, r.stderr);
    assert.match(errs[0], /^predict: .*images\/b\.jpg: cannot read the image/);
    assert.equal(errs[1], "predict: 1 of 3 input(s) could not be read (above); 2 predicted");
    const predicted = r.stdout.split("\n").filter((l) => l.startsWith(dir));
    assert.deepEqual(predicted, [`${dir}/images/a.png`, `${dir}/images/sub/c.jpg`]);
    assert.equal(r.stdout.split("\n").filter((l) => /^\s+\d\. class\d/.test(l)).length, 10);

    const nan = new Map(weights).set("fc8.bias", new Float32Array(10).fill(NaN));
    await saveCheckpoint(`${dir}/nan`, { weights, momentum, state });
    // saveCheckpoint refuses NaN, so the file is edited as a corrupted disk would.
    const { readSafetensors, writeSafetensors } = await import("../model/checkpoint.ts");
    const m = await readSafetensors(`${dir}/nan/model.safetensors`);
    m.tensors.set("fc8.bias", { shape: [10], data: nan.get("fc8.bias")! });
    await writeSafetensors(`${dir}/nan/model.safetensors`, m.tensors, m.metadata);
    const n = await cli("model/cli_predict.ts", [
      "--checkpoint",
      `${dir}/nan`,
      `${dir}/images/a.png`,
    ]);
    oneLine(
      n,
      1,
      /^predict: .*nan\/model\.safetensors: fc8\.bias holds 10 non-finite value\(s\)/,
      "nan",
    );
    assert.equal(n.stdout, "");
  },
);

Deno.test("prepare, bench, labs, curves, filters: one line, exit 2 for usage and 1 for a missing file", async () => {
  for (
    const [script, args, code, line] of [
      ["data/cli_prepare.ts", ["--bogus"], 2, /^prepare: Unknown option '--bogus'.*--help/],
      [
        "data/cli_prepare.ts",
        ["--dataset", "synthetic", "--size", "100000"],
        2,
        /^prepare: --size must be an integer from 8 to 4096, got "100000"/,
      ],
      [
        "data/cli_prepare.ts",
        ["--src", "/nonexistent", "--out", "/tmp/x"],
        1,
        /^prepare: .*nonexistent/,
      ],
      [
        "bench/main.ts",
        ["--compare", "/nonexistent.json"],
        1,
        /^bench: cannot read the report \/nonexistent\.json/,
      ],
      ["viz/cli_curves.ts", ["--run", "/nonexistent"], 1, /^curves: .*nonexistent/],
      [
        "viz/cli_filters.ts",
        ["--checkpoint", "/nonexistent"],
        1,
        /^filters: checkpoint \/nonexistent does not exist/,
      ],
      [
        "viz/cli_filters.ts",
        ["--checkpoint", "x", "--scale", "1000"],
        2,
        /^filters: --scale must be an integer from 1 to 64/,
      ],
      [
        "bench/lab_gemm.ts",
        ["--config", "huge"],
        2,
        /^lab_gemm: --config must be tiny, small or paper, got "huge"/,
      ],
      [
        "bench/lab_gemm.ts",
        ["--config", "tiny", "--layers", "conv9"],
        2,
        /^lab_gemm: --layers: no layer conv9; the layers are conv1, conv2/,
      ],
      [
        "bench/lab_ceiling.ts",
        ["--blocks", "8y8"],
        2,
        /^lab_ceiling: --blocks takes tm x tn pairs of 1 to 32 such as 8x8, got "8y8"/,
      ],
    ] as const
  ) {
    oneLine(await cli(script, [...args]), code, line, `${script} ${args.join(" ")}`);
  }
});

Deno.test("cli errors: clean up", async () => {
  if (tmp) await Deno.remove(tmp, { recursive: true });
});

Deno.test("cli import: one line, exit 2 on a bad command line, 1 on weights that do not fit", async () => {
  const dir = await temp();
  oneLine(
    await cli("model/cli_import.ts", ["--config", "torchvision", "--bogus"]),
    2,
    /^import: Unknown option '--bogus'.* \(import --help lists the options\)$/,
    "unknown flag",
  );
  oneLine(
    await cli("model/cli_import.ts", ["--config", "torchvision", "--weights", "w.st"]),
    2,
    /^import: --out is required/,
    "missing --out",
  );
  oneLine(
    await cli("model/cli_import.ts", [
      "--config",
      "tiny",
      "--weights",
      `${dir}/none.st`,
      "--out",
      `${dir}/ck`,
    ]),
    1,
    /^import: .*none\.st/,
    "missing weights file",
  );
  oneLine(
    await cli("model/cli_import.ts", [
      "--config",
      "huge",
      "--weights",
      `${dir}/none.st`,
      "--out",
      `${dir}/ck`,
    ]),
    2,
    /^import: --config must be one of paper, small, tiny, torchvision, got "huge"/,
    "unknown config",
  );
});
