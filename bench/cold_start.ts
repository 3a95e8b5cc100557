// The cold start of the default run, measured in a process of its own:
//
//   MESA_SHADER_CACHE_DISABLE=true deno run -A bench/cold_start.ts [--config tiny]
//     [--batch 32] [--columns 2]
//
// prints one JSON object: opening the columns, creating the network and its step
// (allocation; on a software adapter the pipelines compile at their first dispatch),
// the first step, a second step for comparison, and the pipelines per column. The e2e
// suite runs it with Mesa's shader cache disabled, so every shader compiles as on a
// fresh machine. The batch is random bytes: a step's time does not depend on the pixels.

import { parseArgs } from "node:util";
import { openColumns } from "../kernels/columns.ts";
import { AlexNet } from "../model/alexnet.ts";
import { configFor } from "../model/config.ts";
import { initParameters } from "../model/init.ts";
import { TrainStep } from "../model/step.ts";
import { rng } from "../reference/rand.ts";
import type { ColdStart } from "./_e2e_report.ts";
import { preferFastSoftwareCompiles } from "../model/software.ts";

export type { ColdStart };

/** Opens columns, creates the network and runs two steps, timing each part. */
export async function coldStart(name: string, batch: number, count: 1 | 2): Promise<ColdStart> {
  let t = performance.now();
  const lap = () => {
    const now = performance.now(), ms = now - t;
    t = now;
    return ms;
  };
  const { columns, destroy } = await openColumns({ count });
  const openMs = lap();
  try {
    const config = configFor(name, 10);
    const net = await AlexNet.create({ config, batch, columns });
    net.writeParameters(initParameters(config, 1, { scheme: "kaiming" }));
    net.clearMomentum();
    const S = config.storedSize;
    const step = await TrainStep.create(net, { mean: new Float32Array(3 * S * S).fill(128) });
    const createMs = lap();
    const r = rng(1);
    const batchOf = () => ({
      images: Uint8Array.from({ length: batch * S * S * 3 }, () => Math.floor(r() * 256)),
      labels: Int32Array.from({ length: batch }, (_, i) => i % 10),
      size: batch,
    });
    const times: number[] = [];
    for (let i = 0; i < 2; i++) {
      const b = batchOf();
      lap();
      await step.run(b, { step: i, hyper: { lr: 0.01 } });
      times.push(lap());
    }
    const pipelines = columns.map((c) => c.pipelineCount);
    step.dispose();
    net.dispose();
    return {
      config: name,
      batch,
      columns: count,
      openMs,
      createMs,
      firstStepMs: times[0],
      secondStepMs: times[1],
      pipelines,
    };
  } finally {
    destroy();
  }
}

if (import.meta.main) {
  preferFastSoftwareCompiles(); // as the train command line does (model/software.ts)
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      config: { type: "string", default: "tiny" },
      batch: { type: "string", default: "32" },
      columns: { type: "string", default: "2" },
    },
  });
  const r = await coldStart(values.config, Number(values.batch), values.columns === "1" ? 1 : 2);
  console.log(JSON.stringify(r));
}
