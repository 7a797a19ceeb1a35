/**
 * Progress reporting for long stages: on a terminal a single redrawn line with a bar, rate and ETA (at most
 * ~10 redraws a second); otherwise plain lines at most every 5 seconds and at completion, e.g.
 * `[meta-train] 120/500 (24%) 3.1/s eta 2m03s`.
 *
 * @module
 */

/** Options of a {@link ProgressReporter}. */
export interface ProgressOptions {
  /** Draw a redrawn bar (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Where output goes (default: stderr). */
  write?: (text: string) => void;
  /** Clock in ms (default: `performance.now`). */
  now?: () => number;
  /** Minimum ms between plain lines (default 5000). */
  plainIntervalMs?: number;
  /** Minimum ms between terminal redraws (default 100). */
  ttyIntervalMs?: number;
}

/**
 * Formats seconds as `45s`, `2m03s` or `1h02m`.
 *
 * @example
 * ```ts
 * formatDuration(123); // "2m03s"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function formatRate(r: number): string {
  if (!Number.isFinite(r)) return "?";
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toPrecision(2);
}

/**
 * Reports progress of one named task.
 *
 * @example
 * ```ts
 * const progress = new ProgressReporter("meta-train", { tty: false });
 * progress.update(120, 500, "meta-steps"); // "[meta-train] meta-steps 120/500 (24%) ..."
 * ```
 */
export class ProgressReporter {
  readonly #name: string;
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #plainMs: number;
  readonly #ttyMs: number;
  readonly #start: number;
  #updated = false;
  #lastDraw = -Infinity;
  #done = 0;
  #total = 0;
  #label = "";
  #finished = false;

  /** A reporter printing lines prefixed by `[name]`; rates count from its creation. */
  constructor(name: string, opts: ProgressOptions = {}) {
    this.#name = name;
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    const enc = new TextEncoder();
    this.#write = opts.write ?? ((t) => Deno.stderr.writeSync(enc.encode(t)));
    this.#now = opts.now ?? (() => performance.now());
    this.#plainMs = opts.plainIntervalMs ?? 5000;
    this.#ttyMs = opts.ttyIntervalMs ?? 100;
    this.#start = this.#now();
  }

  /** The text of the current status line (without bar). */
  line(): string {
    const elapsed = (this.#now() - this.#start) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : NaN;
    const pct = this.#total > 0 ? Math.floor((100 * this.#done) / this.#total) : 0;
    const eta = rate > 0 ? formatDuration((this.#total - this.#done) / rate) : "?";
    const label = this.#label ? ` ${this.#label}` : "";
    return `[${this.#name}]${label} ${this.#done}/${this.#total} (${pct}%) ${formatRate(rate)}/s eta ${eta}`;
  }

  /** Records `done` of `total`; prints when the throttle allows or when complete. */
  update(done: number, total: number, label?: string): void {
    if (this.#finished) return;
    const now = this.#now();
    this.#updated = true;
    this.#done = done;
    this.#total = total;
    if (label !== undefined) this.#label = label;
    const complete = total > 0 && done >= total;
    if (complete) return this.finish();
    if (now - this.#lastDraw < (this.#tty ? this.#ttyMs : this.#plainMs)) return;
    this.#lastDraw = now;
    this.#draw();
  }

  /**
   * Marks the task complete — `total` of `total`, 100 % — and prints it, e.g. when the last units were
   * skipped (a missing dataset) and no progress call counted them. Idempotent.
   */
  complete(): void {
    if (this.#finished || !this.#updated) return;
    if (this.#total > 0) this.#done = this.#total;
    this.finish();
  }

  /** Prints the current state as final (a newline ends the terminal bar). Idempotent. */
  finish(): void {
    if (this.#finished || !this.#updated) return;
    this.#finished = true;
    if (this.#tty) this.#write(`\r\x1b[K${this.#bar()}\n`);
    else this.#write(this.line() + "\n");
  }

  /** Clears the terminal bar line so other output can be printed (no-op for plain output). */
  clear(): void {
    if (this.#tty && !this.#finished && this.#updated) this.#write("\r\x1b[K");
  }

  #bar(): string {
    const width = 20;
    const frac = this.#total > 0 ? Math.min(1, this.#done / this.#total) : 0;
    const fill = Math.round(frac * width);
    const text = this.line();
    const head = text.indexOf("] ") + 2;
    return `${text.slice(0, head)}[${"#".repeat(fill)}${".".repeat(width - fill)}] ${text.slice(head)}`;
  }

  #draw(): void {
    if (this.#tty) this.#write(`\r\x1b[K${this.#bar()}`);
    else this.#write(this.line() + "\n");
  }
}
