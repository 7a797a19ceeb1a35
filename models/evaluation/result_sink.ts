/**
 * The small sink an experiment reports to: log lines, result rows and progress. A stage passes its own
 * (`StageContext` has these three), a test or script a plain object, so experiments do not depend on the
 * pipeline.
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

/**
 * A sink that keeps rows in memory and drops log lines and progress (tests, scripts).
 *
 * @example
 * ```ts
 * const sink = memorySink();
 * await sink.writeRows("runs", [{ loss: 1 }]);
 * sink.tables.get("runs"); // [{ loss: 1 }]
 * ```
 */
export function memorySink(): ResultSink & {
  tables: Map<string, Record<string, unknown>[]>;
  lines: string[];
} {
  const tables = new Map<string, Record<string, unknown>[]>();
  const lines: string[] = [];
  return {
    tables,
    lines,
    log: (m) => void lines.push(m),
    writeRows: (t, rows) => {
      tables.set(t, [...(tables.get(t) ?? []), ...rows]);
      return Promise.resolve();
    },
    progress: () => {},
  };
}
