// Progress for long preparations: a redrawn bar with images/s and ETA on a terminal,
// plain lines (at most one every few seconds) when stderr is a file or pipe.

/** Formats seconds as h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/**
 * A progress reporter over a known number of items.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const p = new Progress(100, "train", { quiet: true });
 * p.tick(10);
 * p.done();
 * ```
 */
export class Progress {
  readonly total: number;
  readonly label: string;
  #done = 0;
  #start = performance.now();
  #lastDraw = 0;
  #tty: boolean;
  #quiet: boolean;
  #interval: number;

  /** `tty` defaults to whether stderr is a terminal; `quiet` prints nothing. */
  constructor(total: number, label: string, opts: { tty?: boolean; quiet?: boolean } = {}) {
    this.total = total;
    this.label = label;
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#quiet = opts.quiet ?? false;
    this.#interval = this.#tty ? 100 : 5000;
  }

  /** Items finished so far. */
  get count(): number {
    return this.#done;
  }

  /** Items per second since the start. */
  get rate(): number {
    return this.#done / Math.max((performance.now() - this.#start) / 1000, 1e-9);
  }

  /** Marks `n` more items done; redraws when due. */
  tick(n = 1): void {
    this.#done += n;
    const now = performance.now();
    if (now - this.#lastDraw >= this.#interval) {
      this.#lastDraw = now;
      this.#draw(false);
    }
  }

  /** Prints the final line. */
  done(): void {
    this.#draw(true);
  }

  /** One status line (without bar). */
  line(): string {
    const pct = this.total > 0 ? (100 * this.#done) / this.total : 100;
    const rate = this.rate;
    const eta = rate > 0 ? (this.total - this.#done) / rate : Infinity;
    return `${this.label} ${this.#done}/${this.total} ${pct.toFixed(1)}% ` +
      `${rate.toFixed(1)} img/s ETA ${formatDuration(eta)}`;
  }

  #draw(final: boolean): void {
    if (this.#quiet) return;
    const enc = new TextEncoder();
    if (this.#tty) {
      const width = 30;
      const fill = this.total > 0 ? Math.round((width * this.#done) / this.total) : width;
      const bar = "#".repeat(fill) + "-".repeat(width - fill);
      Deno.stderr.writeSync(enc.encode(`\r[${bar}] ${this.line()}\x1b[K${final ? "\n" : ""}`));
    } else {
      Deno.stderr.writeSync(enc.encode(this.line() + "\n"));
    }
  }
}

/**
 * Seconds per item over the most recent items only, for an ETA that follows the
 * current speed: a first step that compiles shaders for half a minute, or a machine
 * that got busier, stops counting once `window` newer items are in. The first
 * `skip` samples (warm-up) are left out.
 *
 * @example
 * ```ts
 * import { RecentRate } from "./progress.ts";
 * const r = new RecentRate({ window: 3, skip: 1 });
 * for (const s of [30, 1, 1, 2]) r.add(s); // the 30 s warm-up is skipped
 * r.secondsPerItem; // (1 + 1 + 2) / 3
 * r.eta(10); // 10 items left: ~13.3 s
 * ```
 */
export class RecentRate {
  #window: number;
  #skip: number;
  #seen = 0;
  #samples: number[] = [];

  /** `window` samples are averaged (default 20); the first `skip` are ignored (default 1). */
  constructor(opts: { window?: number; skip?: number } = {}) {
    this.#window = opts.window ?? 20;
    this.#skip = opts.skip ?? 1;
  }

  /** Records one item's seconds. */
  add(seconds: number): void {
    if (this.#seen++ < this.#skip) return;
    this.#samples.push(seconds);
    if (this.#samples.length > this.#window) this.#samples.shift();
  }

  /** Mean seconds per item over the window; undefined before the first counted sample. */
  get secondsPerItem(): number | undefined {
    const n = this.#samples.length;
    return n === 0 ? undefined : this.#samples.reduce((a, b) => a + b, 0) / n;
  }

  /** Seconds for `items` more at the recent rate; undefined while unknown. */
  eta(items: number): number | undefined {
    const s = this.secondsPerItem;
    return s === undefined ? undefined : s * items;
  }
}
