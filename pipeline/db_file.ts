/**
 * Opening the results database file: DuckDB's open failures sorted into "held by another process", "the
 * file system refuses", and "the file is damaged" ({@link DamagedDatabaseError}), a damaged file moved aside,
 * and the full read that makes DuckDB verify every block's checksum.
 *
 * @example
 * ```ts
 * import { openDatabase } from "./db_file.ts";
 * const db = await openDatabase("results/lopt.duckdb", { readOnly: true, log: console.error });
 * ```
 *
 * @module
 */

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { quoteIdent } from "./duck_values.ts";
import { PipelineError } from "./errors.ts";
import { appliedSchemaVersion, applyMigrations, loadMigrations, SCHEMA_DIR } from "./migrations.ts";

/** DuckDB's message when another process holds the database file. */
const LOCK_CONFLICT = /Could not set lock on file/;
/** DuckDB messages that mean the file's content is damaged. */
const DAMAGE =
  /not a valid DuckDB database|Could not read enough bytes|Corrupt database file|Corrupt WAL file|checksum .* does not match|Failure while replaying WAL/i;
/** Open failures that come from the file system, not from the file's content. */
const ENVIRONMENT = /Permission denied|Read-only file system|No space left|Is a directory|Not a directory/i;

/** First line of a message, trimmed. */
function firstLine(msg: string): string {
  return msg.split("\n")[0].trim();
}

/**
 * The database file is damaged (see `OpenOptions.moveAsideDamaged` of the results store).
 *
 * @example
 * ```ts
 * throw new DamagedDatabaseError("results/lopt.duckdb", "Corrupt database file");
 * ```
 */
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

/** A file-system-safe UTC time stamp, e.g. `20261202T052530Z`. */
function fileStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * Opens a DuckDB file. Throws a {@link PipelineError} when another process holds it or the file system
 * refuses, a {@link DamagedDatabaseError} when an existing file cannot be opened otherwise.
 */
async function openDuckDbFile(dbPath: string, opts: { readOnly: boolean }): Promise<DuckDBInstance> {
  try {
    return await DuckDBInstance.create(dbPath, opts.readOnly ? { access_mode: "READ_ONLY" } : {});
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
}

/** Moves a damaged database file (and its WAL) aside as `<file>.corrupt-<time>`; returns the new path. */
async function moveAside(dbPath: string): Promise<string> {
  const aside = `${dbPath}.corrupt-${fileStamp(new Date())}`;
  await Deno.rename(dbPath, aside);
  if (await pathExists(`${dbPath}.wal`)) await Deno.rename(`${dbPath}.wal`, `${aside}.wal`);
  return aside;
}

/** Reads every column of every table once (DuckDB verifies each block's checksum when it reads it). */
async function readEveryBlock(conn: DuckDBConnection): Promise<void> {
  const r = await conn.runAndReadAll(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' " +
      "AND table_catalog = current_database() AND table_type = 'BASE TABLE'",
  );
  for (const [name] of r.getRowsJS()) {
    await conn.run(`SELECT bit_xor(hash(COLUMNS(*))) FROM ${quoteIdent(String(name))}`);
  }
}

/**
 * Options of `ResultsStore.open` (and of {@link openDatabase}).
 *
 * @example
 * ```ts
 * const opts: OpenOptions = { readOnly: true, log: () => {} };
 * ```
 */
export interface OpenOptions {
  /** Open with DuckDB `access_mode = READ_ONLY` (no migrations; the file must exist). */
  readOnly?: boolean;
  /** Where the migrations live (default `SCHEMA_DIR`, `results/schema/`); tests point this elsewhere. */
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

/**
 * How {@link openDatabase} opens the file (the results store's `OpenOptions`, with `readOnly` and `log`
 * decided).
 *
 * @example
 * ```ts
 * const o: DatabaseOpenOptions = { readOnly: true, log: () => {} };
 * ```
 */
export interface DatabaseOpenOptions extends OpenOptions {
  /** Open with DuckDB `access_mode = READ_ONLY` (no migrations). */
  readOnly: boolean;
  /** Receives notices (migrations applied, a damaged file moved aside). */
  log: (message: string) => void;
}

/**
 * An open results database: the instance, its one connection, and its schema versions.
 *
 * @example
 * ```ts
 * const { conn, schemaVersion } = await openDatabase("results/lopt.duckdb", { readOnly: true, log: () => {} });
 * ```
 */
export interface OpenDatabase {
  /** The DuckDB instance. */
  instance: DuckDBInstance;
  /** Its connection. */
  conn: DuckDBConnection;
  /** Highest applied schema migration version (0 when none). */
  schemaVersion: number;
  /** Highest migration version known to this code. */
  latestSchemaVersion: number;
}

/**
 * Opens the database file and brings its schema up to date (writable) or reads its version (read-only).
 * With `moveAsideDamaged`, a writable open first reads every block; a damaged file is moved aside (one
 * line through `log`) and an empty database is opened in its place.
 *
 * @example
 * ```ts
 * const db = await openDatabase("results/lopt.duckdb", { readOnly: false, log: console.error });
 * ```
 */
export async function openDatabase(dbPath: string, opts: DatabaseOpenOptions): Promise<OpenDatabase> {
  const repair = !opts.readOnly && (opts.moveAsideDamaged ?? false);
  try {
    return await openOnce(dbPath, opts, repair);
  } catch (e) {
    if (!(e instanceof DamagedDatabaseError) || !repair) throw e;
    const aside = await moveAside(dbPath);
    opts.log(
      `results db: ${dbPath} is damaged (${e.duckdbMessage}); moved it to ${aside} and rebuilding it ` +
        "from the artifacts",
    );
    return await openOnce(dbPath, opts, false);
  }
}

async function openOnce(
  dbPath: string,
  opts: DatabaseOpenOptions,
  checkBlocks: boolean,
): Promise<OpenDatabase> {
  const instance = await openDuckDbFile(dbPath, { readOnly: opts.readOnly });
  const conn = await instance.connect();
  try {
    const migrations = await loadMigrations(opts.migrationsDir ?? SCHEMA_DIR);
    const latestSchemaVersion = migrations.length ? migrations[migrations.length - 1].version : 0;
    let schemaVersion: number;
    if (opts.readOnly) {
      schemaVersion = await appliedSchemaVersion(conn);
    } else {
      if (checkBlocks) await readEveryBlock(conn);
      schemaVersion = await applyMigrations(conn, migrations, dbPath, opts.log);
    }
    return { instance, conn, schemaVersion, latestSchemaVersion };
  } catch (e) {
    conn.closeSync();
    instance.closeSync();
    const msg = firstLine((e as Error).message);
    if (!(e instanceof PipelineError) && DAMAGE.test(msg)) throw new DamagedDatabaseError(dbPath, msg);
    throw e;
  }
}
