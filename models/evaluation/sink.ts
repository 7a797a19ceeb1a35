/**
 * Where an evaluation experiment sends what it produces: log lines, result rows and progress. A pipeline
 * stage passes its own context's (`stageSink` in `stages/eval_common.ts`); a test passes plain arrays.
 *
 * @module
 */

/**
 * The small surface an experiment function writes through, instead of the whole stage context.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const sink: ExperimentSink = {
 *   log: (m) => lines.push(m),
 *   rows: () => Promise.resolve(),
 *   progress: () => {},
 * };
 * ```
 */
export interface ExperimentSink {
  /** Writes one line to the log. */
  log(message: string): void;
  /** Appends rows to a result table. */
  rows(table: string, rows: Record<string, unknown>[]): Promise<void>;
  /** Reports progress on long work (`done` of `total` units). */
  progress(done: number, total: number, label?: string): void;
  /** Aborts the experiment's runs when fired. */
  signal?: AbortSignal;
}
