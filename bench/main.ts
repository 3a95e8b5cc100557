// `deno task bench`: per-kernel throughput at the paper's layer shapes, next to
// TensorFlow.js's WebGPU backend on the same adapter. See bench/_args.ts for flags.
// Exit codes: 0 all cases validated and ran; 1 a case, case module or the peer failed;
// 2 bad command line.

import { dirname } from "node:path";
import { parseBenchArgs, USAGE, UsageError } from "./_args.ts";
import { formatTable } from "./_report.ts";
import { runBench } from "./_runner.ts";

async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`bench: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const { report, failed } = await runBench(options, {
    log: (line) => console.error(line),
    argv: args,
  });
  console.log(formatTable(report.cases));
  const env = report.environment;
  console.log(
    `\nadapter: ${env.adapter.description} (${env.profile})${env.driver ? `, ${env.driver}` : ""}` +
      `; Deno ${env.deno}; peer: ${
        report.peer
          ? `${report.peer.name} ${report.peer.version}`
          : `none (${report.peerError ?? "--no-peer"})`
      }`,
  );
  const floor = report.syncFloorMs;
  console.log(
    `times are per run: each timed iteration records "runs" runs into one submit and waits ` +
      `once, so its empty-submit-and-wait floor of ${floor.ours.toFixed(1)} ms (ours)` +
      (floor.peer === null ? "" : ` / ${floor.peer.toFixed(1)} ms (tfjs)`) +
      " is spread over the runs; wall-clock on a machine shared with other work",
  );
  await Deno.mkdir(dirname(options.json), { recursive: true });
  await Deno.writeTextFile(options.json, JSON.stringify(report, null, 2) + "\n");
  console.log(`report: ${options.json}`);
  if (failed) {
    console.error(`\n${report.failures.length} failure(s):`);
    for (const f of report.failures) console.error(`  ${f.what}: ${f.error}`);
  }
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
