// `deno task filters --checkpoint DIR --out conv1.png`: the conv1 kernels of each column
// as a mosaic PNG, and each column's colour saturation (viz/filters.ts defines it) on
// stdout, so a run can say with a number whether its columns specialised as the
// paper's did. Exit codes: 0 done, 1 the checkpoint could not be read or the image not
// written, 2 bad command line.

import { reportError, UsageError } from "../errors.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { intFlag, parseFlags } from "../flags.ts";
import { type ColumnSaturation, conv1FromCheckpoint, renderFilters } from "./filters.ts";

const HELP = `Draw the conv1 kernels of a checkpoint, one block per column.

Usage: deno task filters --checkpoint DIR [--out conv1.png] [options]

  --checkpoint DIR   a checkpoint folder written by deno task train (e.g. out/train/checkpoint)
  --out FILE         PNG to write (default conv1.png)
  --scale N          upscale factor per kernel pixel (default: ~48 px per kernel)
  --gap N            pixels between kernels (default 4)
  --json             print the saturation figures as JSON instead of a table
  --help             this text

Each kernel is normalised on its own (its min -> 0, max -> 255 over all three channels).
"saturation" is a kernel's chromatic energy fraction: 0 = grey, 1 = pure colour
variation; untrained random kernels score ~0.67, so a column well below that has
become colour-agnostic and one above it colourful.
`;

/** A one-line summary per column: mean, median, colourful count. */
export function saturationTable(sat: readonly ColumnSaturation[]): string {
  return sat.map((s) =>
    `column ${s.column}: mean saturation ${s.mean.toFixed(3)}, median ${s.median.toFixed(3)}, ` +
    `${s.colourful}/${s.count} kernels above 0.5`
  ).join("\n");
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  let scale: number | undefined, gap: number | undefined;
  try {
    ({ values } = parseFlags({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        checkpoint: { type: "string" },
        out: { type: "string" },
        scale: { type: "string" },
        gap: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
    if (!values.help && !values.checkpoint) throw new UsageError("--checkpoint DIR is required");
    scale = intFlag("scale", values.scale, 1, 64);
    gap = intFlag("gap", values.gap, 0, 64);
  } catch (e) {
    return reportError(
      "filters",
      e instanceof UsageError ? e : new UsageError((e as Error).message),
    );
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const out = values.out ?? "conv1.png";
  try {
    const ck = await loadCheckpoint(values.checkpoint!);
    const { png, mosaic, saturation } = await renderFilters(conv1FromCheckpoint(ck), {
      scale,
      gap,
    });
    await Deno.writeFile(out, png);
    if (values.json) {
      console.log(JSON.stringify(
        saturation.map(({ column, count, mean, median, colourful }) => ({
          column,
          count,
          mean,
          median,
          colourful,
        })),
      ));
    } else {
      console.log(saturationTable(saturation));
      console.log(`wrote ${out} (${mosaic.width}x${mosaic.height})`);
    }
    return 0;
  } catch (e) {
    return reportError("filters", e);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
