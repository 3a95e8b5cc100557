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
