/**
 * The DuckDB results store: one file `<resultsDir>/lopt.duckdb` holding the pipeline's bookkeeping
 * (`stage_runs`, `artifacts`), the bench harness's rows (`bench`) and every stage's result tables (each
 * with `run_key VARCHAR` as first column). The core schema lives in `results/schema/NNN_name.sql`
 * migrations, applied in order when the store is opened writable.
 *
 * Only one process may hold the file writable (the pipeline parent, or the bench runner); readers open it
 * read-only. All calls on one store are serialized; {@link ResultsStore.transaction} groups calls
 * atomically.
 *
 * @example
 * ```ts
 * import { ResultsStore } from "./store.ts";
 * const store = await ResultsStore.open("results", { readOnly: true });
 * console.log((await store.query("SELECT stage, status FROM stage_runs")).rows);
 * await store.close();
 * ```
 *
 * @module
 */

import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { AsyncLocalStorage } from "node:async_hooks";
import { join, resolve } from "node:path";
import { openDatabase, type OpenOptions } from "./db_file.ts";
import { DB_FILE } from "./results_dir.ts";
import { type QueryResult, queryResultOf, quoteIdent, statementTypes } from "./duck_values.ts";
import { Mutex } from "./mutex.ts";
import * as resultTables from "./result_tables.ts";
import {
  appendRowFile,
  appendRows,
  type ColumnInfo,
  loadInferredRowFiles,
  tableColumns,
} from "./row_loader.ts";
import * as runs from "./run_records.ts";
import type { TableSpec } from "./stage.ts";

/**
 * The DuckDB results store. Create with {@link ResultsStore.open}; call {@link ResultsStore.close} when done.
 *
 * @example
 * ```ts
 * const store = await ResultsStore.open("results");
 * await store.insertRows("bench", [{ name: "x" }]);
 * await store.close();
 * ```
 */
export class ResultsStore {
  /** Absolute results directory. */
  readonly resultsDir: string;
  /** Absolute path of the DuckDB file. */
  readonly dbPath: string;
  /** Whether the store was opened read-only. */
  readonly readOnly: boolean;
  /** Highest applied schema migration version (0 when none). */
  schemaVersion = 0;
  /** Highest migration version known to this code. */
  latestSchemaVersion = 0;

  #instance: DuckDBInstance;
  #conn: DuckDBConnection;
  #log: (message: string) => void;
  #mutex = new Mutex();
  #inside = new AsyncLocalStorage<true>();
  #inTx = false;
  #closed = false;
  #columns = new Map<string, ColumnInfo[] | null>();

  private constructor(
    resultsDir: string,
    dbPath: string,
    readOnly: boolean,
    instance: DuckDBInstance,
    conn: DuckDBConnection,
    log: (message: string) => void,
  ) {
    this.resultsDir = resultsDir;
    this.dbPath = dbPath;
    this.readOnly = readOnly;
    this.#instance = instance;
    this.#conn = conn;
    this.#log = log;
  }

  /**
   * Opens (creating when writable) `<resultsDir>/lopt.duckdb`. Writable: creates the directory and applies
   * pending migrations. Read-only: fails with "no results yet in DIR" when the file does not exist.
   */
  static async open(resultsDir: string, opts: OpenOptions = {}): Promise<ResultsStore> {
    const dir = resolve(resultsDir);
    const dbPath = join(dir, DB_FILE);
    const readOnly = opts.readOnly ?? false;
    const log = opts.log ?? ((m: string) => console.error(m));
    if (readOnly) {
      try {
        await Deno.stat(dbPath);
      } catch {
        throw new Error(`no results yet in ${dir}: run \`deno task pipeline\` first`);
      }
    } else {
      await Deno.mkdir(dir, { recursive: true });
    }
    const db = await openDatabase(dbPath, { ...opts, readOnly, log });
    const store = new ResultsStore(dir, dbPath, readOnly, db.instance, db.conn, log);
    store.schemaVersion = db.schemaVersion;
    store.latestSchemaVersion = db.latestSchemaVersion;
    return store;
  }

