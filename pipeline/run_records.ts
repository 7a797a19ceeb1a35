/**
 * The pipeline's bookkeeping rows in the results database: `stage_runs` (one row per stage and key: running,
 * success, failed or interrupted) and `artifacts` (one row per published artifact). Each function is one
 * statement or a short sequence on a connection; the results store serializes and wraps them.
 *
 * @example
 * ```ts
 * import { beginRunRow } from "./run_records.ts";
 * await beginRunRow(conn, { stage: "s", key: "k", profile: "smoke", params: {}, gitCommit: null, pid: 1, logPath: "l" });
 * ```
 *
 * @module
 */

import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlTimestamp } from "./duck_values.ts";

/**
 * Arguments of `ResultsStore.beginRun`.
 *
 * @example
 * ```ts
 * const r: BeginRun = { stage: "s", key: "k", profile: "smoke", params: {}, gitCommit: null, pid: 1, logPath: "l" };
 * ```
 */
export interface BeginRun {
  stage: string;
  key: string;
  profile: string;
  params: unknown;
  gitCommit: string | null;
  pid: number;
  logPath: string;
}

/**
 * Arguments of `ResultsStore.finishRun`.
 *
 * @example
 * ```ts
 * const r: FinishRun = { stage: "s", key: "k", status: "failed", error: "boom" };
 * ```
 */
export interface FinishRun {
  stage: string;
  key: string;
  status: "success" | "failed" | "interrupted";
  error?: string;
}

/**
 * Arguments of `ResultsStore.recordArtifact`.
 *
 * @example
 * ```ts
 * const a: ArtifactRecord = { stage: "s", key: "k", profile: "smoke", path: "results/artifacts/s/k", files: 2, bytes: 10 };
 * ```
 */
export interface ArtifactRecord {
  stage: string;
  key: string;
  profile: string;
  path: string;
  files: number;
  bytes: number;
  /** sha256 of the artifact's `manifest.json` (what `ResultsStore.loadArtifact` loaded). */
  manifestSha256?: string | null;
  /** When the artifact was published (default: now). */
  createdAt?: string;
}

/**
 * The `stage_runs` row of a run that published an artifact (see `ResultsStore.loadArtifact`).
 *
 * @example
 * ```ts
 * const r: PublishedRun = { profile: "smoke", params: {}, gitCommit: null, started: null, ended: new Date().toISOString(), pid: null, logPath: null };
 * ```
 */
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

/**
 * What `ResultsStore.bookkeeping` reports for one (stage, key).
 *
 * @example
 * ```ts
 * const b: KeyBookkeeping = { manifestSha256: null, artifact: false, status: "failed" };
 * ```
 */
export interface KeyBookkeeping {
  /** sha256 of the manifest whose rows the database holds (`artifacts.manifest_sha256`), null when unknown. */
  manifestSha256: string | null;
  /** Whether an `artifacts` row exists. */
  artifact: boolean;
  /** `stage_runs.status`, or null when there is no row. */
  status: string | null;
}

/**
 * Marks the run of (stage, key) `running`, started now: inserts its `stage_runs` row, or replaces one that
 * is not `success` (a `success` row describes the published artifact and stays).
 *
 * @example
 * ```ts
 * await beginRunRow(conn, run);
 * ```
 */
