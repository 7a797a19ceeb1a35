/**
 * The small sink an experiment reports to: log lines, result rows and progress. A stage passes its
 * `StageContext` (which has these three), a test or script a plain object, so experiments do not depend on
 * the pipeline.
 *
 * @module
 */

/** Where an experiment sends log lines, result rows and progress. */
export interface ResultSink {
  /** One line for the log. */
  log(message: string): void;
  /** Appends rows to a result table. */
  writeRows(table: string, rows: Record<string, unknown>[]): Promise<void>;
  /** `done` of `total` units of work. */
  progress(done: number, total: number, label?: string): void;
}
