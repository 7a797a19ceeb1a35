/**
 * Local meta-training workers: child Deno processes (`worker_main.ts --stdio`) that take the coordinator's
 * requests as JSON lines on their stdin and answer on their stdout (protocol lines marked as in
 * `pipeline/protocol.ts`; anything else they print, and their stderr, goes to the log). No server is needed.
 * A worker that dies or is given up is killed and replaced by a new one, up to a limit.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { permissionFlags } from "../../../pipeline/child.ts";
import { ProtocolSplitter } from "../../../pipeline/protocol.ts";
import type { WorkerLink, WorkerPool } from "./pool.ts";
import type { CoordinatorRequest, WorkerReply, WorkerStatus } from "./protocol.ts";

/** Options of {@link localWorkerPool}. */
export interface LocalPoolOptions {
  /** Workers to keep running. */
  count: number;
  /** Receives the workers' own output lines (prefixed with their id). */
  log: (line: string) => void;
  /** Replacements allowed in total before the pool gives up (default: 2 × count + 2). */
  maxReplacements?: number;
  /** Permission flags of the children (default: this process's grants). */
  flags?: string[];
}

const WORKER_MAIN = fileURLToPath(new URL("./worker_main.ts", import.meta.url));

interface Child {
  id: string;
  proc: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** The reply the current call waits for. */
  waiting: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null;
  hello: (s: WorkerStatus) => void;
  exited: boolean;
  forgotten: boolean;
}

/** A pool of local worker processes (see the module doc); `pids()` names them (tests kill one). */
export interface LocalWorkerPool extends WorkerPool {
  /** Worker id → process id of the running workers. */
  pids(): Map<string, number>;
}

/**
 * A pool of `o.count` local worker processes talking over their pipes.
 *
 * @example
 * ```ts
 * const pool = localWorkerPool({ count: 2, log: console.error });
 * const result = await metaTrain({ ...args, distribute: distributeTo({ pool, ...rest }) });
 * ```
 */
export function localWorkerPool(o: LocalPoolOptions): LocalWorkerPool {
  if (!Number.isInteger(o.count) || o.count < 1) {
    throw new Error(`worker count must be >= 1 (got ${o.count})`);
  }
  const children = new Map<string, Child>();
  let made = 0;
  let replacements = 0;
  const maxReplacements = o.maxReplacements ?? 2 * o.count + 2;
  let closed = false;
  let onJoin: (l: WorkerLink) => void = () => {};
  let onFatal: (e: Error) => void = () => {};
  const enc = new TextEncoder();

  const spawn = (): void => {
    const id = `local-${++made}`;
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["run", ...(o.flags ?? permissionFlags()), WORKER_MAIN, "--stdio", "--id", id],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const child: Child = {
      id,
      proc,
      writer: proc.stdin.getWriter(),
      waiting: null,
      hello: () => {},
      exited: false,
      forgotten: false,
    };
    children.set(id, child);
    const link: WorkerLink = {
      id,
      call(req: CoordinatorRequest, timeoutMs: number): Promise<WorkerReply> {
        if (child.exited) return Promise.reject(new Error("the worker process has exited"));
        if (child.waiting) {
          return Promise.reject(new Error("internal: a call to this worker is already running"));
        }
        return new Promise<WorkerReply>((resolve, reject) => {
          const timer = setTimeout(() => {
            child.waiting = null;
            reject(new Error(`no answer within ${(timeoutMs / 1000).toFixed(0)} s`));
          }, timeoutMs);
          child.waiting = {
            resolve: (r) => {
              clearTimeout(timer);
              resolve(r);
            },
            reject: (e) => {
              clearTimeout(timer);
              reject(e);
            },
          };
          child.writer.write(enc.encode(JSON.stringify(req) + "\n")).catch((e) => {
            const w = child.waiting;
            child.waiting = null;
            w?.reject(new Error(`cannot write to the worker: ${(e as Error).message}`));
          });
        });
      },
    };
    child.hello = () => onJoin(link);
    const lines = (prefix: string) => {
      let buf = "";
      return (text: string) => {
        buf += text;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) o.log(`[${id}] ${prefix}${line}`);
        }
      };
    };
    const splitter = new ProtocolSplitter(lines(""), (m) => {
      const msg = m as unknown as WorkerReply | WorkerStatus;
      if (msg.type === "hello") {
        child.hello(msg);
        return;
      }
      const w = child.waiting;
      child.waiting = null;
      w?.resolve(msg);
    });
    const pump = async (stream: ReadableStream<Uint8Array>, sink: (t: string) => void) => {
      const dec = new TextDecoder();
      for await (const chunk of stream) sink(dec.decode(chunk, { stream: true }));
    };
    const errLines = lines("");
    Promise.all([
      pump(proc.stdout, (t) => splitter.push(t)).then(() => splitter.end()),
      pump(proc.stderr, errLines),
    ]).catch(() => {});
    proc.status.then((st) => {
      child.exited = true;
      const w = child.waiting;
      child.waiting = null;
      const how = st.signal ? `killed by ${st.signal}` : `exited with code ${st.code}`;
      w?.reject(new Error(`the worker process ${how}`));
      children.delete(id);
      if (closed) return;
      if (!child.forgotten) o.log(`[${id}] worker process ${how}`);
      replace();
    });
  };

  const replace = (): void => {
    if (closed) return;
    if (children.size >= o.count) return;
    if (replacements >= maxReplacements) {
      onFatal(
        new Error(
          `local meta-training workers failed ${replacements + 1} times; see the worker lines in the log`,
        ),
      );
      return;
    }
    replacements++;
    spawn();
  };

  return {
    local: true,
    expected: o.count,
    description: `${o.count} local worker process${o.count === 1 ? "" : "es"} (pipes)`,
    start(join, fatal) {
      onJoin = join;
      onFatal = fatal;
      for (let i = 0; i < o.count; i++) spawn();
      return Promise.resolve();
    },
    forget(id) {
      const c = children.get(id);
      if (!c) return;
      c.forgotten = true;
      try {
        c.proc.kill("SIGKILL");
      } catch { /* already gone */ }
    },
    pids() {
      return new Map([...children.values()].filter((c) => !c.exited).map((c) => [c.id, c.proc.pid]));
    },
    async close() {
      closed = true;
      const all = [...children.values()];
      for (const c of all) {
        await c.writer.close().catch(() => {});
      }
      const timer = setTimeout(() => {
        for (const c of all) {
          try {
            c.proc.kill("SIGKILL");
          } catch { /* gone */ }
        }
      }, 3000);
      await Promise.all(all.map((c) => c.proc.status.catch(() => {})));
      clearTimeout(timer);
    },
  };
}
