// `deno task web`: serves the page (web/index.html, and web/app.ts bundled for the
// browser by `deno bundle`) on 127.0.0.1, with the prepared synthetic set under /data/
// (generated into out/data/synthetic-36 on first use, as `deno task train` does) and,
// with --checkpoint DIR, that checkpoint under /checkpoint/ (the page opens it).
// Files are served read-only from those folders; nothing else of the disk is reachable.

import { parseFlags } from "../flags.ts";
import { reportError, UsageError } from "../errors.ts";

const HELP = `Serve the browser page: classify with a checkpoint, train tiny live.

Usage: deno task web [options]

  --port N           port on 127.0.0.1 (default 8036; 0: any free port)
  --data DIR         a prepared dataset to train on (default: the synthetic set, 36 px)
  --checkpoint DIR   also serve this checkpoint; the page opens it at start
  --help             this text
`;

/** Options of {@link serveWeb}. */
export interface WebOptions {
  /** Port on 127.0.0.1 (default 8036; 0 picks a free one). */
  port?: number;
  /** Prepared dataset folder served under /data/ (default: the synthetic set, generated if missing). */
  data?: string;
  /** Checkpoint folder served under /checkpoint/. */
  checkpoint?: string;
}

/** A running server. */
export interface WebServer {
  /** The page's URL (with ?checkpoint= when a checkpoint is served). */
  url: string;
  /** The server's root URL. */
  origin: string;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Stops the server. */
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  png: "image/png",
};

/**
 * Bundles the page script for the browser with `deno bundle` (the library entry and
 * the pure viz helpers; no `node:` or `npm:` module).
 *
 * @example
 * ```ts ignore
 * const js = await bundlePage(); // the text of app.js
 * ```
 */
export async function bundlePage(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "alexnet-web-" });
  try {
    const out = `${dir}/app.js`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "-o", out, "web/app.ts"],
      cwd: new URL("../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code !== 0) {
      throw new Error(`deno bundle web/app.ts failed:\n${new TextDecoder().decode(r.stderr)}`);
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Starts the page's server (see the file header).
 *
 * @example
 * ```ts ignore
 * const server = await serveWeb({ port: 0, checkpoint: "out/train/checkpoint" });
 * console.log(server.url);
 * await server.close();
 * ```
 */
export async function serveWeb(options: WebOptions = {}): Promise<WebServer> {
  let data = options.data;
  if (!data) {
    const { ensureSynthetic } = await import("../data/synthetic.ts");
    data = await ensureSynthetic({ size: 36 });
  }
  const app = await bundlePage();
  const page = await Deno.readTextFile(new URL("./index.html", import.meta.url));
  const mounts: [string, string][] = [["/data/", data]];
  if (options.checkpoint) mounts.push(["/checkpoint/", options.checkpoint]);
  const reply = (body: BodyInit, type: string) =>
    new Response(body, { headers: { "content-type": type, "cache-control": "no-store" } });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 8036,
    onListen: () => {},
  }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path === "/" || path === "/index.html") return reply(page, TYPES.html);
    if (path === "/app.js") return reply(app, TYPES.js);
    for (const [prefix, dir] of mounts) {
      if (!path.startsWith(prefix)) continue;
      const name = path.slice(prefix.length);
      // One plain file name: no subfolders, no "..", nothing hidden.
      if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) break;
      try {
        const file = await Deno.open(`${dir}/${name}`);
        const type = TYPES[name.split(".").pop()!] ?? "application/octet-stream";
        return new Response(file.readable, { headers: { "content-type": type } });
      } catch {
        break;
      }
    }
    return new Response(`not found: ${path}\n`, { status: 404 });
  });
  const origin = `http://127.0.0.1:${server.addr.port}/`;
  return {
    url: options.checkpoint ? `${origin}?checkpoint=/checkpoint/` : origin,
    origin,
    finished: server.finished,
    close: () => server.shutdown(),
  };
}

/** Runs the command line; returns the exit code once the server stops (Ctrl-C). */
export async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseFlags({
      args,
      strict: true,
      options: {
        port: { type: "string" },
        data: { type: "string" },
        checkpoint: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const port = values.port === undefined ? 8036 : Number(values.port);
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new UsageError(`--port must be an integer in 0..65535, got "${values.port}"`);
    }
    for (const k of ["data", "checkpoint"] as const) {
      const dir = values[k];
      if (dir && !(await Deno.stat(dir).then((s) => s.isDirectory, () => false))) {
        throw new UsageError(`--${k} must be a folder, got "${dir}"`);
      }
    }
    const server = await serveWeb({ port, data: values.data, checkpoint: values.checkpoint });
    console.log(`alexnet-webgpu page: ${server.url}`);
    console.log(
      "open it in a browser with WebGPU (Chrome/Edge, or Chromium with --enable-unsafe-webgpu); Ctrl-C stops",
    );
    await server.finished;
    return 0;
  } catch (e) {
    return reportError("web", e);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
