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
}

/** The `last-<profile>.json` record: what the latest artifact of a stage for a profile was built from. */
export interface LastRecord {
  key: string;
  version: string;
  params: Params;
  inputs: Record<string, string>;
  time: string;
}

/** Result of {@link ArtifactStore.verify}. */
export type VerifyResult =
  | { status: "ok"; manifest: Manifest }
  | { status: "missing" }
  | { status: "corrupt"; problem: string };

/** Hex sha256 and size of a file, streamed. */
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

/** Reads, writes, verifies and publishes artifacts of a results directory. */
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

  /** Removes staging directories of `stage` whose owning process is dead; returns the removed paths. */
  async cleanStaleStaging(stage: string): Promise<string[]> {
    const removed: string[] = [];
    const dir = this.stageDir(stage);
    if (!(await exists(dir))) return removed;
    for await (const e of Deno.readDir(dir)) {
      const m = STAGING.exec(e.name) ?? /^\.trash-(.+)-(\d+)$/.exec(e.name);
      if (!m || !e.isDirectory) continue;
      if (isPidAlive(Number(m[2]))) continue;
      const p = join(dir, e.name);
      await Deno.remove(p, { recursive: true }).catch(() => {});
      removed.push(p);
    }
    return removed;
  }

  /**
   * Publishes a complete staging dir: writes `manifest.json` (hash and size of every file) and renames the
   * dir to `<key>/`, replacing a previous (corrupt) artifact of the same key. Returns the manifest.
   */
  async publish(
    staging: string,
    meta: Omit<Manifest, "files" | "created">,
  ): Promise<Manifest> {
    await Deno.remove(join(staging, MANIFEST)).catch(() => {});
    const files: ManifestFile[] = [];
    for (const rel of await listFiles(staging)) {
      files.push({ path: rel, ...(await hashFile(join(staging, rel))) });
    }
    const manifest: Manifest = { ...meta, created: new Date().toISOString(), files };
    await Deno.writeTextFile(join(staging, MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
    const target = this.artifactDir(meta.stage, meta.key);
    if (await exists(target)) {
      const trash = join(this.stageDir(meta.stage), `.trash-${meta.key}-${Deno.pid}`);
      await Deno.remove(trash, { recursive: true }).catch(() => {});
      await Deno.rename(target, trash);
      await Deno.rename(staging, target);
      await Deno.remove(trash, { recursive: true }).catch(() => {});
    } else {
      await Deno.rename(staging, target);
    }
    return manifest;
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
