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
 * @module
 */

import {
  type DuckDBConnection,
  DuckDBInstance,
  DuckDBTypeId,
  JSDuckDBValueConverter,
} from "@duckdb/node-api";
import type { DuckDBAppender, DuckDBResultReader, DuckDBValueConverter, JS } from "@duckdb/node-api";
import { AsyncLocalStorage } from "node:async_hooks";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PipelineError } from "./errors.ts";
import { ndjsonChunks } from "./ndjson.ts";
import type { TableSpec } from "./stage.ts";

/** File name of the results database inside the results directory. */
export const DB_FILE = "lopt.duckdb";

/** Directory holding the versioned schema migrations (`NNN_name.sql`). */
export const SCHEMA_DIR: string = fileURLToPath(new URL("../results/schema/", import.meta.url));

/**
 * File next to the database listing the declared stage result tables (a JSON array of `TableSpec`), written
 * by {@link ResultsStore.ensureTables}: readers that cannot open the database while a pipeline holds it
 * take exact column types and descriptions from it.
 */
export const TABLES_FILE = "tables.json";

/** Tables created by the migrations; stage result tables may not use these names. */
export const CORE_TABLES: readonly string[] = ["stage_runs", "artifacts", "bench", "schema_migrations"];

/** Options of {@link ResultsStore.open}. */
export interface OpenOptions {
  /** Open with DuckDB `access_mode = READ_ONLY` (no migrations; the file must exist). */
  readOnly?: boolean;
  /** Where the migrations live (default {@link SCHEMA_DIR}); tests point this elsewhere. */
  migrationsDir?: string;
  /** Receives notices (migrations applied, tables recreated). Default: `console.error`. */
  log?: (message: string) => void;
  /**
   * Writable only: when the file is damaged (not a DuckDB file, truncated, a block or WAL checksum that does
   * not match), move it aside as `lopt.duckdb.corrupt-<time>` (its WAL too), say so in one line through
   * `log`, and start an empty database, which the pipeline rebuilds from the artifacts. Opening also reads
   * every block of every table once, so that damage is found now rather than by a later query. Default
   * false: a damaged file is an error.
   */
  moveAsideDamaged?: boolean;
}

/** One schema migration file. */
export interface Migration {
  /** Version number (the `NNN` prefix). */
  version: number;
  /** Name after the prefix, without `.sql`. */
  name: string;
  /** SQL text (may hold several statements). */
  sql: string;
}

/** What {@link ResultsStore.ensureTables} did. */
export interface EnsureTablesResult {
  /** Tables that did not exist and were created. */
  created: string[];
  /** Tables whose columns differed: dropped and recreated empty (their rows must be re-ingested). */
  recreated: string[];
  /** Human-readable lines describing the changes (also sent to the store's log). */
  notices: string[];
}

/** A query result converted to plain JS values. */
export interface QueryResult {
  /** Column names and DuckDB type names (`JSON` for JSON columns). */
  columns: { name: string; type: string }[];
  /** Rows as arrays of plain values (numbers, strings, booleans, null, arrays, objects). */
  rows: unknown[][];
}

/** A column of a user table as listed by {@link ResultsStore.schema}. */
export interface SchemaColumn {
  table: string;
  column: string;
  type: string;
  /** The column's comment (`COMMENT ON COLUMN`), or null. */
  description: string | null;
  /** The table's comment (`COMMENT ON TABLE`), or null. */
  tableDescription: string | null;
}

/** Description the store gives every stage result table's `run_key` column. */
export const RUN_KEY_DESCRIPTION = "artifact key of the stage run that wrote the row (stage_runs.key)";

/** Arguments of {@link ResultsStore.beginRun}. */
export interface BeginRun {
  stage: string;
  key: string;
  profile: string;
  params: unknown;
  gitCommit: string | null;
  pid: number;
  logPath: string;
}

/** Arguments of {@link ResultsStore.finishRun}. */
export interface FinishRun {
  stage: string;
  key: string;
  status: "success" | "failed" | "interrupted";
  error?: string;
}

/** Arguments of {@link ResultsStore.recordArtifact}. */
export interface ArtifactRecord {
  stage: string;
  key: string;
  profile: string;
  path: string;
  files: number;
  bytes: number;
  /** sha256 of the artifact's `manifest.json` (what {@link ResultsStore.loadArtifact} loaded). */
  manifestSha256?: string | null;
  /** When the artifact was published (default: now). */
  createdAt?: string;
}

