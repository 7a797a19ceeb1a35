/**
 * Meta-training checkpoints: atomic JSON files `ckpt-<step>.json` in a directory, each holding everything
 * needed to continue deterministically (meta-params, meta-optimizer state, schedule cursors, carried inner
 * states, curve so far), tagged with a hash of the run's configuration.
 *
 * Writes go to a temporary file in the same directory and are renamed into place, so a kill leaves either the
 * old or the new checkpoint, never a torn one. Each file carries the SHA-256 of its contents (`sha256`, the
 * last member); loading skips files that are unreadable, lack the checksum, fail it (damaged or edited, even
 * when still valid JSON) or belong to another configuration, and takes the newest valid one — so a run resumes
 * from its newest intact checkpoint, or starts from scratch when there is none.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";

/**
 * File name of the checkpoint of a meta-step.
 *
 * @example
 * ```ts
 * checkpointName(120); // "ckpt-000000120.json"
 * ```
 */
export function checkpointName(metaStep: number): string {
  return `ckpt-${String(metaStep).padStart(9, "0")}.json`;
}

const NAME_RE = /^ckpt-(\d{9})\.json$/;

/** Minimal shape every checkpoint has (the trainer adds its payload). */
export interface CheckpointHeader {
  /** Format version. */
  version: number;
  /** Hash of the configuration the run was started with. */
  configHash: string;
  /** Meta-steps completed. */
  metaStep: number;
}

/**
 * SHA-256 (hex) of a value's canonical JSON (object keys sorted).
 *
 * @example
 * ```ts
 * const hash = await configHash({ seed: 0, metaLr: 1e-3 }); // 64 hex digits, independent of key order
 * ```
 */
export async function configHash(value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(value));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * JSON with object keys sorted recursively (undefined-valued keys dropped).
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: { d: undefined, c: 2 } }); // '{"a":{"c":2},"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
      return out;
    }
    return v;
  });
}

/**
 * Writes `data` as checkpoint `metaStep` atomically, then removes all but the newest `keep` checkpoints.
 *
 * @example
 * ```ts
 * const path = await writeCheckpoint("out/ckpt", { version: 1, configHash: hash, metaStep: 120 });
 * path; // "out/ckpt/ckpt-000000120.json"
 * ```
 */
export async function writeCheckpoint(dir: string, data: CheckpointHeader, keep = 2): Promise<string> {
  const path = await writeSealedFile(join(dir, checkpointName(data.metaStep)), data);
  const names = await listCheckpoints(dir);
  for (const old of names.slice(0, Math.max(0, names.length - Math.max(1, keep)))) {
    await Deno.remove(join(dir, old)).catch(() => {});
  }
  return path;
}

/**
 * Writes `data`, sealed with its checksum ({@link sealCheckpoint}), to `path` atomically: to a temporary file
 * in the same directory (created when missing), synced, then renamed into place. Returns `path`.
 *
 * @example
 * ```ts
 * await writeSealedFile("out/units/unit-0123.json", { unit: "full seed 0", result: [1, 2] });
 * ```
 */
export async function writeSealedFile(path: string, data: object): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.tmp-${basename(path)}-${Deno.pid}`);
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    await file.write(new TextEncoder().encode(sealCheckpoint(data)));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  return path;
}

/** SHA-256 (hex) of a checkpoint's JSON text without its checksum. */
function checksumOf(json: string): string {
  return createHash("sha256").update(json).digest("hex");
}

/**
 * The JSON text of a checkpoint file: `data` with its checksum as the last member, `sha256`.
 *
 * @example
 * ```ts
 * const text = sealCheckpoint({ version: 1, configHash: hash, metaStep: 3 }); // '{"version":1,...,"sha256":"…"}'
 * ```
 */
export function sealCheckpoint(data: object): string {
  const { sha256: _old, ...rest } = data as { sha256?: unknown };
  const json = JSON.stringify(rest);
  return `${json.slice(0, -1)}${json.length > 2 ? "," : ""}"sha256":"${checksumOf(json)}"}`;
}

/**
 * Parses a checkpoint file's text and checks its checksum; throws an Error saying what is wrong (unreadable,
 * no checksum, checksum mismatch).
 *
 * @example
 * ```ts
 * const data = openCheckpoint<CheckpointHeader>(await Deno.readTextFile("out/ckpt/ckpt-000000120.json"));
 * ```
 */
export function openCheckpoint<T extends object>(text: string): T {
  const data = JSON.parse(text) as T & { sha256?: unknown };
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new Error("not a JSON object");
  if (typeof data.sha256 !== "string") throw new Error("no checksum (written by an older lopt)");
  const { sha256, ...rest } = data;
  if (checksumOf(JSON.stringify(rest)) !== sha256) {
    throw new Error("its contents do not match its checksum (damaged or edited)");
  }
  return rest as unknown as T;
}

/**
 * Checkpoint file names in `dir`, oldest first (empty when the directory does not exist).
 *
 * @example
 * ```ts
 * const names = await listCheckpoints("out/ckpt"); // ["ckpt-000000100.json", "ckpt-000000120.json"]
 * ```
 */
export async function listCheckpoints(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && NAME_RE.test(e.name)) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return names.sort();
}

/**
 * The newest checkpoint in `dir` that parses, passes its checksum and carries `hash` and `version`, or null.
 * Files that are torn, lack or fail their checksum, or belong to another configuration are skipped (reported
 * through `onSkip`).
 *
 * @example
 * ```ts
 * const ckpt = await loadLatestCheckpoint<CheckpointHeader>("out/ckpt", hash, 1, (n, why) => console.warn(n, why));
 * const start = ckpt?.metaStep ?? 0;
 * ```
 */
export async function loadLatestCheckpoint<T extends CheckpointHeader>(
  dir: string,
  hash: string,
  version: number,
  onSkip?: (name: string, why: string) => void,
): Promise<T | null> {
  const names = await listCheckpoints(dir);
  for (let i = names.length - 1; i >= 0; i--) {
    let data: T;
    try {
      data = openCheckpoint<T>(await Deno.readTextFile(join(dir, names[i])));
    } catch (e) {
      onSkip?.(names[i], `unusable: ${(e as Error).message}`);
      continue;
    }
    if (data.version !== version) onSkip?.(names[i], `format version ${data.version}, expected ${version}`);
    else if (data.configHash !== hash) onSkip?.(names[i], "written by a run with a different configuration");
    else return data;
  }
  return null;
}
