// Crash safety, tried for real: `deno task train` subprocesses of the tiny config are
// killed with SIGKILL at seeded moments (mid-step, and while a checkpoint is being
// written), then started again with --resume. After every kill the checkpoint loads;
// the next start leaves no temporaries of the dead process; and the resumed run ends
// with the same weights (bit for bit) and the same loss at every step as a run that was
// never interrupted. Then a full disk: a save that cannot be written fails in one line
// and leaves the previous checkpoint and no partial files.

import assert from "node:assert/strict";
import { checkpointLeftovers, loadCheckpoint } from "../model/checkpoint.ts";
import { configFor } from "../model/config.ts";
import { GPU_TEST } from "./_gpu.ts";
import { rng } from "../reference/rand.ts";
import { makeDataset } from "./model_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const tiny = configFor("tiny", 10);
const STEPS = 24; // 96 images at batch 4, one epoch

function trainArgs(data: string, out: string, resume: boolean): string[] {
  return [
    "run",
    "-A",
    "model/cli_train.ts",
    ...["--dataset", "folder", "--data", data, "--columns", "1", "--batch", "4"],
    ...["--epochs", "1", "--eval-every", "0", "--checkpoint-every", "1", "--seed", "3"],
    ...["--out", out, ...(resume ? ["--resume", `${out}/checkpoint`] : [])],
  ];
}

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess) {
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, signal: out.signal, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The complete events of a metrics log (a killed run's last line may be partial). */
async function events(out: string): Promise<Record<string, unknown>[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(`${out}/metrics.jsonl`);
  } catch { /* not yet created */ }
  return text.split("\n").flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

const lastStep = (ev: Record<string, unknown>[]) =>
  Math.max(0, ...ev.filter((e) => e.type === "step").map((e) => e.step as number));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test(
  "SIGKILL at seeded moments, during saves too: the checkpoint always loads, restarts clean up, and resuming ends bit-identical",
  GPU_TEST,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "alexnet-crash-" });
    const data = `${dir}/ds`;
    await makeDataset(data, { train: 96, val: 8, classes: 10, size: tiny.storedSize });

    // The uninterrupted reference.
    const ref = await finish(spawn(trainArgs(data, `${dir}/ref`, false)));
    assert.equal(ref.code, 0, ref.stderr);
    const refLoss = new Map(
      (await events(`${dir}/ref`)).filter((e) => e.type === "step").map((e) => [e.step, e.loss]),
    );
    assert.equal(refLoss.size, STEPS);
    const refCk = await loadCheckpoint(`${dir}/ref/checkpoint`);

    const out = `${dir}/run`;
    const random = rng(2026);
    const deadPids: number[] = [];
    const outcomes: string[] = [];
    for (let trial = 0; trial < 6; trial++) {
      const before = lastStep(await events(out));
      const resume = await exists(`${out}/checkpoint`) ||
        (await checkpointLeftovers(`${out}/checkpoint`)).length > 0;
      const child = spawn(trainArgs(data, out, resume));
      // Seeded moment: after 1-4 more steps, then either at once plus 0-30 ms (mid-step
      // or mid-save) or as soon as the save's temporary folder appears (mid-save).
      const target = Math.min(before + 1 + Math.floor(random() * 4), STEPS - 1);
      const duringSave = trial % 2 === 1;
      const delay = Math.floor(random() * 30);
      let startChecked = false, sawTmp = false;
      for (let polls = 0; polls < 6000; polls++) {
        const ev = await events(out);
        if (!startChecked && ev.filter((e) => e.type === "start").length > trial) {
          // The new process has recovered: no dead process's leftovers remain.
          const left = await checkpointLeftovers(`${out}/checkpoint`);
          assert.deepEqual(left.filter((l) => deadPids.includes(l.pid)), [], `trial ${trial}`);
          startChecked = true;
        }
        if (lastStep(ev) >= target) {
          if (!duringSave) {
            await sleep(delay);
            break;
          }
          sawTmp = await exists(`${out}/checkpoint.tmp-${child.pid}`);
          if (sawTmp) break;
        }
        await sleep(2);
      }
      child.kill("SIGKILL");
      const r = await finish(child);
      assert.equal(r.signal, "SIGKILL", `trial ${trial} ended by itself:\n${r.stderr}`);
      assert.ok(startChecked, `trial ${trial}: no start event before the kill`);
      deadPids.push(child.pid);
      const left = await checkpointLeftovers(`${out}/checkpoint`);
      const ck = await loadCheckpoint(`${out}/checkpoint`); // always loadable
      outcomes.push(
        `trial ${trial}: killed at step ~${lastStep(await events(out))}` +
          `${duringSave ? (sawTmp ? " during a save" : " (no save seen)") : ` +${delay} ms`}; ` +
          `checkpoint at step ${ck.state.step}` +
          (ck.recoveredFrom ? ` recovered from ${ck.recoveredFrom.split("/").pop()}` : "") +
          `; ${left.length} leftover(s)`,
      );
    }
    // Resume to the end.
    const last = await finish(spawn(trainArgs(data, out, true)));
    assert.equal(last.code, 0, last.stderr);
    console.log(outcomes.join("\n"));

    // Same loss at every step, every time it was run; same final weights, bit for bit.
    const steps = (await events(out)).filter((e) => e.type === "step");
    assert.ok(steps.length >= STEPS);
    for (const e of steps) assert.equal(e.loss, refLoss.get(e.step), `step ${e.step}`);
    const ck = await loadCheckpoint(`${out}/checkpoint`);
    assert.equal(ck.state.step, STEPS);
    for (const [name, w] of refCk.weights) {
      assert.deepEqual(ck.weights.get(name), w, name);
      assert.deepEqual(ck.momentum.get(name), refCk.momentum.get(name), `${name} momentum`);
    }
    assert.deepEqual(await checkpointLeftovers(`${out}/checkpoint`), []);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  "a full disk: the save fails in one line, the previous checkpoint stays, no partial files",
  GPU_TEST,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "alexnet-full-" });
    const data = `${dir}/ds`;
    await makeDataset(data, { train: 96, val: 8, classes: 10, size: tiny.storedSize });
    // A checkpoint's size, from a short run on the normal disk.
    const probe = await finish(spawn([...trainArgs(data, `${dir}/probe`, false), "--steps", "1"]));
    assert.equal(probe.code, 0, probe.stderr);
    let bytes = 0;
    for (const f of Deno.readDirSync(`${dir}/probe/checkpoint`)) {
      bytes += Deno.statSync(`${dir}/probe/checkpoint/${f.name}`).size;
    }
    // Room for one checkpoint and the log, not for a second checkpoint beside it.
    const disk = `${dir}/disk`;
    await Deno.mkdir(disk);
    const size = Math.ceil((bytes * 1.5) / 4096) * 4096;
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", disk],
      stderr: "piped",
    }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
    if (!mount.success) {
      console.log(
        `skipped the full-disk case: mounting a tmpfs needs root (${
          new TextDecoder().decode(mount.stderr).trim()
        })`,
      );
      await Deno.remove(dir, { recursive: true });
      return;
    }
    try {
      const r = await finish(spawn(trainArgs(data, `${disk}/run`, false)));
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.split("\n").filter((l) =>
        l.startsWith("train: ") && !l.startsWith("train: compiling")
      );
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0],
        /^train: cannot write checkpoint .*disk\/run\/checkpoint: No space left on device \(os error 28\).*; the previous checkpoint .* is intact$/,
      );
      assert.doesNotMatch(r.stderr, /Uncaught|^\s+at /m);
      const ck = await loadCheckpoint(`${disk}/run/checkpoint`);
      assert.equal(ck.state.step, 1);
      assert.equal(ck.recoveredFrom, undefined);
      assert.deepEqual(await checkpointLeftovers(`${disk}/run/checkpoint`), []);
      console.log(`full disk (tmpfs of ${size} bytes): ${lines[0]}`);
    } finally {
      await new Deno.Command("umount", { args: [disk] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