/** The `stage_runs` row of a run that published an artifact (see {@link ResultsStore.loadArtifact}). */
export interface PublishedRun {
  profile: string;
  params: unknown;
  gitCommit: string | null;
  /** ISO time the run started, or null when unknown (then `started_at` is `ended` and `seconds` NULL). */
  started: string | null;
  /** ISO time the artifact was published. */
  ended: string;
  pid: number | null;
  logPath: string | null;
  /** The compute backend the run announced (`stage_runs.backend`), null when none or unknown. */
  backend?: string | null;
}

/** Arguments of {@link ResultsStore.loadArtifact}. */
export interface ArtifactLoad {
  /** The `artifacts` row (its `manifestSha256` identifies the manifest whose rows are loaded). */
  artifact: ArtifactRecord;
  /** Stage result tables of the stage and the NDJSON file holding each one's rows (null: no rows). */
  tables: { name: string; file: string | null }[];
  /** The `stage_runs` row to write with status `success`; null keeps the existing row. */
  run: PublishedRun | null;
  /** Runs last inside the transaction (e.g. renaming the artifact into place); if it throws, nothing is kept. */
  beforeCommit?: () => Promise<void>;
}

/** What {@link ResultsStore.bookkeeping} reports for one (stage, key). */
export interface KeyBookkeeping {
  /** sha256 of the manifest whose rows the database holds (`artifacts.manifest_sha256`), null when unknown. */
  manifestSha256: string | null;
  /** Whether an `artifacts` row exists. */
  artifact: boolean;
  /** `stage_runs.status`, or null when there is no row. */
  status: string | null;
}

/** DuckDB's message when another process holds the database file. */
const LOCK_CONFLICT = /Could not set lock on file/;
/** DuckDB messages that mean the file's content is damaged. */
const DAMAGE =
  /not a valid DuckDB database|Could not read enough bytes|Corrupt database file|Corrupt WAL file|checksum .* does not match|Failure while replaying WAL/i;
/** Open failures that come from the file system, not from the file's content. */
const ENVIRONMENT = /Permission denied|Read-only file system|No space left|Is a directory|Not a directory/i;

/** First line of a message. */
function firstLine(msg: string): string {
  return msg.split("\n")[0].trim();
}

/** A file-system-safe UTC time stamp, e.g. `20261202T052530Z`. */
function fileStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/** Whether a path exists (without following a final link). */
async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Resolves the results directory: the `--results` flag, else the `LOPT_RESULTS` environment variable,
 * else `./results`; returned as an absolute path.
 */
export function resolveResultsDir(flag?: string): string {
  const chosen = flag && flag.length > 0 ? flag : (Deno.env.get("LOPT_RESULTS") || "results");
  return resolve(Deno.cwd(), chosen);
}

/** Reads the `NNN_name.sql` migrations of `dir`, sorted by version. Throws on duplicate versions. */
export async function loadMigrations(dir: string = SCHEMA_DIR): Promise<Migration[]> {
  const out: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const m = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/.exec(entry.name);
    if (!entry.isFile || !m) continue;
    out.push({ version: Number(m[1]), name: m[2], sql: await Deno.readTextFile(join(dir, entry.name)) });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i].version === out[i - 1].version) {
      throw new Error(`two schema migrations share version ${out[i].version} in ${dir}: renumber one`);
    }
  }
  return out;
}

function migrationLabel(m: Migration): string {
  return `${String(m.version).padStart(3, "0")}_${m.name}`;
}

/** Double-quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Formats a JS date as a DuckDB TIMESTAMP literal (UTC, no zone suffix). */
function sqlTimestamp(d: Date): string {
  return d.toISOString().replace("T", " ").replace("Z", "");
}

/** Converts one DuckDB-derived JS value to plain JS. */
function toPlain(v: unknown, typeId?: DuckDBTypeId): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v.toString();
  }
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    const iso = v.toISOString();
    return typeId === DuckDBTypeId.DATE ? iso.slice(0, 10) : iso;
  }
  if (v instanceof Uint8Array) return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
  if (Array.isArray(v)) return v.map((x) => toPlain(x));
  if (typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = toPlain(x);
    return o;
  }
  return v;
}

/**
 * DuckDB's JS value converter, except that a value it cannot represent (an infinite or out-of-range
 * TIMESTAMP or DATE has no JS Date) becomes DuckDB's text form (`infinity`) instead of failing the result.
 */
const lenientJsConverter: DuckDBValueConverter<JS> = (value, type, converter) => {
  try {
    return JSDuckDBValueConverter(value, type, converter);
  } catch {
    return String(value);
  }
};

/** Converts a read result to {@link QueryResult}. */
function readerToResult(reader: DuckDBResultReader): QueryResult {
  const types = reader.columnTypes();
  const names = reader.columnNames();
  const columns = names.map((name, i) => ({ name, type: types[i].alias ?? types[i].toString() }));
  const ids = types.map((t) => t.typeId);
  const rows = reader.convertRows(lenientJsConverter).map((row) => row.map((v, i) => toPlain(v, ids[i])));
  return { columns, rows };
}

