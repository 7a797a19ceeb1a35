/**
 * Keeps the results database derived from the published artifacts. Every published artifact's rows
 * (`rows/<table>.ndjson`) are in the database completely or not at all, and its `artifacts` and `success`
 * `stage_runs` rows are there; rows of keys without a published artifact are not.
 *
 * On every pipeline run, for each planned stage and each of its published artifacts (every key under
 * `artifacts/<stage>/`, not only the planned one), the database is in line when its `artifacts` row names the
 * sha256 of the artifact's `manifest.json`, its `stage_runs` row says `success`, and its row count per table
 * equals the manifest's `rows`. Otherwise the artifact is loaded again in one transaction (its rows, its
 * `artifacts` row, and a `stage_runs` row taken from the manifest when the recorded one is not of this
 * manifest). Keys of the stage with rows or bookkeeping in the database but no published artifact are
 * removed, also in one transaction.
 *
 * @module
 */

import { join } from "node:path";
import type { ArtifactStore, Manifest } from "./artifacts.ts";
import { MANIFEST } from "./artifacts.ts";
import { countNdjsonRows } from "./ndjson.ts";
import type { PlannedStage } from "./plan.ts";
import type { ArtifactLoad, KeyBookkeeping } from "./run_records.ts";

/** The part of `ResultsStore` that reconciling uses. */
export interface ReconcileStore {
  rowCounts(table: string): Promise<Map<string, number>>;
  bookkeeping(stage: string): Promise<Map<string, KeyBookkeeping>>;
  loadArtifact(l: ArtifactLoad): Promise<void>;
  forgetKeys(stage: string, tables: string[], keys: string[]): Promise<void>;
}

/** What {@link reconcile} needs. */
export interface ReconcileOptions {
  plan: readonly PlannedStage[];
  store: ReconcileStore;
  artifacts: ArtifactStore;
  resultsDir: string;
  /** Writes a notice line. */
  say: (line: string) => void;
  /** Serializes store calls with the caller's other store calls (default: call directly). */
  serial?: <T>(fn: () => Promise<T>) => Promise<T>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A published artifact of a stage as found on disk. */
interface Found {
  key: string;
  manifest: Manifest;
  sha256: string;
  /** Whether every file was checked against the manifest. */
  verified: boolean;
}

/**
 * Brings the database in line with the published artifacts of the planned stages (see the module doc).
 *
 * @example
 * ```ts
 * const artifacts = new ArtifactStore("results");
 * await reconcile({ plan, store, artifacts, resultsDir: "results", say: console.error });
 * ```
 */
export async function reconcile(o: ReconcileOptions): Promise<void> {
  const serial = o.serial ?? (<T>(fn: () => Promise<T>) => fn());
  for (const p of o.plan) {
    const stage = p.stage.name;
    const tables: string[] = p.stage.tables.map((t: { name: string }) => t.name);
    const found = await publishedArtifacts(o.artifacts, p);
    const book = await serial(() => o.store.bookkeeping(stage));
    const counts = new Map<string, Map<string, number>>();
    for (const t of tables) counts.set(t, await serial(() => o.store.rowCounts(t)));

    for (const f of found.values()) {
      const dir = o.artifacts.artifactDir(stage, f.key);
      const b = book.get(f.key);
      const sameManifest = b?.artifact === true && b.manifestSha256 === f.sha256;
      // A row written before manifests were recorded (no sha256) is taken to be of this manifest.
      const keepRun = b?.status === "success" && (sameManifest || (b.artifact && b.manifestSha256 === null));
      const expected = f.manifest.rows ?? await countRows(dir, tables);
      const wrong = tables.filter((t) => (counts.get(t)!.get(f.key) ?? 0) !== (expected[t] ?? 0));
      if (sameManifest && b?.status === "success" && wrong.length === 0) continue;
      if (!f.verified) {
        const v = await o.artifacts.verify(stage, f.key);
        if (v.status !== "ok") {
          o.say(
            `artifact ${stage}/${f.key} is ${
              v.status === "missing" ? "missing" : `corrupt (${v.problem})`
            }: ` +
              "its rows are left out of the results database",
          );
          found.delete(f.key);
          continue;
        }
      }
      const what = tables.length ? `rows of ${stage} (${tables.join(", ")})` : `the run of ${stage}`;
      o.say(`re-ingesting ${what} from artifact ${dir}`);
      const logPath = join(o.resultsDir, "logs", `${stage}-${f.key}.log`);
      await serial(async () =>
        o.store.loadArtifact({
          artifact: {
            stage,
            key: f.key,
            profile: f.manifest.profile,
            path: dir,
            files: f.manifest.files.length,
            bytes: f.manifest.files.reduce((a, x) => a + x.size, 0),
            manifestSha256: f.sha256,
            createdAt: f.manifest.created,
          },
          tables: await Promise.all(tables.map(async (t) => {
            const file = join(dir, "rows", `${t}.ndjson`);
            return { name: t, file: (await exists(file)) ? file : null };
          })),
          run: keepRun ? null : {
            profile: f.manifest.profile,
            params: f.manifest.params,
            gitCommit: f.manifest.gitCommit ?? null,
            started: f.manifest.started ?? null,
            ended: f.manifest.created,
            pid: null,
            logPath: (await exists(logPath)) ? logPath : null,
            backend: f.manifest.backend ?? null,
          },
        })
      );
    }

    const stale = new Set<string>();
    for (const [k, b] of book) if (!found.has(k) && (b.artifact || b.status === "success")) stale.add(k);
    for (const c of counts.values()) for (const k of c.keys()) if (!found.has(k)) stale.add(k);
    if (stale.size) {
      const keys = [...stale].sort();
      o.say(`results db: removing rows of ${stage} without a published artifact (keys ${keys.join(", ")})`);
      await serial(() => o.store.forgetKeys(stage, tables, keys));
    }
  }
}

/** The published artifacts of a planned stage: the planned key as verified by the plan, others by manifest. */
async function publishedArtifacts(artifacts: ArtifactStore, p: PlannedStage): Promise<Map<string, Found>> {
  const out = new Map<string, Found>();
  const stage = p.stage.name;
  for (const key of await artifacts.keys(stage)) {
    const sha256 = await artifacts.manifestSha256(stage, key);
    if (sha256 === null) continue;
    if (key === p.key) {
      if (p.manifest) out.set(key, { key, manifest: p.manifest, sha256, verified: true });
      continue;
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await Deno.readTextFile(join(artifacts.artifactDir(stage, key), MANIFEST)));
    } catch {
      continue;
    }
    if (manifest?.stage !== stage || manifest.key !== key || !Array.isArray(manifest.files)) continue;
    out.set(key, { key, manifest, sha256, verified: false });
  }
  return out;
}

/** Row counts of a stage's tables from an artifact's row files (for manifests that do not record them). */
async function countRows(dir: string, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = await countNdjsonRows(join(dir, "rows", `${t}.ndjson`));
  return out;
}
