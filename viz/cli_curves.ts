// `deno task curves --run DIR --out curves.png`: a run's loss, error and learning rate
// against epochs, from DIR/metrics.jsonl, as a PNG chart (and optionally its SVG).
// Exit codes: 0 done, 1 the log could not be read or the image not written, 2 bad
// command line.

import { reportError, UsageError } from "../errors.ts";
import { curvesSvg, type MetricsLog, readMetricsLog } from "./curves.ts";
import { intFlag, parseFlags } from "../flags.ts";

const HELP = `Plot a training run's curves: loss, top-1/top-5 error, learning rate.

Usage: deno task curves --run DIR [--out curves.png] [options]

  --run DIR          the run's output folder (holding metrics.jsonl), or the .jsonl file
  --out FILE         PNG to write (default curves.png)
  --svg FILE         also write the SVG
  --width N          image width in pixels (default 900, at least 500)
  --title TEXT       chart title
  --help             this text
`;

/** One line on what the log holds and where it ended. */
export function summary(log: MetricsLog): string {
  const last = log.evals.at(-1), lastEpoch = log.epochs.at(-1), lastStep = log.steps.at(-1);
  const pct = (v?: number) => v === undefined ? "?" : `${(100 * v).toFixed(1)}%`;
  return [
    `${log.steps.length} steps, ${log.epochs.length} epochs, ${log.evals.length} evaluations`,
    lastEpoch ? `last epoch: train loss ${lastEpoch.loss?.toFixed(4)}` : undefined,
    last
      ? `last validation: top-1 error ${pct(last.top1)}, top-5 error ${pct(last.top5)}`
      : lastStep
      ? `last step loss ${lastStep.loss?.toFixed(4)}`
      : undefined,
  ].filter(Boolean).join("; ");
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  let width: number | undefined;
  try {
    ({ values } = parseFlags({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        run: { type: "string" },
        out: { type: "string" },
        svg: { type: "string" },
        width: { type: "string" },
        title: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
    if (!values.help && !values.run) throw new UsageError("--run DIR is required");
    width = intFlag("width", values.width, 500, 8000);
  } catch (e) {
    return reportError(
      "curves",
      e instanceof UsageError ? e : new UsageError((e as Error).message),
    );
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const out = values.out ?? "curves.png";
  try {
    const log = await readMetricsLog(values.run!);
    for (const w of log.warnings) console.error(`curves: warning: ${w}`);
    const svg = curvesSvg(log, { width, title: values.title });
    if (values.svg) await Deno.writeTextFile(values.svg, svg);
    const { renderSvgPng } = await import("../data/decode.ts");
    await Deno.writeFile(out, await renderSvgPng(svg, { compact: true }));
    console.log(summary(log));
    console.log(`wrote ${out}${values.svg ? ` and ${values.svg}` : ""}`);
    return 0;
  } catch (e) {
    return reportError("curves", e);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