export async function beginRunRow(conn: DuckDBConnection, r: BeginRun): Promise<void> {
  await conn.run(
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
}

/**
 * Sets the final status of a `running` row, with `ended_at` and `seconds`; throws when (stage, key) has no
 * row at all.
 *
 * @example
 * ```ts
 * await finishRunRow(conn, { stage: "s", key: "k", status: "failed", error: "boom" });
 * ```
 */
export async function finishRunRow(conn: DuckDBConnection, r: FinishRun): Promise<void> {
  const res = await conn.run(
    `UPDATE stage_runs SET status = $1, ended_at = $2::TIMESTAMP,
       seconds = date_diff('microsecond', started_at, $2::TIMESTAMP) / 1e6, error = $3
     WHERE stage = $4 AND key = $5 AND status = 'running'`,
    [r.status, sqlTimestamp(new Date()), r.error ?? null, r.stage, r.key],
  );
  if (res.rowsChanged > 0) return;
  const any = await conn.runAndReadAll("SELECT 1 FROM stage_runs WHERE stage = $1 AND key = $2", [
    r.stage,
    r.key,
  ]);
  if (any.currentRowCount === 0) {
    throw new Error(`finishRun: no stage_runs row for ${r.stage}/${r.key}: call beginRun first`);
  }
}

/**
 * Marks every `running` row `interrupted` (with the time it was found) and returns the rows it marked.
 *
 * @example
 * ```ts
 * const gone = await markRunningInterrupted(conn); // [{ stage, key, pid }]
 * ```
 */
export async function markRunningInterrupted(
  conn: DuckDBConnection,
): Promise<{ stage: string; key: string; pid: number | null }[]> {
  const r = await conn.runAndReadAll(
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
}

/**
 * Inserts or replaces the `artifacts` row of (stage, key).
 *
 * @example
 * ```ts
 * await artifactRow(conn, { stage: "s", key: "k", profile: "smoke", path: "p", files: 1, bytes: 2 });
 * ```
 */
export async function artifactRow(conn: DuckDBConnection, a: ArtifactRecord): Promise<void> {
  await conn.run(
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
}

/**
 * Writes the `success` row of `stage_runs` for a published artifact of (stage, key).
 *
 * @example
 * ```ts
 * await successRunRow(conn, "s", "k", publishedRun);
 * ```
 */
export async function successRunRow(
  conn: DuckDBConnection,
  stage: string,
  key: string,
  r: PublishedRun,
): Promise<void> {
  await conn.run(
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

/**
 * Removes the `artifacts` row and the `success` row of `stage_runs` of (stage, key); rows of failed or
 * interrupted runs stay.
 *
 * @example
 * ```ts
 * await forgetPublished(conn, "eval", "abc");
 * ```
 */
export async function forgetPublished(conn: DuckDBConnection, stage: string, key: string): Promise<void> {
  await conn.run("DELETE FROM artifacts WHERE stage = $1 AND key = $2", [stage, key]);
  await conn.run("DELETE FROM stage_runs WHERE stage = $1 AND key = $2 AND status = 'success'", [stage, key]);
}

/**
 * The `artifacts` and `stage_runs` bookkeeping of a stage's keys, by key.
 *
 * @example
 * ```ts
 * (await keyBookkeeping(conn, "eval")).get("abc")?.status; // "success"
 * ```
 */
export async function keyBookkeeping(
  conn: DuckDBConnection,
  stage: string,
): Promise<Map<string, KeyBookkeeping>> {
  const out = new Map<string, KeyBookkeeping>();
  const get = (k: string) => {
    let b = out.get(k);
    if (!b) out.set(k, b = { manifestSha256: null, artifact: false, status: null });
    return b;
  };
  const a = await conn.runAndReadAll("SELECT key, manifest_sha256 FROM artifacts WHERE stage = $1", [stage]);
  for (const [k, sha] of a.getRowsJS()) {
    const b = get(String(k));
    b.artifact = true;
    b.manifestSha256 = sha === null ? null : String(sha);
  }
  const r = await conn.runAndReadAll("SELECT key, status FROM stage_runs WHERE stage = $1", [stage]);
  for (const [k, status] of r.getRowsJS()) get(String(k)).status = String(status);
  return out;
}

/**
 * Arguments of `ResultsStore.loadArtifact`.
 *
 * @example
 * ```ts
 * const l: ArtifactLoad = { artifact, tables: [{ name: "t", file: "rows/t.ndjson" }], run: null };
 * ```
 */
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
