/**
 * Whether a process id belongs to a live process, used to recover locks and staging directories left by
 * processes that died.
 *
 * @module
 */

/**
 * True when `pid` is a live (non-zombie) process on this machine. Reads `/proc/<pid>/stat` on Linux when
 * allowed (Deno grants `/proc` only with --allow-all), else probes the pid with a harmless SIGCONT (needs
 * --allow-run). When neither is permitted the answer is unknown and counts as alive.
 */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  if (Deno.build.os === "linux") {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const at = stat.lastIndexOf(")");
      const state = stat.slice(at + 2, at + 3);
      return state !== "Z" && state !== "X";
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      // NotCapable / PermissionDenied: fall back to a signal probe.
    }
  }
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || /ESRCH/.test(String(e))) return false;
    return true;
  }
}
