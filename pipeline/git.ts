/**
 * The current git commit, recorded with every stage run (needs `--allow-run=git`).
 *
 * @module
 */

/** `git rev-parse HEAD` in `cwd`, or null when git, the permission or the repository is missing. */
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
