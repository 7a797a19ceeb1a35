/**
 * The current git commit, recorded with every stage run (needs `--allow-run=git`), and what identifies the
 * code when there is no git (an archive checkout).
 *
 * @module
 */

/** How the code is named when git cannot tell and `deno.json` has no `version`. */
export const NO_GIT_LABEL = "archive checkout (no git)";

const DENO_JSON = new URL("../deno.json", import.meta.url);

/**
 * The name of the code for a checkout without git: `version X (no git)` from the `version` field of the
 * repository's `deno.json`, else {@link NO_GIT_LABEL}.
 *
 * @example
 * ```ts
 * await noGitVersion(); // "version 0.1.0 (no git)"
 * ```
 */
export async function noGitVersion(denoJson: URL | string = DENO_JSON): Promise<string> {
  try {
    const v = JSON.parse(await Deno.readTextFile(denoJson)).version;
    if (typeof v === "string" && v.trim() !== "") return `version ${v.trim()} (no git)`;
  } catch { /* no readable deno.json */ }
  return NO_GIT_LABEL;
}

/**
 * `git rev-parse HEAD` in `cwd`, or null when git, the permission or the repository is missing.
 *
 * @example
 * ```ts
 * const commit = await gitCommit(); // a 40-hex sha, or null without git
 * ```
 */
export async function gitCommit(cwd: string = Deno.cwd()): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    const sha = new TextDecoder().decode(out.stdout).trim();
    return /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
  } catch {
    return null;
  }
}
