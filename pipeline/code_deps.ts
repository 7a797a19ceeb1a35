/**
 * Code dependencies of a stage (DVC's code deps): files or folders, relative to the repository root, whose
 * content enters the stage's cache key, so that a changed kernel or loop reruns the stages that declare it
 * (and, through their keys, everything downstream) without a hand-bumped `version`. The artifact keeps the
 * hash of every file, so a rerun names the files that changed.
 *
 * @example
 * ```ts
 * import { changedCodeFiles, hashCodeDeps, REPO_ROOT } from "./code_deps.ts";
 * const now = await hashCodeDeps(["models/hrnn/"], REPO_ROOT); // { "models/hrnn/fused.ts": "ab12…", … }
 * changedCodeFiles({}, now); // every file of now
 * ```
 *
 * @module
 */

import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "./cache.ts";

/**
 * The repository root: the folder above `pipeline/`, where this module lives.
 *
 * @example
 * ```ts
 * await hashCodeDeps(["pipeline/cache.ts"], REPO_ROOT);
 * ```
 */
export const REPO_ROOT: string = fileURLToPath(new URL("../", import.meta.url));

/**
 * File name endings a declared folder contributes (its source files; data, logs and build output do not
 * count).
 *
 * @example
 * ```ts
 * CODE_EXTENSIONS.includes(".ts"); // true
 * ```
 */
export const CODE_EXTENSIONS: readonly string[] = [".ts", ".js", ".mjs", ".c", ".h", ".wgsl", ".sql"];

/** Folders a declared folder's walk never enters. */
const SKIPPED_DIRS = new Set(["node_modules", ".git"]);

function isSource(name: string): boolean {
  return CODE_EXTENSIONS.some((e) => name.endsWith(e));
}

async function walk(dir: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory && !SKIPPED_DIRS.has(e.name) && !e.name.startsWith(".")) await walk(path, out);
    else if (e.isFile && isSource(e.name)) out.push(path);
  }
}

/**
 * The sha256 of every file the declared paths cover, keyed by its path relative to `root` (`/`-separated),
 * sorted by path. A file is hashed whatever its name; a folder contributes its source files
 * ({@link CODE_EXTENSIONS}), recursively. Throws naming the path when a declared path does not exist. Pass one
 * `cache` (absolute path → hash) to several calls so that files shared between stages are read once.
 *
 * @example
 * ```ts
 * await hashCodeDeps(["models/hrnn/fused.ts"], REPO_ROOT); // { "models/hrnn/fused.ts": "…" }
 * ```
 */
export async function hashCodeDeps(
  paths: readonly string[],
  root: string,
  cache: Map<string, string> = new Map(),
): Promise<Record<string, string>> {
  const files = new Set<string>();
  for (const p of paths) {
    const abs = join(root, p);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(abs);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(`code dependency ${p} does not exist under ${root}: fix the stage's codeDeps`);
      }
      throw e;
    }
    if (info.isDirectory) {
      const found: string[] = [];
      await walk(abs, found);
      for (const f of found) files.add(f);
    } else files.add(abs);
  }
  const out: Record<string, string> = {};
  const rel = [...files].map((f) => ({ f, r: relative(root, f).split(sep).join("/") }));
  rel.sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : 0));
  for (const { f, r } of rel) {
    // Stages share most of their folders: one plan reads and hashes each file once (`cache`: path → hash).
    let h = cache.get(f);
    if (h === undefined) cache.set(f, h = sha256Hex(await Deno.readFile(f)));
    out[r] = h;
  }
  return out;
}

/**
 * The files whose hash differs between two {@link hashCodeDeps} results (added and removed ones too),
 * sorted.
 *
 * @example
 * ```ts
 * changedCodeFiles({ "a.ts": "1", "b.ts": "2" }, { "a.ts": "1", "b.ts": "3" }); // ["b.ts"]
 * ```
 */
export function changedCodeFiles(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort();
}
