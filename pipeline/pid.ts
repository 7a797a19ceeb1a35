/**
 * Facts about processes on this machine, used to recover locks and staging directories left by processes
 * that died: whether a pid is live, and when a process started (so that a pid reused by an unrelated process
 * is not taken for the one that wrote a lock).
 *
 * On Linux these come from `/proc/<pid>/stat`. Deno lets a program read `/proc` only with `--allow-all`; a
 * program that may run `cat` (`--allow-run`) reads it through `cat` instead.
 *
 * @module
 */

/** What `/proc/<pid>/stat` says about a process. */
export interface ProcessStat {
  /** One-letter state (`R`, `S`, `D`, `Z` zombie, `X` dead, ...). */
  state: string;
  /** Start time in clock ticks after boot (field 22), as text; with {@link bootId} it identifies the process. */
  startTicks: string;
}

function canRun(command: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Reads a file under `/proc`: the text, null when it does not exist, undefined when this process may not
 * read it (no `--allow-all` and no permission to run `cat`) or the OS has no `/proc`.
 */
function readProc(path: string): string | null | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) return undefined;
  }
  if (!canRun("cat")) return undefined;
  try {
    const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null", stdin: "null" })
      .outputSync();
    return out.code === 0 ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return undefined;
  }
}

/**
 * Parses `/proc/<pid>/stat` (the command name may hold spaces and parentheses).
 *
 * @example
 * ```ts
 * const stat = "42 (my cmd) S 1 42 42 0 -1 4194304 100 0 0 0 5 1 0 0 20 0 1 0 123456 9000";
 * parseProcStat(stat); // { state: "S", startTicks: "123456" }
 * ```
 */
export function parseProcStat(text: string): ProcessStat | null {
  const at = text.lastIndexOf(")");
  if (at < 0) return null;
  const fields = text.slice(at + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  if (fields.length < 20) return null;
  return { state: fields[0], startTicks: fields[19] };
}

/**
 * The `/proc` facts of `pid`: null when there is no such process, undefined when they cannot be read.
 *
 * @example
 * ```ts
 * processStat(Deno.pid); // { state: "R", startTicks: "123456" }, or undefined without /proc access
 * ```
 */
export function processStat(pid: number): ProcessStat | null | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const text = readProc(`/proc/${pid}/stat`);
  if (typeof text !== "string") return text;
  return parseProcStat(text) ?? undefined;
}

/**
 * The kernel's boot id (changes at every boot), or null when it cannot be read.
 *
 * @example
 * ```ts
 * bootId(); // e.g. "6d1a2f0e-3c4b-4a5d-9e8f-0a1b2c3d4e5f", or null off Linux
 * ```
 */
export function bootId(): string | null {
  const text = readProc("/proc/sys/kernel/random/boot_id");
  return typeof text === "string" ? text.trim() : null;
}

/**
 * True when `pid` is a live (non-zombie) process on this machine. Uses {@link processStat} when it can, else
 * probes the pid with a harmless SIGCONT (needs --allow-run; a zombie then counts as alive). When neither is
 * permitted the answer is unknown and counts as alive.
 *
 * @example
 * ```ts
 * isPidAlive(Deno.pid); // true
 * ```
 */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  const st = processStat(pid);
  if (st === null) return false;
  if (st) return st.state !== "Z" && st.state !== "X";
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || /ESRCH/.test(String(e))) return false;
    return true;
  }
}