/** Appends one JS value to the appender for a column of DuckDB type `type`. */
type ColumnWriter = (a: DuckDBAppender, v: unknown) => void;

function describeValue(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return `${s.length > 40 ? s.slice(0, 40) + "…" : s} (${typeof v})`;
}

function asTimestampText(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "number") return new Date(v).toISOString();
  if (typeof v === "string") return v;
  throw new Error(`expected a Date, ISO string or epoch ms, got ${describeValue(v)}`);
}

function columnWriter(type: string): ColumnWriter {
  const t = type.toUpperCase();
  const num = (v: unknown): number => {
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    throw new Error(`expected a number, got ${describeValue(v)}`);
  };
  const int = (v: unknown): bigint => {
    if (typeof v === "bigint") return v;
    if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
    if (typeof v === "boolean") return v ? 1n : 0n;
    throw new Error(`expected an integer, got ${describeValue(v)}`);
  };
  switch (t) {
    case "DOUBLE":
      return (a, v) => a.appendDouble(num(v));
    case "FLOAT":
      return (a, v) => a.appendFloat(num(v));
    case "BIGINT":
      return (a, v) => a.appendBigInt(int(v));
    case "INTEGER":
      return (a, v) => {
        const n = int(v);
        if (n < -2147483648n || n > 2147483647n) throw new Error(`${n} does not fit an INTEGER`);
        a.appendInteger(Number(n));
      };
    case "BOOLEAN":
      return (a, v) => {
        if (typeof v !== "boolean") throw new Error(`expected a boolean, got ${describeValue(v)}`);
        a.appendBoolean(v);
      };
    case "VARCHAR":
      return (a, v) => {
        if (typeof v === "object") throw new Error(`expected a string, got ${describeValue(v)}`);
        a.appendVarchar(String(v));
      };
    case "JSON":
      return (a, v) => a.appendVarchar(JSON.stringify(v));
    case "TIMESTAMP":
    case "TIMESTAMP WITH TIME ZONE":
    case "DATE":
      return (a, v) => a.appendVarchar(asTimestampText(v));
    default:
      // Any other type: let DuckDB cast the text form.
      return (a, v) => a.appendVarchar(typeof v === "object" ? JSON.stringify(v) : String(v));
  }
}

/** The database file is damaged (see {@link OpenOptions.moveAsideDamaged}). */
export class DamagedDatabaseError extends Error {
  /** Creates the error for `dbPath` with DuckDB's message. */
  constructor(readonly dbPath: string, readonly duckdbMessage: string) {
    super(
      `the results database ${dbPath} is damaged (${duckdbMessage}): run \`deno task pipeline\`, which ` +
        "moves it aside and rebuilds it from the artifacts",
    );
    this.name = "DamagedDatabaseError";
  }
}

