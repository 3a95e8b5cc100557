// `deno run model/cli_config.ts --json <paper|small|tiny> [--classes N]`: prints a config
// as JSON, for the Python fixtures and peers (one source of truth for the topology).

import { configFor } from "./config.ts";

if (import.meta.main) {
  const args = Deno.args;
  const json = args.indexOf("--json");
  const classesAt = args.indexOf("--classes");
  if (json < 0 || !args[json + 1]) {
    console.error("usage: deno run model/cli_config.ts --json <paper|small|tiny> [--classes N]");
    Deno.exit(2);
  }
  const classes = classesAt >= 0 ? Number(args[classesAt + 1]) : undefined;
  try {
    console.log(JSON.stringify(configFor(args[json + 1], classes)));
  } catch (e) {
    console.error(`config: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
