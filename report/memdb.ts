/**
 * The report stage's data source. The pipeline's parent process holds the only connection to
 * `results/lopt.duckdb`, so the stage (a child process) rebuilds the tables it needs in an in-memory DuckDB
 * from its upstream artifacts' `rows/<table>.ndjson` files: same table names, `run_key` (the artifact key)
 * first, then the declared columns with their declared types. The `bench` table, which lives only in the
 * results database, is attached read-only when that file is free.
 *
 * @module
 */
import { DuckDBInstance } from "@duckdb/node-api";
import { join } from "node:path";
import type { ArtifactRef, TableSpec } from "../pipeline/stage.ts";
import { quoteIdent, runQuery, sqlString } from "../pipeline/duck_values.ts";
import { appendRowFile, loadInferredRowFiles, resultTableDdl, tableColumns } from "../pipeline/row_loader.ts";
import type { QueryFn } from "./types.ts";

/** An open in-memory database of artifact rows. */
export interface ArtifactsDb {
  /** Runs SQL against it. */
  query: QueryFn;
  /** Tables loaded, with their row counts. */
  loaded: Record<string, number>;
  /** Why `bench` is unavailable (undefined when it was attached). */
  benchUnavailable?: string;
  /** Closes the database. */
  close(): void;
}

/** Options of {@link openArtifactsDb}. */
export interface ArtifactsDbOptions {
  /** Declared result tables (from the upstream stages' `tables`), used for exact column types. */
  tables?: TableSpec[];
  /** Results database to take `bench` from, opened read-only (skipped when absent or locked). */
  benchDb?: string;
}

async function ndjsonFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    for await (const e of Deno.readDir(join(dir, "rows"))) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\.ndjson$/.exec(e.name);
      if (e.isFile && m) out.set(m[1], join(dir, "rows", e.name));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/**
 * Loads the rows of `artifacts` into a new in-memory DuckDB. A declared table of an upstream stage that
 * wrote no rows is created empty; an ndjson file without a declaration is loaded with `read_json_auto`.
 *
 * @example
 * ```ts
 * const db = await openArtifactsDb(Object.values(ctx.inputs), { benchDb: "results/lopt.duckdb" });
 * const result = await db.query("SELECT count(*) AS n FROM eval_summary");
 * db.close();
 * ```
 */
export async function openArtifactsDb(
  artifacts: ArtifactRef[],
  opts: ArtifactsDbOptions = {},
): Promise<ArtifactsDb> {
  const instance = await DuckDBInstance.create(":memory:");
  const conn = await instance.connect();
  const specs = new Map((opts.tables ?? []).map((t) => [t.name, t]));
  const created = new Set<string>();
  const loaded: Record<string, number> = {};
  const run = (sql: string) => conn.run(sql);
  try {
    // Declared tables first (also those no artifact wrote rows for: queries see zero rows, not an error).
    for (const spec of specs.values()) {
      await run(resultTableDdl(spec.name, spec.columns));
      created.add(spec.name);
    }
    const undeclared = new Map<string, { path: string; key: string }[]>();
    for (const a of artifacts) {
      for (const [table, path] of await ndjsonFiles(a.dir)) {
        if (!specs.has(table)) {
          undeclared.set(table, [...(undeclared.get(table) ?? []), { path, key: a.key }]);
          continue;
        }
        const cols = (await tableColumns(conn, table))!;
        await appendRowFile(conn, table, cols, path, a.key);
      }
    }
    for (const [table, files] of undeclared) {
      await loadInferredRowFiles(conn, table, files);
      if (await tableColumns(conn, table)) created.add(table);
    }
    for (const t of created) {
      const r = await runQuery(conn, `SELECT count(*) FROM ${quoteIdent(t)}`);
      loaded[t] = Number(r.rows[0][0]);
    }
  } catch (e) {
    conn.closeSync();
    instance.closeSync();
    throw new Error(`report: loading artifact rows into DuckDB failed: ${(e as Error).message}`);
  }
  let benchUnavailable: string | undefined;
  if (opts.benchDb) {
    try {
      await Deno.stat(opts.benchDb);
      await run(`ATTACH ${sqlString(opts.benchDb)} AS lopt_results (READ_ONLY)`);
      const has = await runQuery(
        conn,
        "SELECT 1 FROM information_schema.tables WHERE table_catalog = 'lopt_results' AND table_name = 'bench'",
      );
      if (has.rows.length > 0) await run("CREATE VIEW bench AS SELECT * FROM lopt_results.bench");
      else benchUnavailable = `${opts.benchDb} has no bench table`;
    } catch (e) {
      benchUnavailable = e instanceof Deno.errors.NotFound
        ? `no results database at ${opts.benchDb}`
        : /lock/i.test((e as Error).message)
        ? "the results database is held by the running pipeline"
        : `cannot open ${opts.benchDb} read-only: ${(e as Error).message.split("\n")[0]}`;
    }
  } else {
    benchUnavailable = "the bench table lives only in the results database";
  }
  return {
    query: (sql) => runQuery(conn, sql),
    loaded,
    benchUnavailable,
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}