  /** Runs `fn` holding the store's lock (re-entrant within the same async flow). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the results store is closed"));
    if (this.#inside.getStore()) return fn();
    return this.#mutex.run(() => this.#inside.run(true, fn));
  }

  #assertWritable(op: string): void {
    if (this.readOnly) throw new Error(`${op}: the results store is open read-only`);
  }

  /** Runs `fn` holding the lock, refusing it (named `op`) on a read-only store. */
  #write<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return this.#exclusive(() => {
      this.#assertWritable(op);
      return fn();
    });
  }

  /** Columns of a main-schema table, or null when it does not exist (cached). */
  async #tableColumns(table: string): Promise<ColumnInfo[] | null> {
    if (!this.#columns.has(table)) this.#columns.set(table, await tableColumns(this.#conn, table));
    return this.#columns.get(table)!;
  }

  /**
   * Creates the given stage result tables (`run_key VARCHAR` first, then the declared columns). A table
   * that exists with other columns or types is dropped and recreated empty, and a notice says so: its rows
   * must be re-ingested from the artifacts (`recreated` lists them).
   */
  ensureTables(tables: TableSpec[]): Promise<resultTables.EnsureTablesResult> {
    return this.#write("ensureTables", async () => {
      resultTables.checkTableSpecs(tables);
      const result = await this.#tx(() => resultTables.syncResultTables(this.#conn, tables));
      for (const t of tables) this.#columns.delete(t.name);
      for (const n of result.notices) this.#log(n);
      await resultTables.mergeTablesFile(this.resultsDir, tables, this.#log);
      return result;
    });
  }

  /**
   * Marks the run of (stage, key) `running`, started now: inserts its `stage_runs` row, or replaces one that
   * is not `success`. A `success` row describes the run that produced the published artifact of the key and
   * stays until {@link loadArtifact} replaces it, so a rerun that fails or is interrupted leaves it as it was.
   */
  beginRun(r: runs.BeginRun): Promise<void> {
    return this.#write("beginRun", () => runs.beginRunRow(this.#conn, r));
  }

  /**
   * Sets the final status of a run begun with {@link beginRun}, with `ended_at` and `seconds`. Only a
   * `running` row changes (a `success` row kept by {@link beginRun} stays); throws when (stage, key) has no
   * row at all.
   */
  finishRun(r: runs.FinishRun): Promise<void> {
    return this.#write("finishRun", () => runs.finishRunRow(this.#conn, r));
  }

  /**
   * Marks every `running` row `interrupted` (with the time it was found). The pipeline calls it after
   * opening the database and before it starts any stage: it holds the database alone, so such a row
   * belongs to a process that is gone. Returns the rows it marked.
   */
  markInterrupted(): Promise<{ stage: string; key: string; pid: number | null }[]> {
    return this.#write("markInterrupted", () => runs.markRunningInterrupted(this.#conn));
  }

  /** Inserts or replaces the `artifacts` row of (stage, key), created now. */
  recordArtifact(a: runs.ArtifactRecord): Promise<void> {
    return this.#write("recordArtifact", () => runs.artifactRow(this.#conn, a));
  }

  /**
   * Loads one published artifact into the database in one transaction: deletes the rows of its key from
   * each of the stage's tables, appends the rows of each table's NDJSON file (in chunks, all inside the
   * transaction), writes the `artifacts` row and, unless `run` is null, the `success` row of `stage_runs`,
   * then runs `beforeCommit`. Any failure (a bad row, `beforeCommit` throwing, the process dying) leaves
   * the database as it was.
   */
  loadArtifact(l: runs.ArtifactLoad): Promise<void> {
    return this.#exclusive(() =>
      this.#tx(async () => {
        this.#assertWritable("loadArtifact");
        const { stage, key } = l.artifact;
        for (const t of l.tables) {
          const cols = await this.#tableColumns(t.name);
          if (!cols) {
            throw new Error(`loadArtifact: unknown table ${t.name}: declare it in the stage's tables`);
          }
          await this.#conn.run(`DELETE FROM ${quoteIdent(t.name)} WHERE run_key = $1`, [key]);
          if (t.file === null) continue;
          try {
            await appendRowFile(this.#conn, t.name, cols, t.file, key);
          } catch (e) {
            if (e instanceof Deno.errors.NotFound) continue;
            throw e;
          }
        }
        await runs.artifactRow(this.#conn, l.artifact);
        if (l.run) await runs.successRunRow(this.#conn, stage, key, l.run);
        if (l.beforeCommit) await l.beforeCommit();
      })
    );
  }

  /**
   * Removes what the database holds for keys of `stage` that have no published artifact: their rows in
   * `tables`, their `artifacts` rows and their `success` rows of `stage_runs` (rows of failed or interrupted
   * runs stay), in one transaction.
   */
  forgetKeys(stage: string, tables: string[], keys: string[]): Promise<void> {
    return this.#write("forgetKeys", async () => {
      if (keys.length === 0) return;
      await this.#tx(async () => {
        for (const key of keys) {
          await this.#deleteKeyRows(tables, key);
          await runs.forgetPublished(this.#conn, stage, key);
        }
      });
    });
  }

  /**
   * Loads NDJSON row files into a stage result table, each file's rows with its key: with the declared
   * column types when the table exists and every row fits them (all files or none), else into the table
   * recreated with the types DuckDB infers from the files (rows written under an older declaration).
   */
  loadRowFiles(table: string, files: { path: string; key: string }[]): Promise<void> {
    return this.#write("loadRowFiles", async () => {
      const cols = await this.#tableColumns(table);
      if (cols) {
        try {
          return await this.#tx(async () => {
            for (const f of files) await appendRowFile(this.#conn, table, cols, f.path, f.key);
          });
        } catch { /* not of the declared types: inferred below */ }
      }
      this.#columns.delete(table);
      await loadInferredRowFiles(this.#conn, table, files);
    });
  }

  /** Row counts by `run_key` of a stage result table (empty when the table does not exist). */
  rowCounts(table: string): Promise<Map<string, number>> {
    return this.#exclusive(async () => {
      const out = new Map<string, number>();
      const cols = await this.#tableColumns(table);
      if (!cols || cols[0]?.name !== "run_key") return out;
      const r = await this.#conn.runAndReadAll(
        `SELECT run_key, count(*) FROM ${quoteIdent(table)} GROUP BY run_key`,
      );
      for (const [k, n] of r.getRowsJS()) out.set(String(k), Number(n));
      return out;
    });
  }

  /** The `artifacts` and `stage_runs` bookkeeping of a stage's keys, by key. */
  bookkeeping(stage: string): Promise<Map<string, runs.KeyBookkeeping>> {
    return this.#exclusive(() => runs.keyBookkeeping(this.#conn, stage));
  }

  /**
   * Appends rows to a stage result table with `run_key = key` (atomically, via DuckDB's appender). Missing
   * columns become NULL; an unknown column or a value of the wrong type fails with the table and column
   * named. JSON columns take any value (stored as `JSON.stringify(value)`); timestamp columns take a Date,
   * an ISO string or epoch milliseconds.
   */
  appendRows(table: string, key: string, rows: Record<string, unknown>[]): Promise<void> {
    return this.#exclusive(() => this.#append(table, rows, key));
  }

  /**
   * Appends rows to any table (no `run_key` handling), e.g. the `bench` table. Same value rules as
   * {@link appendRows}.
   */
  insertRows(table: string, rows: Record<string, unknown>[]): Promise<void> {
    return this.#exclusive(() => this.#append(table, rows, undefined));
  }

  async #append(table: string, rows: Record<string, unknown>[], key: string | undefined): Promise<void> {
    this.#assertWritable("appendRows");
    if (rows.length === 0) return;
    const cols = await this.#tableColumns(table);
    if (!cols) {
      throw new Error(
        `appendRows: unknown table ${table}: declare it in the stage's tables so it is created`,
      );
    }
    await this.#tx(() => appendRows(this.#conn, table, cols, rows, key));
  }

  /** Deletes the rows with `run_key = key` from the given tables (missing tables are skipped), atomically. */
  deleteRows(tables: string[], key: string): Promise<void> {
    return this.#write("deleteRows", () => this.#tx(() => this.#deleteKeyRows(tables, key)));
  }

  async #deleteKeyRows(tables: string[], key: string): Promise<void> {
    for (const t of tables) {
      if (!(await this.#tableColumns(t))) continue;
      await this.#conn.run(`DELETE FROM ${quoteIdent(t)} WHERE run_key = $1`, [key]);
    }
  }

  /** Whether the table exists and holds at least one row with `run_key = key`. */
  hasRows(table: string, key: string): Promise<boolean> {
    return this.#exclusive(async () => {
      const cols = await this.#tableColumns(table);
      if (!cols || !cols.some((c) => c.name === "run_key")) return false;
      const sql = `SELECT 1 FROM ${quoteIdent(table)} WHERE run_key = $1 LIMIT 1`;
      const r = await this.#conn.runAndReadAll(sql, [key]);
      return r.currentRowCount > 0;
    });
  }

  /**
   * Runs SQL and converts values to plain JS. Several statements are allowed: all of them run, in order,
   * and the FIRST statement's result is returned (DuckDB's `runAndReadAll` reads the first result).
   */
  query(sql: string): Promise<QueryResult> {
    return this.#exclusive(async () => {
      try {
        return queryResultOf(await this.#conn.runAndReadAll(sql));
      } finally {
        this.#columns.clear();
      }
    });
  }

  /**
   * The DuckDB statement types of the statements in `sql`, in order (`SELECT`, `PRAGMA`, `SET`, ...), found
   * by preparing each without running it; null when DuckDB cannot prepare one (the query then reports the
   * error). A `PRAGMA` that reads (`PRAGMA table_info`, `PRAGMA version`) is prepared as a `SELECT`; only
   * those that change settings keep the type `PRAGMA`.
   */
  statementTypes(sql: string): Promise<string[] | null> {
    return this.#exclusive(() => statementTypes(this.#conn, sql));
  }

  /**
   * Lists the columns of the database's tables (main schema; no system or temp tables), in order, with
   * their comments.
   */
  schema(): Promise<resultTables.SchemaColumn[]> {
    return this.#exclusive(() => resultTables.listSchema(this.#conn));
  }

  /**
   * Runs `fn` in one DuckDB transaction: committed when it resolves, rolled back when it throws. Store calls
   * made inside `fn` join the transaction; calls from elsewhere wait until it ends. Nested calls join the
   * outer transaction.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.#exclusive(() => this.#tx(fn));
  }

  /** Transaction body; must run holding the lock. */
  async #tx<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#inTx) return await fn();
    await this.#conn.run("BEGIN TRANSACTION");
    this.#inTx = true;
    try {
      const out = await fn();
      await this.#conn.run("COMMIT");
      return out;
    } catch (e) {
      this.#columns.clear();
      try {
        await this.#conn.run("ROLLBACK");
      } catch { /* already aborted */ }
      throw e;
    } finally {
      this.#inTx = false;
    }
  }

  /** Closes the connection and the database (waits for calls in flight). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#mutex.run(() => Promise.resolve());
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.closeSync();
    this.#instance.closeSync();
  }
}
