/**
 * The artifact store under `<resultsDir>/artifacts/<stage>/`: published artifacts live in `<key>/` with a
 * `manifest.json` (sha256 and size of every file); a stage writes into `.staging-<key>-<pid>/` which is
 * renamed into place only when complete, so a crash never leaves a published artifact. `last-<profile>.json`
 * records the params and inputs of the latest artifact per profile, to explain why a stage reruns.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { isPidAlive } from "./pid.ts";
import type { Params } from "./stage.ts";
import { countNdjsonRows } from "./ndjson.ts";

/** Name of the manifest file inside a published artifact. */
export const MANIFEST = "manifest.json";

/** One file in a manifest (path relative to the artifact dir, `/`-separated). */
export interface ManifestFile {
  path: string;
  sha256: string;
  size: number;
}

/** The `manifest.json` of a published artifact. */
export interface Manifest {
  stage: string;
  key: string;
  version: string;
  profile: string;
  params: Params;
  /** Artifact keys of the inputs by dep name. */
  inputs: Record<string, string>;
  created: string;
  files: ManifestFile[];
  /**
   * Rows per result table: the non-blank lines of `rows/<table>.ndjson` (0 for a declared table without a
   * file). The pipeline checks the database's row counts against it on every run.
   */
  rows?: Record<string, number>;
  /** When the run that produced the artifact started (ISO), and the git commit it ran at. */
  started?: string;
  gitCommit?: string | null;
  /** The compute backend the run announced (e.g. `wasm`, `webgpu (<adapter>; software adapter)`). */
  backend?: string;
  /** Content hash of every file of the stage's code dependencies, by path (absent when it declares none). */
  code?: Record<string, string>;
}

/** What {@link ArtifactStore.seal} needs besides the files: the manifest fields it does not compute. */
export type ManifestMeta = Omit<Manifest, "files" | "created" | "rows"> & {
  /** The stage's result tables (each gets a row count, 0 when it has no file). */
  tables?: readonly string[];
};

/** The `last-<profile>.json` record: what the latest artifact of a stage for a profile was built from. */
export interface LastRecord {
  key: string;
  version: string;
  params: Params;
  inputs: Record<string, string>;
  time: string;
  /** Content hash of every file of the stage's code dependencies, by path (absent when it declares none). */
  code?: Record<string, string>;
}

/** Result of {@link ArtifactStore.verify}. */
export type VerifyResult =
  | { status: "ok"; manifest: Manifest }
  | { status: "missing" }
  | { status: "corrupt"; problem: string };

/**
 * Hex sha256 and size of a file, streamed.
 *
 * @example
 * ```ts
 * const { sha256, size } = await hashFile("results/artifacts/meta-train/0123456789abcdef/hrnn.weights");
 * ```
 */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  using f = await Deno.open(path, { read: true });
  for await (const chunk of f.readable) {
    h.update(chunk);
    size += chunk.length;
  }
  return { sha256: h.digest("hex"), size };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  await walk(dir);
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

const STAGING = /^\.staging-(.+)-(\d+)$/;
const TRASH = /^\.trash-(.+)-(\d+)$/;

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Reads, writes, verifies and publishes artifacts of a results directory.
 *
 * @example
 * ```ts
 * const store = new ArtifactStore("results");
 * const v = await store.verify("meta-train", "0123456789abcdef"); // { status: "ok", manifest } when intact
 * ```
 */
export class ArtifactStore {
  /** Root of all artifacts: `<resultsDir>/artifacts`. */
  readonly root: string;

  /** Store rooted at `<resultsDir>/artifacts`. */
  constructor(readonly resultsDir: string) {
    this.root = join(resultsDir, "artifacts");
  }

  /** Directory of a stage's artifacts. */
  stageDir(stage: string): string {
    return join(this.root, stage);
  }

  /** Directory of a published artifact. */
  artifactDir(stage: string, key: string): string {
    return join(this.root, stage, key);
  }

  /** Staging directory a run by process `pid` writes into. */
  stagingDir(stage: string, key: string, pid: number = Deno.pid): string {
    return join(this.root, stage, `.staging-${key}-${pid}`);
  }