/** A FIFO lock. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

interface ColumnInfo {
  name: string;
  type: string;
}

/** The DuckDB results store. Create with {@link ResultsStore.open}; call {@link ResultsStore.close} when done. */
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
    const repair = !readOnly && (opts.moveAsideDamaged ?? false);
    try {
      return await ResultsStore.#openOnce(dir, dbPath, readOnly, log, opts, repair);
    } catch (e) {
      if (!(e instanceof DamagedDatabaseError) || !repair) throw e;
      const aside = `${dbPath}.corrupt-${fileStamp(new Date())}`;
      await Deno.rename(dbPath, aside);
      if (await pathExists(`${dbPath}.wal`)) await Deno.rename(`${dbPath}.wal`, `${aside}.wal`);
      log(
        `results db: ${dbPath} is damaged (${e.duckdbMessage}); moved it to ${aside} and rebuilding it ` +
          "from the artifacts",
      );
      return await ResultsStore.#openOnce(dir, dbPath, readOnly, log, opts, false);
    }
  }

  static async #openOnce(
    dir: string,
    dbPath: string,
    readOnly: boolean,
    log: (message: string) => void,
    opts: OpenOptions,
    checkBlocks: boolean,
  ): Promise<ResultsStore> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(dbPath, readOnly ? { access_mode: "READ_ONLY" } : {});
    } catch (e) {
      const msg = firstLine((e as Error).message);
      if (LOCK_CONFLICT.test(msg)) {
        const holder = /\(PID (\d+)\)/.exec(msg);
        throw new PipelineError(
          `the results database ${dbPath} is in use by another process` +
            `${
              holder ? ` (pid ${holder[1]})` : ""
            }: a running pipeline, \`deno task query\`, report or bench; ` +
            "wait for it to finish and retry",
        );
      }
      if (ENVIRONMENT.test(msg)) {
        throw new PipelineError(`cannot open the results database ${dbPath}: ${msg}`);
      }
      if (await pathExists(dbPath)) throw new DamagedDatabaseError(dbPath, msg);
      throw new Error(`cannot open the results database ${dbPath}: ${msg}`);
    }
    const conn = await instance.connect();
    const store = new ResultsStore(dir, dbPath, readOnly, instance, conn, log);
    try {
      const migrations = await loadMigrations(opts.migrationsDir ?? SCHEMA_DIR);
      store.latestSchemaVersion = migrations.length ? migrations[migrations.length - 1].version : 0;
      if (readOnly) {
        store.schemaVersion = await store.#appliedVersion();
      } else {
        if (checkBlocks) await store.#readEveryBlock();
        await store.#migrate(migrations);
      }
    } catch (e) {
      await store.close().catch(() => {});
      const msg = firstLine((e as Error).message);
      if (!(e instanceof PipelineError) && DAMAGE.test(msg)) throw new DamagedDatabaseError(dbPath, msg);
      throw e;
    }
    return store;
  }

  /** Reads every column of every table once (DuckDB verifies each block's checksum when it reads it). */
  async #readEveryBlock(): Promise<void> {
    const r = await this.#conn.runAndReadAll(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' " +
        "AND table_catalog = current_database() AND table_type = 'BASE TABLE'",
    );
    for (const [name] of r.getRowsJS()) {
      await this.#conn.run(`SELECT bit_xor(hash(COLUMNS(*))) FROM ${quoteIdent(String(name))}`);
    }
  }

  async #appliedVersion(): Promise<number> {
    const r = await this.#conn.runAndReadAll(
      "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' " +
        "AND table_catalog = current_database() AND table_name = 'schema_migrations'",
    );
    if (Number(r.getRowsJS()[0][0]) === 0) return 0;
    const v = await this.#conn.runAndReadAll("SELECT coalesce(max(version), 0) FROM schema_migrations");
    return Number(v.getRowsJS()[0][0]);
  }

  async #migrate(migrations: Migration[]): Promise<void> {
    await this.#conn.run(
      "CREATE TABLE IF NOT EXISTS schema_migrations " +
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)",
    );
    const r = await this.#conn.runAndReadAll("SELECT version FROM schema_migrations");
    const applied = new Set(r.getRowsJS().map((row) => Number(row[0])));
    const fresh = applied.size === 0;
    const maxApplied = Math.max(0, ...applied);
    if (maxApplied > this.latestSchemaVersion) {
      throw new Error(
        `the results database ${this.dbPath} has schema version ${maxApplied}, newer than this checkout ` +
          `knows (${this.latestSchemaVersion}): update the code, or use another --results directory`,
      );
    }
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await this.#conn.run("BEGIN TRANSACTION");
      try {
        await this.#conn.run(m.sql);
        await this.#conn.run("INSERT INTO schema_migrations VALUES ($1, $2, $3::TIMESTAMP)", [
          m.version,
          m.name,
          sqlTimestamp(new Date()),
        ]);
        await this.#conn.run("COMMIT");
      } catch (e) {
        await this.#conn.run("ROLLBACK");
        throw new Error(
          `schema migration ${migrationLabel(m)} failed: ${(e as Error).message}`,
        );
      }
      if (!fresh) this.#log(`results db: applied schema migration ${migrationLabel(m)}`);
      applied.add(m.version);
    }
    this.schemaVersion = Math.max(0, ...applied);
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

  /** Columns of a main-schema table, or null when it does not exist (cached). */
  async #tableColumns(table: string): Promise<ColumnInfo[] | null> {
    const cached = this.#columns.get(table);
    if (cached !== undefined) return cached;
    const r = await this.#conn.runAndReadAll(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' " +
        "AND table_catalog = current_database() AND table_name = $1 ORDER BY ordinal_position",
      [table],
    );
    const rows = r.getRowsJS();
    const cols = rows.length ? rows.map((row) => ({ name: String(row[0]), type: String(row[1]) })) : null;
    this.#columns.set(table, cols);
    return cols;
  }

  /**
   * Creates the given stage result tables (`run_key VARCHAR` first, then the declared columns). A table
   * that exists with other columns or types is dropped and recreated empty, and a notice says so: its rows
   * must be re-ingested from the artifacts (`recreated` lists them).
   */
  ensureTables(tables: TableSpec[]): Promise<EnsureTablesResult> {
    return this.#exclusive(async () => {
      this.#assertWritable("ensureTables");
      const seen = new Set<string>();
      for (const t of tables) {
        if (!IDENT.test(t.name)) {
          throw new Error(`result table name "${t.name}" is not a plain identifier (letters, digits, _)`);
        }
        if (CORE_TABLES.includes(t.name)) {
          throw new Error(`result table name "${t.name}" is reserved for the store's own tables: rename it`);
        }
        if (seen.has(t.name)) throw new Error(`result table "${t.name}" is declared twice`);
        seen.add(t.name);
        const cols = new Set<string>();
        for (const c of t.columns) {
          if (!IDENT.test(c.name)) {
            throw new Error(`table ${t.name}: column name "${c.name}" is not a plain identifier`);
          }
          if (c.name === "run_key") {
            throw new Error(`table ${t.name}: column run_key is added by the store; remove it`);
          }
          if (cols.has(c.name)) throw new Error(`table ${t.name}: column ${c.name} is declared twice`);
          cols.add(c.name);
        }
      }
      const result: EnsureTablesResult = { created: [], recreated: [], notices: [] };
      const work = async () => {
        for (const t of tables) {
          const wanted = await this.#canonicalColumns(t);
          const existing = await this.#tableColumns(t.name);
          const same = existing !== null && existing.length === wanted.length &&
            existing.every((c, i) => c.name === wanted[i].name && c.type === wanted[i].type);
          if (same) continue;
          const ddl = `CREATE TABLE ${quoteIdent(t.name)} (${
            wanted.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(", ")
          })`;
          if (existing) {
            await this.#conn.run(`DROP TABLE ${quoteIdent(t.name)}`);
            await this.#conn.run(ddl);
            result.recreated.push(t.name);
            const fmt = (cs: ColumnInfo[]) => cs.map((c) => `${c.name} ${c.type}`).join(", ");
            result.notices.push(
              `results db: table ${t.name} changed columns (was: ${fmt(existing)}; now: ${fmt(wanted)}): ` +
                `dropped and recreated empty; its rows will be re-ingested from the artifacts`,
            );
          } else {
            await this.#conn.run(ddl);
            result.created.push(t.name);
          }
          this.#columns.delete(t.name);
        }
        await this.#describe(tables);
      };
      await this.#tx(work);
      for (const n of result.notices) this.#log(n);
      await this.#writeTablesFile(tables);
      return result;
    });
  }

  /**
   * Merges the declarations into {@link TABLES_FILE} (write then rename; tables declared earlier by other
   * stages are kept). Failing to write it only costs readers exact types, so it is reported, not thrown.
   */
  async #writeTablesFile(tables: TableSpec[]): Promise<void> {
    const path = join(this.resultsDir, TABLES_FILE);
    let old = "";
    let merged: TableSpec[] = [];
    try {
      old = await Deno.readTextFile(path);
      const parsed = JSON.parse(old);
      if (Array.isArray(parsed)) merged = parsed as TableSpec[];
    } catch { /* absent or unreadable: rewrite */ }
    const names = new Set(tables.map((t) => t.name));
    merged = [...merged.filter((t) => !names.has(t.name)), ...tables].sort((x, y) =>
      x.name.localeCompare(y.name)
    );
    const text = JSON.stringify(merged, null, 1) + "\n";
    if (text === old) return;
    const tmp = `${path}.tmp-${Deno.pid}`;
    try {
      await Deno.writeTextFile(tmp, text);
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      this.#log(
        `results db: could not write ${path} (${
          (e as Error).message
        }); readers during a run infer column types`,
      );
    }
  }

  /** Sets the tables' and columns' DuckDB comments to their declared descriptions (only those that differ). */
  async #describe(tables: TableSpec[]): Promise<void> {
    const r = await this.#conn.runAndReadAll(
      "SELECT table_name, NULL AS column_name, comment FROM duckdb_tables() WHERE schema_name = 'main' " +
        "AND database_name = current_database() UNION ALL SELECT table_name, column_name, comment " +
        "FROM duckdb_columns() WHERE schema_name = 'main' AND database_name = current_database()",
    );
    const have = new Map(r.getRowsJS().map((row) => [`${row[0]}\u0000${row[1] ?? ""}`, row[2] ?? null]));
    const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;
    for (const t of tables) {
      const wanted: [string, string, string][] = [
        ["", `TABLE ${quoteIdent(t.name)}`, t.description],
        ["run_key", `COLUMN ${quoteIdent(t.name)}.run_key`, RUN_KEY_DESCRIPTION],
        ...t.columns.filter((c) => c.description).map((c): [string, string, string] => [
          c.name,
          `COLUMN ${quoteIdent(t.name)}.${quoteIdent(c.name)}`,
          c.description!,
        ]),
      ];
      for (const [col, target, text] of wanted) {
        if ((have.get(`${t.name}\u0000${col}`) ?? null) === text) continue;
        await this.#conn.run(`COMMENT ON ${target} IS ${lit(text)}`);
      }
    }
  }

  /** Resolves a spec's declared types to DuckDB's canonical names (and validates them) via a temp table. */
  async #canonicalColumns(t: TableSpec): Promise<ColumnInfo[]> {
    const probe = "__lopt_probe";
    const cols = [{ name: "run_key", type: "VARCHAR" }, ...t.columns];
    try {
      await this.#conn.run(
        `CREATE OR REPLACE TEMP TABLE ${probe} (${
          cols.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(", ")
        })`,
      );
    } catch (e) {
      throw new Error(`table ${t.name}: invalid column declaration: ${(e as Error).message}`);
    }
    try {
      const r = await this.#conn.runAndReadAll(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = 'temp' " +
          `AND table_name = '${probe}' ORDER BY ordinal_position`,
      );
      return r.getRowsJS().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
    } finally {
      await this.#conn.run(`DROP TABLE IF EXISTS temp.${probe}`);
    }
  }

  /**
   * Marks the run of (stage, key) `running`, started now: inserts its `stage_runs` row, or replaces one that
   * is not `success`. A `success` row describes the run that produced the published artifact of the key and
   * stays until {@link loadArtifact} replaces it, so a rerun that fails or is interrupted leaves it as it was.
   */
  beginRun(r: BeginRun): Promise<void> {
    return this.#exclusive(async () => {
      this.#assertWritable("beginRun");
      await this.#conn.run(
        `INSERT INTO stage_runs (stage, key, profile, params, status, started_at, ended_at, seconds,
           git_commit, pid, log_path, error)
         VALUES ($1, $2, $3, $4::JSON, 'running', $5::TIMESTAMP, NULL, NULL, $6, $7, $8, NULL)
         ON CONFLICT (stage, key) DO UPDATE SET profile = excluded.profile, params = excluded.params,
           status = 'running', started_at = excluded.started_at, ended_at = NULL, seconds = NULL,
           git_commit = excluded.git_commit, pid = excluded.pid, log_path = excluded.log_path, error = NULL
         WHERE stage_runs.status <> 'success'`,
        [
          r.stage,
          r.key,
          r.profile,
          JSON.stringify(r.params ?? null),
          sqlTimestamp(new Date()),
          r.gitCommit,
          r.pid,
          r.logPath,
        ],
      );
    });
  }

  /**
   * Sets the final status of a run begun with {@link beginRun}, with `ended_at` and `seconds`. Only a
   * `running` row changes (a `success` row kept by {@link beginRun} stays); throws when (stage, key) has no
   * row at all.
   */
  finishRun(r: FinishRun): Promise<void> {
    return this.#exclusive(async () => {
      this.#assertWritable("finishRun");
      const res = await this.#conn.run(
        `UPDATE stage_runs SET status = $1, ended_at = $2::TIMESTAMP,
           seconds = date_diff('microsecond', started_at, $2::TIMESTAMP) / 1e6, error = $3
         WHERE stage = $4 AND key = $5 AND status = 'running'`,
        [r.status, sqlTimestamp(new Date()), r.error ?? null, r.stage, r.key],
      );
      if (res.rowsChanged > 0) return;
      const any = await this.#conn.runAndReadAll("SELECT 1 FROM stage_runs WHERE stage = $1 AND key = $2", [
        r.stage,
        r.key,
      ]);
      if (any.currentRowCount === 0) {
        throw new Error(`finishRun: no stage_runs row for ${r.stage}/${r.key}: call beginRun first`);
      }
    });
  }

  /**
   * Marks every `running` row `interrupted` (with the time it was found). The pipeline calls it after
   * opening the database and before it starts any stage: it holds the database alone, so such a row
   * belongs to a process that is gone. Returns the rows it marked.
   */
  markInterrupted(): Promise<{ stage: string; key: string; pid: number | null }[]> {
    return this.#exclusive(async () => {
      this.#assertWritable("markInterrupted");
      const r = await this.#conn.runAndReadAll(
        `UPDATE stage_runs SET status = 'interrupted', ended_at = $1::TIMESTAMP,
           seconds = date_diff('microsecond', started_at, $1::TIMESTAMP) / 1e6,
           error = 'the process running it is gone'
         WHERE status = 'running' RETURNING stage, key, pid`,
        [sqlTimestamp(new Date())],
      );
      return r.getRowsJS().map((row) => ({
        stage: String(row[0]),
        key: String(row[1]),
        pid: row[2] === null ? null : Number(row[2]),
      }));
    });
  }

  /** Inserts or replaces the `artifacts` row of (stage, key), created now. */
  recordArtifact(a: ArtifactRecord): Promise<void> {
    return this.#exclusive(async () => {
      this.#assertWritable("recordArtifact");
      await this.#conn.run(
        `INSERT INTO artifacts (stage, key, profile, path, files, bytes, created_at, manifest_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7::TIMESTAMP, $8)
         ON CONFLICT (stage, key) DO UPDATE SET profile = excluded.profile, path = excluded.path,
           files = excluded.files, bytes = excluded.bytes, created_at = excluded.created_at,
           manifest_sha256 = excluded.manifest_sha256`,
        [
          a.stage,
          a.key,
          a.profile,
          a.path,
          a.files,
          a.bytes,
          sqlTimestamp(a.createdAt ? new Date(a.createdAt) : new Date()),
          a.manifestSha256 ?? null,
        ],
      );
    });
  }

  /**
   * Loads one published artifact into the database in one transaction: deletes the rows of its key from
   * each of the stage's tables, appends the rows of each table's NDJSON file (in chunks, all inside the
   * transaction), writes the `artifacts` row and, unless `run` is null, the `success` row of `stage_runs`,
   * then runs `beforeCommit`. Any failure (a bad row, `beforeCommit` throwing, the process dying) leaves
   * the database as it was.
   */
  loadArtifact(l: ArtifactLoad): Promise<void> {
    return this.#exclusive(() =>
      this.#tx(async () => {
        this.#assertWritable("loadArtifact");
        const { stage, key } = l.artifact;
        for (const t of l.tables) {
          if (!(await this.#tableColumns(t.name))) {
            throw new Error(`loadArtifact: unknown table ${t.name}: declare it in the stage's tables`);
          }
          await this.#conn.run(`DELETE FROM ${quoteIdent(t.name)} WHERE run_key = $1`, [key]);
          if (t.file === null) continue;
          let chunks: AsyncGenerator<Record<string, unknown>[]>;
          try {
            chunks = ndjsonChunks(t.file);
            for await (const rows of chunks) await this.#append(t.name, rows, key);
          } catch (e) {
            if (e instanceof Deno.errors.NotFound) continue;
            throw e;
          }
        }
        await this.recordArtifact(l.artifact);
        if (l.run) {
          const r = l.run;
          await this.#conn.run(
            `INSERT INTO stage_runs (stage, key, profile, params, status, started_at, ended_at, seconds,
               git_commit, pid, log_path, error, backend)
             VALUES ($1, $2, $3, $4::JSON, 'success', coalesce($5::TIMESTAMP, $6::TIMESTAMP), $6::TIMESTAMP,
               date_diff('microsecond', $5::TIMESTAMP, $6::TIMESTAMP) / 1e6, $7, $8, $9, NULL, $10)
             ON CONFLICT (stage, key) DO UPDATE SET profile = excluded.profile, params = excluded.params,
               status = 'success', started_at = excluded.started_at, ended_at = excluded.ended_at,
               seconds = excluded.seconds, git_commit = excluded.git_commit, pid = excluded.pid,
               log_path = excluded.log_path, error = NULL, backend = excluded.backend`,
            [
              stage,
              key,
              r.profile,
              JSON.stringify(r.params ?? null),
              r.started === null ? null : sqlTimestamp(new Date(r.started)),
              sqlTimestamp(new Date(r.ended)),
              r.gitCommit,
              r.pid,
              r.logPath,
              r.backend ?? null,
            ],
          );
        }
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
    return this.#exclusive(async () => {
      this.#assertWritable("forgetKeys");
      if (keys.length === 0) return;
      await this.#tx(async () => {
        for (const key of keys) {
          for (const t of tables) {
            if (!(await this.#tableColumns(t))) continue;
            await this.#conn.run(`DELETE FROM ${quoteIdent(t)} WHERE run_key = $1`, [key]);
          }
          await this.#conn.run("DELETE FROM artifacts WHERE stage = $1 AND key = $2", [stage, key]);
          await this.#conn.run(
            "DELETE FROM stage_runs WHERE stage = $1 AND key = $2 AND status = 'success'",
            [stage, key],
          );
        }
      });
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
  bookkeeping(stage: string): Promise<Map<string, KeyBookkeeping>> {
    return this.#exclusive(async () => {
      const out = new Map<string, KeyBookkeeping>();
      const get = (k: string) => {
        let b = out.get(k);
        if (!b) out.set(k, b = { manifestSha256: null, artifact: false, status: null });
        return b;
      };
      const a = await this.#conn.runAndReadAll(
        "SELECT key, manifest_sha256 FROM artifacts WHERE stage = $1",
        [
          stage,
        ],
      );
      for (const [k, sha] of a.getRowsJS()) {
        const b = get(String(k));
        b.artifact = true;
        b.manifestSha256 = sha === null ? null : String(sha);
      }
      const r = await this.#conn.runAndReadAll("SELECT key, status FROM stage_runs WHERE stage = $1", [
        stage,
      ]);
      for (const [k, status] of r.getRowsJS()) get(String(k)).status = String(status);
      return out;
    });
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
    const withKey = key !== undefined;
    if (withKey && cols[0]?.name !== "run_key") {
      throw new Error(`appendRows: table ${table} has no run_key column: it is not a stage result table`);
    }
    const index = new Map(cols.map((c, i) => [c.name, i]));
    const writers = cols.map((c) => columnWriter(c.type));
    // Validate column names before touching the appender.
    for (let r = 0; r < rows.length; r++) {
      for (const k of Object.keys(rows[r])) {
        if (!index.has(k)) {
          throw new Error(
            `appendRows: table ${table} has no column "${k}" (row ${r}); its columns are: ` +
              cols.map((c) => c.name).join(", "),
          );
        }
      }
    }
    await this.#tx(async () => {
      const appender = await this.#conn.createAppender(table);
      const values: unknown[] = new Array(cols.length);
      try {
        for (let r = 0; r < rows.length; r++) {
          const row = rows[r];
          values.fill(null);
          for (const k in row) values[index.get(k)!] = row[k];
          if (withKey) values[0] = key;
          for (let i = 0; i < cols.length; i++) {
            const v = values[i];
            if (v === null || v === undefined) {
              appender.appendNull();
              continue;
            }
            try {
              writers[i](appender, v);
            } catch (e) {
              throw new Error(
                `appendRows: table ${table}, column ${cols[i].name} (${cols[i].type}), row ${r}: ${
                  (e as Error).message
                }`,
              );
            }
          }
          appender.endRow();
        }
        appender.closeSync();
      } catch (e) {
        try {
          appender.clear();
          appender.closeSync();
        } catch { /* the transaction is rolled back anyway */ }
        throw e;
      }
    });
  }

  /** Deletes the rows with `run_key = key` from the given tables (missing tables are skipped), atomically. */
  deleteRows(tables: string[], key: string): Promise<void> {
    return this.#exclusive(async () => {
      this.#assertWritable("deleteRows");
      await this.#tx(async () => {
        for (const t of tables) {
          if (!(await this.#tableColumns(t))) continue;
          await this.#conn.run(`DELETE FROM ${quoteIdent(t)} WHERE run_key = $1`, [key]);
        }
      });
    });
  }

  /** Whether the table exists and holds at least one row with `run_key = key`. */
  hasRows(table: string, key: string): Promise<boolean> {
    return this.#exclusive(async () => {
      const cols = await this.#tableColumns(table);
      if (!cols || !cols.some((c) => c.name === "run_key")) return false;
      const r = await this.#conn.runAndReadAll(
        `SELECT 1 FROM ${quoteIdent(table)} WHERE run_key = $1 LIMIT 1`,
        [
          key,
        ],
      );
      return r.currentRowCount > 0;
    });
  }

  /** Runs SQL (several statements allowed; the last one's result is returned) and converts values to plain JS. */
  query(sql: string): Promise<QueryResult> {
    return this.#exclusive(async () => {
      try {
        const reader = await this.#conn.runAndReadAll(sql);
        return readerToResult(reader);
      } finally {
        this.#columns.clear();
      }
    });
  }

  /**
   * Lists the columns of the database's tables (main schema; no system or temp tables), in order, with
   * their comments.
   */
  schema(): Promise<SchemaColumn[]> {
    return this.#exclusive(async () => {
      const r = await this.#conn.runAndReadAll(
        "SELECT c.table_name, c.column_name, c.data_type, c.comment, t.comment FROM duckdb_columns() c " +
          "JOIN duckdb_tables() t ON t.database_name = c.database_name AND t.schema_name = c.schema_name " +
          "AND t.table_name = c.table_name WHERE c.schema_name = 'main' " +
          "AND c.database_name = current_database() ORDER BY c.table_name, c.column_index",
      );
      const text = (v: unknown) => (v === null || v === undefined || v === "" ? null : String(v));
      return r.getRowsJS().map((row) => ({
        table: String(row[0]),
        column: String(row[1]),
        type: String(row[2]),
        description: text(row[3]),
        tableDescription: text(row[4]),
      }));
    });
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
