/**
 * The results-directory lock: `<resultsDir>/.lock` holds the pid, the process's start time (from
 * `/proc/<pid>/stat`) and boot id, the hostname, the time and the command of the pipeline using the directory.
 * Created atomically. On the same host, the lock is held only while that very process lives: a pid that is
 * gone, a zombie (killed, not yet reaped), or a pid reused by another process (other start time or boot)
 * does not hold it, and the lock is recovered at once with a notice.
 *
 * @module
 */

import { join } from "node:path";
import { PipelineError } from "./errors.ts";
import { bootId, isPidAlive, processStat } from "./pid.ts";

/** Contents of the lock file. */
export interface LockInfo {
  pid: number;
  hostname: string;
  /** When the lock was taken (ISO). */
  started: string;
  command: string;
  /** Start time of process `pid` in clock ticks after boot (`/proc/<pid>/stat` field 22), when readable. */
  pidStart?: string | null;
  /** The kernel boot id when the lock was taken, when readable. */
  bootId?: string | null;
}

/**
 * Whether the process that wrote `held` (on this host) is still running: its pid is live and not a zombie,
 * and, when the lock recorded them, it has the same start time and boot id.
 *
 * @example
 * ```ts
 * const held: LockInfo = JSON.parse(Deno.readTextFileSync("results/.lock"));
 * holderAlive(held); // false once that process has exited
 * ```
 */
export function holderAlive(held: LockInfo): boolean {
  const st = processStat(held.pid);
  if (st === null) return false;
  if (st === undefined) return isPidAlive(held.pid);
  if (st.state === "Z" || st.state === "X") return false;
  if (held.pidStart && st.startTicks !== held.pidStart) return false;
  if (held.bootId) {
    const now = bootId();
    if (now && now !== held.bootId) return false;
  }
  return true;
}

/** A held lock. */
export interface Lock {
  /** Path of the lock file. */
  path: string;
  /** What was written into it. */
  info: LockInfo;
  /** Removes the lock file if it is still ours. */
  release(): void;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

function readInfo(path: string): LockInfo | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path));
    if (typeof v?.pid === "number") return v as LockInfo;
    return null;
  } catch {
    return null;
  }
}

/**
 * Takes the lock of `resultsDir` for `command`. Throws a {@link PipelineError} naming the holder when a live
 * process holds it; removes a lock left by a dead process on this host and reports it through `notice`.
 *
 * @example
 * ```ts
 * const lock = acquireLock("results", "deno task pipeline --profile smoke");
 * lock.release(); // when the run is done
 * ```
 */
export function acquireLock(
  resultsDir: string,
  command: string,
  notice: (message: string) => void = (m) => console.error(m),
): Lock {
  Deno.mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, ".lock");
  const self = processStat(Deno.pid);
  const info: LockInfo = {
    pid: Deno.pid,
    hostname: hostname(),
    started: new Date().toISOString(),
    command,
    pidStart: self ? self.startTicks : null,
    bootId: bootId(),
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(path, { write: true, createNew: true });
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) throw e;
        throw new PipelineError(
          `cannot create the lock file ${path} (${String((e as Error).message).split("\n")[0]}): the ` +
            "results dir must be writable; give --results a writable directory",
        );
      }
      try {
        f.writeSync(new TextEncoder().encode(JSON.stringify(info) + "\n"));
      } finally {
        f.close();
      }
      return {
        path,
        info,
        release() {
          const cur = readInfo(path);
          if (cur && cur.pid === info.pid && cur.started === info.started) {
            try {
              Deno.removeSync(path);
            } catch { /* already gone */ }
          }
        },
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const held = readInfo(path);
    if (!held) {
      // Being written by another process right now, or garbage: wait briefly, then treat garbage as stale.
      if (attempt < 10) {
        sleepSync(50);
        continue;
      }
      notice(`removing unreadable lock file ${path}`);
      tryRemove(path);
      continue;
    }
    const sameHost = held.hostname === info.hostname;
    if (sameHost && !holderAlive(held)) {
      notice(
        `recovered a stale lock of results dir ${resultsDir}: pid ${held.pid} (started ${held.started}: ` +
          `${held.command}) is no longer running`,
      );
      tryRemove(path);
      continue;
    }
    throw new PipelineError(
      `another lopt pipeline (pid ${held.pid}${sameHost ? "" : ` on ${held.hostname}`}, started ` +
        `${held.started}: ${held.command}) is using results dir ${resultsDir}; wait for it or kill it`,
    );
  }
  throw new PipelineError(`could not take the lock ${path}; remove it if no lopt pipeline is running`);
}

function tryRemove(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* someone else removed it */ }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