  /** Creates an empty staging directory (removing a leftover of the same name). */
  async createStaging(stage: string, key: string, pid: number = Deno.pid): Promise<string> {
    const dir = this.stagingDir(stage, key, pid);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Cleans up after processes of `stage` that died: removes their staging directories, and puts back an
   * artifact that a dead process had moved aside to replace it (`.trash-<key>-<pid>` while `<key>/` is
   * missing) or removes that copy when the replacement is in place. Returns one line per change.
   */
  async cleanStaleStaging(stage: string): Promise<string[]> {
    const done: string[] = [];
    const dir = this.stageDir(stage);
    if (!(await exists(dir))) return done;
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    for (const e of entries) {
      const staging = STAGING.exec(e.name);
      const trash = TRASH.exec(e.name);
      const m = staging ?? trash;
      if (!m || !e.isDirectory) continue;
      if (isPidAlive(Number(m[2]))) continue;
      const p = join(dir, e.name);
      const target = join(dir, m[1]);
      if (trash && !(await exists(target))) {
        await Deno.rename(p, target);
        done.push(`restored artifact ${target} (a replacement of it was interrupted)`);
        continue;
      }
      await Deno.remove(p, { recursive: true }).catch(() => {});
      done.push(`removed stale staging dir ${p} (its process is gone)`);
    }
    return done;
  }

  /**
   * Writes `manifest.json` into a complete staging dir: the hash and size of every file and the row count
   * of every table, `created` now. Returns the manifest and the sha256 of the manifest file. The artifact is
   * published by {@link commit}.
   */
  async seal(staging: string, meta: ManifestMeta): Promise<{ manifest: Manifest; sha256: string }> {
    await Deno.remove(join(staging, MANIFEST)).catch(() => {});
    const files: ManifestFile[] = [];
    const rows: Record<string, number> = {};
    for (const t of meta.tables ?? []) rows[t] = 0;
    for (const rel of await listFiles(staging)) {
      files.push({ path: rel, ...(await hashFile(join(staging, rel))) });
      const m = /^rows\/([^/]+)\.ndjson$/.exec(rel);
      if (m) rows[m[1]] = await countNdjsonRows(join(staging, rel));
    }
    const { tables: _tables, ...rest } = meta;
    const manifest: Manifest = { ...rest, created: new Date().toISOString(), files, rows };
    const text = JSON.stringify(manifest, null, 2) + "\n";
    await Deno.writeTextFile(join(staging, MANIFEST), text);
    return { manifest, sha256: sha256Hex(new TextEncoder().encode(text)) };
  }

  /**
   * Publishes a sealed staging dir: renames it to `<key>/`, replacing a previous artifact of the same key
   * (moved aside to `.trash-<key>-<pid>` first, and put back if the rename fails).
   */
  async commit(staging: string, stage: string, key: string): Promise<void> {
    const target = this.artifactDir(stage, key);
    if (await exists(target)) {
      const trash = join(this.stageDir(stage), `.trash-${key}-${Deno.pid}`);
      await Deno.remove(trash, { recursive: true }).catch(() => {});
      await Deno.rename(target, trash);
      try {
        await Deno.rename(staging, target);
      } catch (e) {
        await Deno.rename(trash, target).catch(() => {});
        throw e;
      }
      await Deno.remove(trash, { recursive: true }).catch(() => {});
    } else {
      await Deno.rename(staging, target);
    }
  }

  /** {@link seal} then {@link commit}; returns the manifest. */
  async publish(staging: string, meta: ManifestMeta): Promise<Manifest> {
    const { manifest } = await this.seal(staging, meta);
    await this.commit(staging, meta.stage, meta.key);
    return manifest;
  }

  /** Keys of the published-looking artifact dirs of a stage (not staging or trash dirs), sorted. */
  async keys(stage: string): Promise<string[]> {
    const out: string[] = [];
    const dir = this.stageDir(stage);
    if (!(await exists(dir))) return out;
    for await (const e of Deno.readDir(dir)) if (e.isDirectory && !e.name.startsWith(".")) out.push(e.name);
    return out.sort();
  }

  /** sha256 of an artifact's `manifest.json`, or null when it cannot be read. */
  async manifestSha256(stage: string, key: string): Promise<string | null> {
    try {
      return sha256Hex(await Deno.readFile(join(this.artifactDir(stage, key), MANIFEST)));
    } catch {
      return null;
    }
  }

  /** Checks that the artifact exists, its manifest matches, and every file has the recorded hash and size. */
  async verify(stage: string, key: string): Promise<VerifyResult> {
    const dir = this.artifactDir(stage, key);
    if (!(await exists(dir))) return { status: "missing" };
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await Deno.readTextFile(join(dir, MANIFEST)));
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "missing" : "unreadable";
      return { status: "corrupt", problem: `${MANIFEST} ${why}` };
    }
    if (manifest.key !== key || manifest.stage !== stage || !Array.isArray(manifest.files)) {
      return { status: "corrupt", problem: `${MANIFEST} does not describe ${stage}/${key}` };
    }
    const listed = new Set(manifest.files.map((f) => f.path));
    for (const f of manifest.files) {
      let got: { sha256: string; size: number };
      try {
        got = await hashFile(join(dir, f.path));
      } catch {
        return { status: "corrupt", problem: `file ${f.path} missing` };
      }
      if (got.size !== f.size || got.sha256 !== f.sha256) {
        return { status: "corrupt", problem: `file ${f.path} hash mismatch` };
      }
    }
    for (const rel of await listFiles(dir)) {
      if (rel !== MANIFEST && !listed.has(rel)) {
        return { status: "corrupt", problem: `unexpected file ${rel}` };
      }
    }
    return { status: "ok", manifest };
  }

  /** Path of the last-artifact record of a stage for a profile. */
  lastPath(stage: string, profile: string): string {
    return join(this.stageDir(stage), `last-${profile}.json`);
  }

  /** The last-artifact record of a stage for a profile, or null. */
  async readLast(stage: string, profile: string): Promise<LastRecord | null> {
    try {
      return JSON.parse(await Deno.readTextFile(this.lastPath(stage, profile)));
    } catch {
      return null;
    }
  }

  /** Writes the last-artifact record atomically (write then rename). */
  async writeLast(stage: string, profile: string, rec: LastRecord): Promise<void> {
    await Deno.mkdir(this.stageDir(stage), { recursive: true });
    const p = this.lastPath(stage, profile);
    const tmp = `${p}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(tmp, JSON.stringify(rec, null, 2) + "\n");
    await Deno.rename(tmp, p);
  }
}
