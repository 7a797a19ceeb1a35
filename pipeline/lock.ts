/**
 * The results-directory lock: `<resultsDir>/.lock` holds the pid, hostname, start time and command of the
 * pipeline using the directory. Created atomically; a lock whose process died is recovered with a notice.
 *
 * @module
 */

import { join } from "node:path";
import { PipelineError } from "./errors.ts";
import { isPidAlive } from "./pid.ts";

/** Contents of the lock file. */
export interface LockInfo {
  pid: number;
  hostname: string;
  started: string;
  command: string;
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
 */
export function acquireLock(
  resultsDir: string,
  command: string,
  notice: (message: string) => void = (m) => console.error(m),
): Lock {
  Deno.mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, ".lock");
  const info: LockInfo = { pid: Deno.pid, hostname: hostname(), started: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const f = Deno.openSync(path, { write: true, createNew: true });
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
    if (sameHost && !isPidAlive(held.pid)) {
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
