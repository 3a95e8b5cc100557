import assert from "node:assert/strict";
import {
  checkpointLeftovers,
  type CheckpointState,
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  readSafetensors,
  recoverCheckpoint,
  type SafeTensor,
  saveCheckpoint,
  writeSafetensors,
} from "../model/checkpoint.ts";
import { configFor, parameterShapes, sizeOf } from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { Rng } from "../model/rng.ts";
import { CheckpointError } from "../errors.ts";

const tiny = configFor("tiny", 10);

function tensors(): Map<string, SafeTensor> {
  return new Map<string, SafeTensor>([
    ["w", { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5, 1e-30]) }],
    ["labels", { shape: [3], data: new Int32Array([7, -1, 2 ** 31 - 1]) }],
    ["loss", { shape: [], data: new Float32Array([2.25]) }],
    ["empty", { shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

// A file from a raw header string and data bytes (for the corruption cases).
function craft(header: string, data: Uint8Array = new Uint8Array(0), lengthField?: number) {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthField ?? h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("safetensors: F32/I32/scalar/empty tensors and metadata round-trip", () => {
  const bytes = encodeSafetensors(tensors(), { note: "hi" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0, "data starts 8-byte aligned");
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.match(header, /^\{.*\} *$/);
  const parsed = JSON.parse(header);
  assert.deepEqual(parsed.w, { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(parsed.labels, { dtype: "I32", shape: [3], data_offsets: [24, 36] });
  assert.deepEqual(parsed.__metadata__, { note: "hi" });
  const back = decodeSafetensors(bytes);
  assert.deepEqual([...back.tensors.keys()], ["w", "labels", "loss", "empty"]);
  for (const [k, t] of tensors()) assert.deepEqual(back.tensors.get(k), t, k);
  assert.deepEqual(back.metadata, { note: "hi" });
  assert.throws(
    () => encodeSafetensors(new Map([["x", { shape: [3], data: new Float32Array(2) }]])),
    /tensor x: shape \[3\] has 3 elements, data has 2/,
  );
});

Deno.test("safetensors: atomic write to disk leaves no temp file and reads back", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/t.safetensors`;
  await writeSafetensors(path, tensors());
  await writeSafetensors(path, tensors(), { second: "yes" }); // replaces
  const files = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(files, ["t.safetensors"]);
  const back = await readSafetensors(path);
  assert.deepEqual(back.metadata, { second: "yes" });
  assert.deepEqual(back.tensors.get("labels")!.data, new Int32Array([7, -1, 2 ** 31 - 1]));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("safetensors: every corruption fails with a message naming file and problem", async () => {
  const dir = await Deno.makeTempDir();
  const f32 = (o: string, shape = "[2]") => `{"dtype":"F32","shape":${shape},"data_offsets":${o}}`;
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length/],
    ["beyond", craft("{}", new Uint8Array(0), 1000), /header length 1000 runs past the end/],
    ["notjson", craft("{nope"), /header is not valid JSON/],
    ["array", craft("[1,2]"), /header is not a JSON object/],
    [
      "unknown",
      craft(`{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, new Uint8Array(4)),
      /tensor "a": unknown dtype "Q7" \(expected F32 or I32\)/,
    ],
    [
      "f16",
      craft(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, new Uint8Array(4)),
      /tensor "a": dtype F16 is not supported/,
    ],
    [
      "size",
      craft(`{"a":${f32("[0,12]")}}`, new Uint8Array(12)),
      /tensor "a": shape \[2\] of F32 needs 8 bytes, data_offsets \[0, 12\] span 12/,
    ],
    [
      "overlap",
      craft(`{"a":${f32("[0,8]")},"b":${f32("[4,12]")}}`, new Uint8Array(12)),
      /tensor "b": data_offsets overlap tensor "a"/,
    ],
    [
      "range",
      craft(`{"a":${f32("[8,16]")}}`, new Uint8Array(8)),
      /tensor "a": data_offsets \[8, 16\] run past the data \(8 bytes\)/,
    ],
    [
      "gap",
      craft(`{"a":${f32("[0,8]")},"b":${f32("[12,20]")}}`, new Uint8Array(20)),
      /tensor "b": data_offsets are not contiguous \(bytes \[8, 12\) belong to no tensor\)/,
    ],
    [
      "reversed",
      craft(`{"a":${f32("[8,0]")}}`, new Uint8Array(8)),
      /data_offsets must be \[begin, end\] with 0 <= begin <= end/,
    ],
    [
      "dup",
      craft(`{"a":${f32("[0,8]")},"a":${f32("[8,16]")}}`, new Uint8Array(16)),
      /duplicate tensor name "a"/,
    ],
    [
      "trailing",
      craft(`{"a":${f32("[0,8]")}}`, new Uint8Array(11)),
      /3 trailing bytes after the last tensor/,
    ],
    [
      "shape",
      craft(`{"a":${f32("[0,8]", "[2.5]")}}`, new Uint8Array(8)),
      /tensor "a": shape must be an array of non-negative integers/,
    ],
    [
      "meta",
      craft(`{"__metadata__":{"k":3}}`),
      /__metadata__\.k must be a string, got 3/,
    ],
  ];
  for (const [name, bytes, msg] of cases) {
    const path = `${dir}/${name}.safetensors`;
    await Deno.writeFile(path, bytes);
    await assert.rejects(() => readSafetensors(path), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: `), `${name}: ${e.message}`);
      assert.match(e.message, msg, name);
      return true;
    });
  }
  // Nested duplicates-looking keys and escaped quotes are not false positives.
  const ok = craft(
    `{"__metadata__":{"x":"a\\"b","y":"a"},"a\\"":${f32("[0,8]")}}`,
    new Uint8Array(8),
  );
  assert.deepEqual([...decodeSafetensors(ok).tensors.keys()], ['a"']);
  await Deno.remove(dir, { recursive: true });
});

function sampleState(step: number): CheckpointState {
  const r = new Rng(9, "shuffle");
  for (let i = 0; i < step; i++) r.nextU32();
  return {
    config: tiny,
    epoch: 2,
    step,
    rng: { shuffle: r.getState() },
    dataFingerprint: "synthetic:abc",
    lr: 0.01,
    schedule: { kind: "plateau", best: Infinity, worst: -Infinity, last: NaN, bad: 1 },
    metrics: { loss: 1.5 },
  };
}

function momentumOf(seed: number): Map<string, Float32Array> {
  const r = new Rng(seed);
  return new Map(
    parameterShapes(tiny).map((p) => [p.name, r.fillNormal(new Float32Array(sizeOf(p.shape)))]),
  );
}

Deno.test("checkpoint: save/load round-trip with PyTorch names, momentum and state", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/ck`;
  const weights = initParameters(tiny, 1), momentum = momentumOf(2);
  await saveCheckpoint(dir, { weights, momentum, state: sampleState(5) });
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["ck"]);
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(files, ["model.safetensors", "optimizer.safetensors", "state.json"]);
  const model = await readSafetensors(`${dir}/model.safetensors`);
  assert.deepEqual(
    [...model.tensors].map(([k, t]) => `${k}[${t.shape}]`),
    parameterShapes(tiny).map((p) => `${p.name}[${p.shape}]`),
  );
  const opt = await readSafetensors(`${dir}/optimizer.safetensors`);
  assert.equal([...opt.tensors.keys()][0], "conv1.weight.momentum");

  const ck = await loadCheckpoint(dir, { expectConfig: tiny });
  assert.deepEqual(ck.weights, weights);
  assert.deepEqual(ck.momentum, momentum);
  assert.deepEqual(ck.state, sampleState(5)); // incl. Infinity, -Infinity and NaN
  const sidecar = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  assert.deepEqual(sidecar.state.schedule.best, { __float__: "Infinity" });
  assert.equal(sidecar.state.config.name, "tiny");
  const resumed = Rng.fromState(ck.state.rng!.shuffle);
  const direct = new Rng(9, "shuffle");
  for (let i = 0; i < 5; i++) direct.nextU32();
  assert.equal(resumed.nextU32(), direct.nextU32());

  // A second save replaces the first, leaving no temp or old directories.
  await saveCheckpoint(dir, { weights, momentum: momentumOf(3), state: sampleState(6) });
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["ck"]);
  assert.equal((await loadCheckpoint(dir)).state.step, 6);
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: save rejects bad inputs before touching the directory", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/ck`;
  const weights = initParameters(tiny, 1), momentum = momentumOf(2);
  const big = { ...sampleState(1), schedule: { best: 10n } };
  await assert.rejects(
    () => saveCheckpoint(dir, { weights, momentum, state: big }),
    /state\.schedule\.best is a bigint, which JSON cannot store/,
  );
  const short = new Map(weights);
  short.delete("fc7.bias");
  await assert.rejects(
    () => saveCheckpoint(dir, { weights: short, momentum, state: sampleState(1) }),
    /weights has no tensor "fc7\.bias"/,
  );
  const wrong = new Map(weights).set("conv1.bias", new Float32Array(3));
  await assert.rejects(
    () => saveCheckpoint(dir, { weights: wrong, momentum, state: sampleState(1) }),
    /weights "conv1\.bias" has 3 elements, \[16\] needs 16/,
  );
  assert.deepEqual([...Deno.readDirSync(root)], []);
  // Non-finite values are never written.
  const nan = new Map(weights).set("conv2.weight", weights.get("conv2.weight")!.slice());
  nan.get("conv2.weight")![3] = NaN;
  await assert.rejects(
    () => saveCheckpoint(dir, { weights: nan, momentum, state: sampleState(1) }),
    /not writing checkpoint .*ck: the weights' conv2\.weight holds 1 non-finite value\(s\) \(first: NaN at index 3\)/,
  );
  const inf = new Map(momentum).set("fc6.bias", momentum.get("fc6.bias")!.map(() => Infinity));
  await assert.rejects(
    () => saveCheckpoint(dir, { weights, momentum: inf, state: sampleState(1) }),
    /the momentum' fc6\.bias holds 128 non-finite/,
  );
  assert.deepEqual([...Deno.readDirSync(root)], []);
  await Deno.remove(root, { recursive: true });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("checkpoint: every moment of an interrupted save leaves a loadable checkpoint, recovered without a manual step", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/ck`;
  const weights = initParameters(tiny, 1);
  const save = (at: string, step: number) =>
    saveCheckpoint(at, { weights, momentum: momentumOf(step), state: sampleState(step) });
  const dead = await deadPid();
  await save(dir, 5);

  // Killed while writing: a partial DIR.tmp-<pid> beside the good DIR.
  await Deno.mkdir(`${dir}.tmp-${dead}`);
  await Deno.writeFile(`${dir}.tmp-${dead}/model.safetensors`, new Uint8Array(100));
  const ck = await loadCheckpoint(dir);
  assert.deepEqual([ck.state.step, ck.recoveredFrom], [5, undefined]);
  assert.deepEqual(await recoverCheckpoint(dir), { removed: [`${dir}.tmp-${dead}`] });
  assert.deepEqual(names(root), ["ck"]);

  // Killed between the two renames: the old one as DIR.old-<pid>, the new one complete
  // as DIR.tmp-<pid>, no DIR. Loading picks the newer; recovery moves it back.
  await save(`${root}/next`, 6);
  await Deno.rename(`${root}/next`, `${dir}.tmp-${dead}`);
  await Deno.rename(dir, `${dir}.old-${dead}`);
  const gap = await loadCheckpoint(dir);
  assert.deepEqual([gap.state.step, gap.recoveredFrom], [6, `${dir}.tmp-${dead}`]);
  assert.deepEqual(await recoverCheckpoint(dir), {
    restored: `${dir}.tmp-${dead}`,
    removed: [`${dir}.old-${dead}`],
  });
  assert.deepEqual(names(root), ["ck"]);
  assert.equal((await loadCheckpoint(dir)).state.step, 6);

  // The same gap with the new one incomplete cannot happen (it is complete before the
  // first rename), but a lone old checkpoint is still used.
  await Deno.rename(dir, `${dir}.old-${dead}`);
  await Deno.mkdir(`${dir}.tmp-${dead}`);
  assert.equal((await loadCheckpoint(dir)).recoveredFrom, `${dir}.old-${dead}`);
  assert.equal((await recoverCheckpoint(dir)).restored, `${dir}.old-${dead}`);
  assert.deepEqual(names(root), ["ck"]);

  // A running process's save is left alone; listed as alive.
  await Deno.mkdir(`${dir}.tmp-${Deno.pid}`);
  assert.deepEqual(
    (await checkpointLeftovers(dir)).map((l) => [l.kind, l.pid, l.alive]),
    [["tmp", Deno.pid, true]],
  );
  assert.deepEqual(await recoverCheckpoint(dir), { removed: [] });
  await Deno.remove(`${dir}.tmp-${Deno.pid}`);

  // The next save works; with nothing left at all, the error says so.
  await save(dir, 7);
  assert.equal((await loadCheckpoint(dir)).state.step, 7);
  await Deno.remove(dir, { recursive: true });
  await assert.rejects(() => loadCheckpoint(dir), /ck does not exist$/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: load names what is wrong", async () => {
  const root = await Deno.makeTempDir();
  const good = `${root}/good`;
  const weights = initParameters(tiny, 1), momentum = momentumOf(2);
  await saveCheckpoint(good, { weights, momentum, state: sampleState(5) });
  const variant = async (name: string, edit: (dir: string) => Promise<void>) => {
    const dir = `${root}/${name}`;
    await Deno.mkdir(dir);
    for (const f of ["model.safetensors", "optimizer.safetensors", "state.json"]) {
      await Deno.copyFile(`${good}/${f}`, `${dir}/${f}`);
    }
    await edit(dir);
    return dir;
  };
  // deno-lint-ignore no-explicit-any
  const editState = (fn: (j: Record<string, any>) => void) => async (dir: string) => {
    const j = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
    fn(j);
    await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify(j));
  };
  const rewriteModel = (fn: (t: Map<string, SafeTensor>) => void) => async (dir: string) => {
    const m = await readSafetensors(`${dir}/model.safetensors`);
    fn(m.tensors);
    await writeSafetensors(`${dir}/model.safetensors`, m.tensors, m.metadata);
  };
  const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
    [
      "badjson",
      (d) => Deno.writeTextFile(`${d}/state.json`, "{oops"),
      /state\.json: not valid JSON/,
    ],
    ["nostate", (d) => Deno.remove(`${d}/state.json`), /state\.json: cannot read/],
    ["format", editState((j) => j.format = "other"), /state\.json: format is "other"/],
    [
      "config",
      editState((j) => j.state.config.layers[4].out = 33),
      /state\.json: state\.config tiny: layers\[4\] \(conv "conv2"\)\.out must be an even positive integer/,
    ],
    ["step", editState((j) => j.state.step = -1), /state\.step must be a non-negative integer/],
    [
      "rng",
      editState((j) => j.state.rng.shuffle.state = [1, 2]),
      /state\.json: state\.rng\.shuffle\.state: expected four u32 integers/,
    ],
    [
      "missing",
      rewriteModel((t) => t.delete("conv3.bias")),
      /model\.safetensors: missing tensor "conv3\.bias" \(config tiny\)/,
    ],
    [
      "shape",
      rewriteModel((t) => t.set("fc8.bias", { shape: [2, 5], data: new Float32Array(10) })),
      /model\.safetensors: tensor "fc8\.bias" has shape \[2,5\], config tiny needs \[10\]/,
    ],
    [
      "extra",
      rewriteModel((t) => t.set("fc9.bias", { shape: [1], data: new Float32Array(1) })),
      /model\.safetensors: unexpected tensor "fc9\.bias"/,
    ],
    [
      "dtype",
      rewriteModel((t) => t.set("fc8.bias", { shape: [10], data: new Int32Array(10) })),
      /"fc8\.bias" is not F32/,
    ],
    [
      "corrupt",
      async (d) => await Deno.writeFile(`${d}/optimizer.safetensors`, new Uint8Array(4)),
      /optimizer\.safetensors: file is 4 bytes/,
    ],
    [
      "nan",
      rewriteModel((t) => (t.get("conv2.weight")!.data as Float32Array)[3] = NaN),
      /model\.safetensors: conv2\.weight holds 1 non-finite value\(s\) \(first: NaN at index 3\); this checkpoint is unusable/,
    ],
    [
      "inf",
      rewriteModel((t) => (t.get("fc8.bias")!.data as Float32Array).fill(-Infinity, 2, 5)),
      /fc8\.bias holds 3 non-finite value\(s\) \(first: -Infinity at index 2\)/,
    ],
  ];
  for (const [name, edit, msg] of cases) {
    const dir = await variant(name, edit);
    await assert.rejects(() => loadCheckpoint(dir), (e) => {
      assert.ok(e instanceof CheckpointError, `${name}: ${e}`);
      assert.equal(e.path, dir);
      assert.match(e.message, msg);
      return true;
    }, name);
  }
  // Files from different saves are not mixed silently.
  const other = `${root}/other`;
  await saveCheckpoint(other, { weights, momentum, state: sampleState(6) });
  const mixed = await variant(
    "mixed",
    (d) => Deno.copyFile(`${other}/optimizer.safetensors`, `${d}/optimizer.safetensors`),
  );
  await assert.rejects(
    () => loadCheckpoint(mixed),
    /optimizer\.safetensors: belongs to save .* but state\.json is save .* mixes files/,
  );
  // A config mismatch names the field.
  await assert.rejects(
    () => loadCheckpoint(good, { expectConfig: configFor("tiny", 12) }),
    /good does not match this run's config: config\.classes: checkpoint has 10, expected 12/,
  );
  await assert.rejects(() => loadCheckpoint(`${good}/state.json`), /is not a directory/);
  await assert.rejects(() => loadCheckpoint(`${root}/none`), /none does not exist$/);
  await Deno.remove(root, { recursive: true });
});

// ---- The PyTorch golden fixtures (tests/fixtures/make_golden.py) ----
// The model-vs-PyTorch comparison lives with the model; here: the files load with our
// reader, match the config's names and shapes, and are self-consistent in ways that
// need no model (loss from logits, fc8's bias gradient, the paper's SGD update).

const FIXTURES = ["tiny_golden", "tiny_golden_wide"] as const;
const fixture = (name: string) =>
  readSafetensors(new URL(`./fixtures/${name}.safetensors`, import.meta.url).pathname);

function f32(t: SafeTensor | undefined, what: string): Float32Array {
  assert.ok(t?.data instanceof Float32Array, `${what}: expected an F32 tensor`);
  return t.data as Float32Array;
}

for (const name of FIXTURES) {
  Deno.test(`golden fixture ${name}: names and shapes match parameterShapes(tiny)`, async () => {
    const { tensors, metadata } = await fixture(name);
    // A config change makes the fixture stale: regenerate it with make_golden.py.
    assert.deepEqual(JSON.parse(metadata.config), tiny, "fixture config vs configFor(tiny, 10)");
    const expected = new Map<string, number[]>([
      ["input", [4, 3, 32, 32]],
      ["labels", [4]],
      ["logits", [4, 10]],
      ["loss", []],
    ]);
    for (const p of parameterShapes(tiny)) {
      expected.set(p.name, p.shape);
      expected.set(`grad.${p.name}`, p.shape);
      if (name === "tiny_golden_wide") expected.set(`sgd.${p.name}`, p.shape);
    }
    if (name === "tiny_golden_wide") expected.set("sgd.loss", []);
    assert.deepEqual(new Set(tensors.keys()), new Set(expected.keys()));
    for (const [k, shape] of expected) {
      assert.deepEqual(tensors.get(k)!.shape, shape, k);
      assert.equal(tensors.get(k)!.data instanceof Int32Array, k === "labels", `${k} dtype`);
      assert.ok(tensors.get(k)!.data.every(Number.isFinite), `${k} is finite`);
    }
    const labels = tensors.get("labels")!.data;
    assert.ok(labels.every((l) => Number.isInteger(l) && l >= 0 && l < 10), "labels in range");
  });

  Deno.test(`golden fixture ${name}: loss and fc8 bias gradient follow from the logits`, async () => {
    const { tensors } = await fixture(name);
    const logits = f32(tensors.get("logits"), "logits");
    const labels = tensors.get("labels")!.data;
    const [n, k] = [4, 10];
    let loss = 0;
    const dBias = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const row = Array.from(logits.subarray(i * k, (i + 1) * k));
      const max = Math.max(...row);
      const sum = row.reduce((a, z) => a + Math.exp(z - max), 0);
      loss += (Math.log(sum) + max - row[labels[i]]) / n;
      // d mean-CE / d logits = (softmax - onehot) / N; fc8's bias gradient sums it.
      row.forEach((z, j) => dBias[j] += (Math.exp(z - max) / sum - (j === labels[i] ? 1 : 0)) / n);
    }
    const got = f32(tensors.get("loss"), "loss")[0];
    assert.ok(Math.abs(got - loss) <= 1e-6 * Math.abs(loss), `loss ${got} vs ${loss}`);
    const g = f32(tensors.get("grad.fc8.bias"), "grad.fc8.bias");
    const maxRef = Math.max(...dBias.map(Math.abs));
    dBias.forEach((v, j) =>
      assert.ok(Math.abs(g[j] - v) <= 1e-5 * maxRef, `dB[${j}] ${g[j]} vs ${v}`)
    );
  });
}

Deno.test("golden fixture tiny_golden_wide: every layer has non-trivial gradients", async () => {
  const { tensors } = await fixture("tiny_golden_wide");
  for (const p of parameterShapes(tiny)) {
    const g = f32(tensors.get(`grad.${p.name}`), p.name);
    const max = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const nonzero = g.filter((v) => v !== 0).length / g.length;
    assert.ok(max > 5e-4, `grad.${p.name} max |g| ${max}`);
    assert.ok(nonzero > 0.2, `grad.${p.name}: only ${nonzero} of the entries are non-zero`);
  }
});

Deno.test("golden fixture tiny_golden_wide: sgd.* is the paper's update from zero momentum", async () => {
  const { tensors } = await fixture("tiny_golden_wide");
  const lr = 0.01, decay = 0.0005, momentum = 0.9;
  // Worst |fixture delta - formula delta| in units of the float32 rounding it can have:
  // w' stored in f32 and g stored in f32 (the fixture computed in f64).
  const worst = (wd: number, rate: number) => {
    let ratio = 0;
    for (const p of parameterShapes(tiny)) {
      const w = f32(tensors.get(p.name), p.name);
      const g = f32(tensors.get(`grad.${p.name}`), p.name);
      const next = f32(tensors.get(`sgd.${p.name}`), p.name);
      for (let i = 0; i < w.length; i++) {
        const v = momentum * 0 - wd * rate * w[i] - rate * g[i]; // v = 0.9 v - wd lr w - lr g
        const err = Math.abs((next[i] - w[i]) - v);
        const ulp = (Math.abs(next[i]) + rate * Math.abs(g[i])) * 2 ** -23;
        ratio = Math.max(ratio, err / (ulp + 1e-20));
      }
    }
    return ratio;
  };
  assert.ok(worst(decay, lr) <= 1, `update off by ${worst(decay, lr)} f32 ulps`);
  // The check can fail: dropping weight decay or a 1% lr error is many ulps off.
  assert.ok(worst(0, lr) > 10, `without weight decay: ${worst(0, lr)}`);
  assert.ok(worst(decay, lr * 1.01) > 10, `lr 1% off: ${worst(decay, lr * 1.01)}`);
});
