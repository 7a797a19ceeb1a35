/**
 * A read-only copy of the results database rebuilt from files, for readers (`deno task query`,
 * `deno task report`) while a running pipeline holds `lopt.duckdb`: the stage result tables come from the
 * row files of every artifact (`artifacts/<stage>/<key>/rows/<table>.ndjson`, and those of stages still
 * running in `.staging-<key>-<pid>/`), `stage_runs` from the run logs (`logs/<stage>-<key>.log`) and
 * `artifacts` from the manifests. `bench` is not available. Tables declared in `tables.json` (written by the
 * pipeline's store) get their declared column types and descriptions; others get the types DuckDB infers.
 *
 * Files are copied before DuckDB reads them, so a staging folder published (renamed) while the snapshot is
 * built is read from its new place, a file that vanished is skipped, and a row half-written at the end of a
 * file is left out.
 *
 * ```ts
 * const snap = await openLiveSnapshot("results");
 * try {
 *   console.log(await snap.store.query("SELECT stage, status FROM stage_runs"));
 * } finally {
 *   await snap.close();
 * }
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { MANIFEST, type Manifest } from "./artifacts.ts";
import { isPidAlive } from "./pid.ts";
import { quoteIdent } from "./duck_values.ts";
import { readTablesFile } from "./result_tables.ts";
import { ResultsStore } from "./store.ts";

/** Tables of the results database that a live snapshot cannot rebuild from files. */
export const LIVE_UNAVAILABLE: readonly string[] = ["bench"];

/** Options of {@link openLiveSnapshot}. */
export interface LiveSnapshotOptions {
  /**
   * Called after the row files are listed and before they are read (tests publish or remove a staging
   * folder here to reproduce a pipeline acting in between).
   */
  afterListing?: () => Promise<void> | void;
}

/** An open live snapshot; {@link LiveSnapshot.close} removes its temporary files. */
export interface LiveSnapshot {
  /** The snapshot, opened read-only. */
  store: ResultsStore;
  /** The tables it holds, sorted. */
  tables: string[];
  /** Closes the store and removes the snapshot's temporary directory. */
  close(): Promise<void>;
}

const KEY = /^[0-9a-f]+$/;
const STAGING = /^\.staging-([0-9a-f]+)-(\d+)$/;

