/**
 * The results database's versioned schema: the `results/schema/NNN_name.sql` migrations, read in order and
 * applied once each (recorded in `schema_migrations`), each in its own transaction.
 *
 * @example
 * ```ts
 * import { loadMigrations } from "./migrations.ts";
 * const migrations = await loadMigrations(); // [{ version: 1, name: "init", sql: "..." }, ...]
 * ```
 *
 * @module
 */

import type { DuckDBConnection } from "@duckdb/node-api";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sqlTimestamp } from "./duck_values.ts";

/**
 * Directory holding the versioned schema migrations (`NNN_name.sql`).
 *
 * @example
 * ```ts
 * await loadMigrations(SCHEMA_DIR);
 * ```
 */
export const SCHEMA_DIR: string = fileURLToPath(new URL("../results/schema/", import.meta.url));

/**
 * One schema migration file.
 *
 * @example
 * ```ts
 * const m: Migration = { version: 1, name: "init", sql: "CREATE TABLE t (x INTEGER)" };
 * ```
 */
export interface Migration {
  /** Version number (the `NNN` prefix). */
  version: number;
  /** Name after the prefix, without `.sql`. */
  name: string;
  /** SQL text (may hold several statements). */
  sql: string;
}

/**
 * Reads the `NNN_name.sql` migrations of `dir`, sorted by version. Throws on duplicate versions.
 *
 * @example
 * ```ts
 * const latest = (await loadMigrations()).at(-1)?.version ?? 0;
 * ```
 */
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

/**
 * Highest migration version applied to the connection's database (0 when it has no `schema_migrations`).
 *
 * @example
 * ```ts
 * await appliedSchemaVersion(conn); // 3
 * ```
 */
export async function appliedSchemaVersion(conn: DuckDBConnection): Promise<number> {
  const r = await conn.runAndReadAll(
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' " +
      "AND table_catalog = current_database() AND table_name = 'schema_migrations'",
  );
  if (Number(r.getRowsJS()[0][0]) === 0) return 0;
  const v = await conn.runAndReadAll("SELECT coalesce(max(version), 0) FROM schema_migrations");
  return Number(v.getRowsJS()[0][0]);
}

/**
 * Applies the migrations the database has not applied yet, in order, each in one transaction, and returns
 * the highest applied version. Refuses a database whose schema is newer than `migrations` know. `log` hears
 * one line per migration applied to a database that had some already.
 *
 * @example
 * ```ts
 * const version = await applyMigrations(conn, await loadMigrations(), "results/lopt.duckdb", console.error);
 * ```
 */
export async function applyMigrations(
  conn: DuckDBConnection,
  migrations: readonly Migration[],
  dbPath: string,
  log: (message: string) => void,
): Promise<number> {
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
  await conn.run(
    "CREATE TABLE IF NOT EXISTS schema_migrations " +
      "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)",
  );
  const r = await conn.runAndReadAll("SELECT version FROM schema_migrations");
  const applied = new Set(r.getRowsJS().map((row) => Number(row[0])));
  const fresh = applied.size === 0;
  const maxApplied = Math.max(0, ...applied);
  if (maxApplied > latest) {
    throw new Error(
      `the results database ${dbPath} has schema version ${maxApplied}, newer than this checkout ` +
        `knows (${latest}): update the code, or use another --results directory`,
    );
  }
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    await conn.run("BEGIN TRANSACTION");
    try {
      await conn.run(m.sql);
      await conn.run("INSERT INTO schema_migrations VALUES ($1, $2, $3::TIMESTAMP)", [
        m.version,
        m.name,
        sqlTimestamp(new Date()),
      ]);
      await conn.run("COMMIT");
    } catch (e) {
      await conn.run("ROLLBACK");
      throw new Error(`schema migration ${migrationLabel(m)} failed: ${(e as Error).message}`);
    }
    if (!fresh) log(`results db: applied schema migration ${migrationLabel(m)}`);
    applied.add(m.version);
  }
  return Math.max(0, ...applied);
}
