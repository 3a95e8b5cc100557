// Headless Chromium with WebGPU for the browser test and the browser bench (Deno side:
// it drives the browser through puppeteer-core; no browser is downloaded).

import puppeteer, { type Browser } from "puppeteer-core";

/** The Chromium binary: $CHROMIUM, else Debian's /usr/bin/chromium. */
export const CHROMIUM: string = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/**
 * Launches headless Chromium with WebGPU enabled (on a machine without a GPU its
 * adapter is SwiftShader), or throws saying how to install it.
 *
 * @example
 * ```ts ignore
 * const browser = await launchChromium();
 * const page = await browser.newPage();
 * ```
 */
export async function launchChromium(): Promise<Browser> {
  if (!(await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false))) {
    throw new Error(
      `${CHROMIUM} not found: the browser test and bench need Chromium. Install it with ` +
        "`apt-get install chromium` (or run .ci/install), or set CHROMIUM=/path/to/chrome",
    );
  }
  // deno task passes "${XDG_RUNTIME_DIR:-/tmp}" through unexpanded; Chromium's dconf
  // would create that relative folder in the working directory.
  const runtimeDir = Deno.env.get("XDG_RUNTIME_DIR");
  const env = { ...Deno.env.toObject() };
  if (!runtimeDir?.startsWith("/")) env.XDG_RUNTIME_DIR = "/tmp";
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    env,
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--window-size=1240,1000"],
    defaultViewport: { width: 1240, height: 1000 },
    protocolTimeout: 600_000, // a first step on SwiftShader compiles for over a minute
  });
}