/** One artifact directory the snapshot reads (published, or staging of a run in progress). */
export interface Source {
  stage: string;
  key: string;
  /** Directory as listed. */
  dir: string;
  /** Where the directory lands when it is published. */
  published: string;
  /** Pid in a staging directory's name, null for a published one. */
  pid: number | null;
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

async function listDir(dir: string): Promise<Deno.DirEntry[] | null> {
  try {
    return await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/** Lists the artifact directories, one per (stage, key), preferring the published one. */
async function listSources(root: string): Promise<Source[]> {
  const stages = await listDir(root);
  if (stages === null) throw new Deno.errors.NotFound(root);
  const out: Source[] = [];
  for (const s of stages.filter((e) => e.isDirectory).sort((a, b) => a.name.localeCompare(b.name))) {
    const byKey = new Map<string, Source>();
    for (const e of (await listDir(join(root, s.name))) ?? []) {
      if (!e.isDirectory) continue;
      const dir = join(root, s.name, e.name);
      if (KEY.test(e.name)) {
        byKey.set(e.name, { stage: s.name, key: e.name, dir, published: dir, pid: null });
        continue;
      }
      const m = STAGING.exec(e.name);
      if (!m || byKey.get(m[1])?.pid === null) continue;
      byKey.set(m[1], {
        stage: s.name,
        key: m[1],
        dir,
        published: join(root, s.name, m[1]),
        pid: Number(m[2]),
      });
    }
    out.push(...[...byKey.values()].sort((a, b) => a.key.localeCompare(b.key)));
  }
  return out;
}

/** Reads a file of a source, following a staging directory to its published place; null when gone. */
async function readSourceFile(src: Source, rel: string): Promise<string | null> {
  for (const dir of src.dir === src.published ? [src.dir] : [src.dir, src.published]) {
    try {
      return await Deno.readTextFile(join(dir, rel));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return null;
}

/** The row files (`rows/<table>.ndjson`) of a source, following a staging directory that was published. */
async function rowFilesOf(src: Source): Promise<string[]> {
  for (const dir of src.dir === src.published ? [src.dir] : [src.dir, src.published]) {
    const entries = await listDir(join(dir, "rows"));
    if (entries !== null) {
      return entries.filter((e) => e.isFile && e.name.endsWith(".ndjson")).map((e) => e.name).sort();
    }
  }
  return [];
}

/** Complete lines only: a row still being appended (no newline yet) is left out. */
function completeLines(text: string): string {
  const end = text.lastIndexOf("\n");
  return end < 0 ? "" : text.slice(0, end + 1);
}

async function readManifest(src: Source): Promise<Manifest | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(src.published, MANIFEST))) as Manifest;
  } catch {
    return null;
  }
}

/** A `stage_runs` row rebuilt from a run log. */
export interface RunRow {
  stage: string;
  key: string;
  profile: string;
  params: unknown;
  status: "running" | "success" | "failed";
  started_at: string;
  ended_at: string | null;
  seconds: number | null;
  git_commit: null;
  pid: number | null;
  log_path: string;
  error: string | null;
  backend: string | null;
}

const LOG_HEAD = /^# lopt stage (\S+) key ([0-9a-f]+) profile (\S+) started (\S+)$/m;
const LOG_FINISHED = /^# finished (\S+)$/m;
const LOG_FAILED = /^# failed: (.*)$/m;
const LOG_BACKEND = /^# backend (.*)$/m;

/**
 * Rebuilds `stage_runs` rows from the run logs (`<results>/logs/*.log`), oldest first. A run whose log has
 * no end line is `running` while its staging directory (in `sources`) belongs to a live process, else
 * `failed`; params come from the artifact's manifest or the job file of a run in progress.
 *
 * @example
 * ```ts
 * const running = (await readRunLogs("results")).filter((r) => r.status === "running");
 * ```
 */
export async function readRunLogs(
  resultsDir: string,
  sources: Map<string, Source> = new Map(),
  manifests: Map<string, Manifest> = new Map(),
): Promise<RunRow[]> {
  const logs = join(resultsDir, "logs");
  const out: RunRow[] = [];
  for (const e of (await listDir(logs)) ?? []) {
    if (!e.isFile || !e.name.endsWith(".log")) continue;
    const path = join(logs, e.name);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    const head = LOG_HEAD.exec(text);
    if (!head) continue;
    const [, stage, key, profile, started] = head;
    const id = `${stage}/${key}`;
    const finished = LOG_FINISHED.exec(text);
    const failed = LOG_FAILED.exec(text);
    const src = sources.get(id);
    const live = !finished && !failed && src?.pid != null && isPidAlive(src.pid);
    const ended = finished ? finished[1] : null;
    let params: unknown = manifests.get(id)?.params ?? null;
    if (params === null && src?.pid != null) {
      try {
        const job = JSON.parse(
          await Deno.readTextFile(join(resultsDir, ".tmp", `job-${stage}-${key}-${src.pid}.json`)),
        );
        params = job.params ?? null;
      } catch { /* the job file is removed when the run ends */ }
    }
    out.push({
      stage,
      key,
      profile,
      params,
      status: finished ? "success" : live ? "running" : "failed",
      started_at: started,
      ended_at: ended,
      seconds: ended ? (Date.parse(ended) - Date.parse(started)) / 1000 : null,
      git_commit: null,
      pid: src?.pid ?? null,
      log_path: path,
      error: failed ? failed[1] : finished || live ? null : "the run ended without recording an outcome",
      backend: LOG_BACKEND.exec(text)?.[1] ?? null,
    });
  }
  return out.sort((a, b) => a.started_at.localeCompare(b.started_at) || a.stage.localeCompare(b.stage));
}

/**
 * Builds a live snapshot of the results directory (see the module doc) and opens it read-only. Throws
 * "no results yet in DIR" when there is no `artifacts/` folder.
 *
 * @example
 * ```ts
 * const snap = await openLiveSnapshot("results");
 * const runs = await snap.store.query("SELECT stage, status FROM stage_runs");
 * await snap.close();
 * ```
 */
export async function openLiveSnapshot(
  resultsDir: string,
  opts: LiveSnapshotOptions = {},
): Promise<LiveSnapshot> {
  const root = join(resultsDir, "artifacts");
  let sources: Source[];
  try {
    sources = await listSources(root);
  } catch (e) {
    if (isNotFound(e)) throw new Error(`no results yet in ${resultsDir}: run \`deno task pipeline\` first`);
    throw e;
  }
  const listed = await Promise.all(sources.map(async (s) => ({ src: s, files: await rowFilesOf(s) })));
  await opts.afterListing?.();

  const tmp = await Deno.makeTempDir({ prefix: "lopt-live-" });
  try {
    const copies = new Map<string, { path: string; key: string }[]>();
    let n = 0;
    for (const { src, files } of listed) {
      for (const f of files) {
        const text = await readSourceFile(src, join("rows", f));
        if (text === null) continue;
        const rows = completeLines(text);
        if (rows.trim() === "") continue;
        const table = f.slice(0, -".ndjson".length);
        const copy = join(tmp, `${n++}-${src.key}.ndjson`);
        await Deno.writeTextFile(copy, rows);
        copies.set(table, [...(copies.get(table) ?? []), { path: copy, key: src.key }]);
      }
    }
    const bySource = new Map(sources.map((s) => [`${s.stage}/${s.key}`, s]));
    const manifests = new Map<string, Manifest>();
    for (const s of sources) {
      const m = await readManifest(s);
      if (m) manifests.set(`${s.stage}/${s.key}`, m);
    }
    const runs = await readRunLogs(resultsDir, bySource, manifests);

    const dbDir = join(tmp, "db");
    const declared = await readTablesFile(resultsDir);
    const writer = await ResultsStore.open(dbDir, { log: () => {} });
    try {
      // Declared tables: exact types (also those no artifact has written yet, empty).
      if (declared.length > 0) await writer.ensureTables(declared);
      for (const [table, files] of copies) await writer.loadRowFiles(table, files);
      for (const t of LIVE_UNAVAILABLE) await writer.query(`DROP TABLE IF EXISTS ${quoteIdent(t)}`);
      await writer.insertRows("stage_runs", runs.map((r) => ({ ...r })));
      await writer.insertRows(
        "artifacts",
        [...manifests.values()].map((m) => ({
          stage: m.stage,
          key: m.key,
          profile: m.profile,
          path: join(root, m.stage, m.key),
          files: m.files.length,
          bytes: m.files.reduce((a, f) => a + f.size, 0),
          created_at: m.created,
        })),
      );
    } finally {
      await writer.close();
    }
    for (const files of copies.values()) for (const f of files) await Deno.remove(f.path);
    const store = await ResultsStore.open(dbDir, { readOnly: true, log: () => {} });
    const tables = [...new Set((await store.schema()).map((c) => c.table))].sort();
    return {
      store,
      tables,
      async close() {
        await store.close();
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
      },
    };
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}
