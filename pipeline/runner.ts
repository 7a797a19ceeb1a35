/**
 * Executes a plan: each stage that must run runs in a child Deno process (see `child.ts`) with its output in
 * `<resultsDir>/logs/<stage>-<key>.log`; rows the child appends to `rows/<table>.ndjson` are streamed into the
 * results store while it runs; on success the staging dir is published with a manifest. Up to `jobs`
 * independent stages run at once; a failure skips its downstream stages and lets the others finish. SIGINT and
 * SIGTERM kill the children and publish nothing.
 *
 * @module
 */

import { join } from "node:path";
import type { ArtifactStore } from "./artifacts.ts";
import { childCommand, type ChildJob } from "./child.ts";
import { isPidAlive } from "./pid.ts";
import type { PlannedStage } from "./plan.ts";
import { ProgressReporter } from "./progress.ts";
import { ProtocolSplitter } from "./protocol.ts";
import type { ArtifactRef, TableSpec } from "./stage.ts";

/** The part of `ResultsStore` (pipeline/store.ts) the runner uses. */
export interface StoreLike {
  ensureTables(tables: TableSpec[]): Promise<unknown>;
  beginRun(r: {
    stage: string;
    key: string;
    profile: string;
    params: unknown;
    gitCommit: string | null;
    pid: number;
    logPath: string;
  }): Promise<void>;
  appendRows(table: string, key: string, rows: Record<string, unknown>[]): Promise<void>;
  deleteRows(stageTables: string[], key: string): Promise<void>;
  finishRun(r: { stage: string; key: string; status: "success" | "failed"; error?: string }): Promise<void>;
  recordArtifact(
    a: { stage: string; key: string; profile: string; path: string; files: number; bytes: number },
  ): Promise<void>;
  hasRows(table: string, key: string): Promise<boolean>;
  /** Runs `fn` in one transaction (store calls inside join it); optional. */
  transaction?<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** How one stage ended. */
export interface StageOutcome {
  stage: string;
  key: string;
  status: "ran" | "cached" | "failed" | "skipped";
  seconds: number;
  /** Why it failed or was skipped. */
  detail?: string;
  logPath?: string;
}

/** What {@link runPlan} needs. */
export interface RunOptions {
  plan: PlannedStage[];
  resultsDir: string;
  profile: string;
  jobs: number;
  store: StoreLike;
  artifacts: ArtifactStore;
  gitCommit: string | null;
  /** Permission flags for children (default: mirror this process's grants). */
  childFlags?: string[];
  /** No progress output. */
  quiet?: boolean;
  /** Echo stage logs to stderr. */
  verbose?: boolean;
  /** Writes a notice line (default: stderr). */
  notice?: (line: string) => void;
  /** How often rows are streamed into the store while a stage runs (ms, default 1000). */
  pollMs?: number;
}

/** Result of {@link runPlan}. */
export interface RunResult {
  outcomes: StageOutcome[];
  interrupted: boolean;
}

/** Rows per `appendRows` call when re-ingesting from an artifact. */
const INGEST_CHUNK = 5000;

async function readFrom(path: string, offset: number): Promise<Uint8Array | null> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const c of f.readable) {
      parts.push(c);
      n += c.length;
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  } catch (e) {
    try {
      f.close();
    } catch { /* closed by readable */ }
    throw e;
  }
}

/** Streams complete NDJSON lines appended to a stage's row files into the store. */
class RowStreamer {
  #offsets = new Map<string, number>();
  #busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly tables: string[],
    private readonly key: string,
    private readonly append: (table: string, rows: Record<string, unknown>[]) => Promise<void>,
  ) {}

  /** Reads what was appended since the last poll (polls never overlap). */
  poll(): Promise<void> {
    this.#busy = this.#busy.then(() => this.#poll());
    return this.#busy;
  }

  async #poll(): Promise<void> {
    for (const t of this.tables) {
      const path = join(this.dir, "rows", `${t}.ndjson`);
      const off = this.#offsets.get(t) ?? 0;
      const bytes = await readFrom(path, off);
      if (!bytes || bytes.length === 0) continue;
      const end = bytes.lastIndexOf(10);
      if (end < 0) continue;
      this.#offsets.set(t, off + end + 1);
      const text = new TextDecoder().decode(bytes.subarray(0, end));
      const rows = text.split("\n").filter((l) => l.trim() !== "").map((l, i) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new Error(`rows/${t}.ndjson: line ${i + 1} after byte ${off} is not JSON`);
        }
      });
      for (let i = 0; i < rows.length; i += INGEST_CHUNK) {
        await this.append(t, rows.slice(i, i + INGEST_CHUNK));
      }
    }
  }
}

/** Runs the plan; never throws for a stage failure (see the outcomes). */
export async function runPlan(o: RunOptions): Promise<RunResult> {
  const notice = o.notice ?? ((l: string) => console.error(l));
  const pollMs = o.pollMs ?? 1000;
  const reporters = new Set<ProgressReporter>();
  const say = (line: string) => {
    for (const r of reporters) r.clear();
    notice(line);
  };
  // All store calls go through one queue: the store holds a single DuckDB connection.
  let storeQueue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = storeQueue.then(fn);
    storeQueue = p.catch(() => {});
    return p;
  };

  for (const p of o.plan) {
    for (const dir of await o.artifacts.cleanStaleStaging(p.stage.name)) {
      say(`removed stale staging dir ${dir} (its process is gone)`);
    }
  }
  await serial(() => o.store.ensureTables(o.plan.flatMap((p) => p.stage.tables)));
  await Deno.mkdir(join(o.resultsDir, "logs"), { recursive: true });
  await Deno.mkdir(join(o.resultsDir, ".tmp"), { recursive: true });
  for await (const e of Deno.readDir(join(o.resultsDir, ".tmp"))) {
    const m = /^job-.*-(\d+)\.json$/.exec(e.name);
    if (m && !isPidAlive(Number(m[1]))) await Deno.remove(join(o.resultsDir, ".tmp", e.name)).catch(() => {});
  }

  const children = new Set<Deno.ChildProcess>();
  let interrupted = false;
  const onSignal = (sig: Deno.Signal) => () => {
    if (interrupted) {
      for (const c of children) tryKill(c, "SIGKILL");
      return;
    }
    interrupted = true;
    say(`received ${sig}: stopping ${children.size} running stage(s); nothing partial will be published`);
    for (const c of children) tryKill(c, "SIGTERM");
    const t = setTimeout(() => {
      for (const c of children) tryKill(c, "SIGKILL");
    }, 3000);
    Deno.unrefTimer(t);
  };
  const listeners: [Deno.Signal, () => void][] = [];
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      const l = onSignal(sig);
      Deno.addSignalListener(sig, l);
      listeners.push([sig, l]);
    } catch { /* unsupported on this OS */ }
  }

  const byName = new Map(o.plan.map((p) => [p.stage.name, p]));
  const outcomes = new Map<string, StageOutcome>();
  /** For skipped stages: the failed stage at the root. */
  const failedRoot = new Map<string, string>();

  const tablesOf = (p: PlannedStage) => p.stage.tables.map((t: TableSpec) => t.name);
  const logPathOf = (p: PlannedStage) => join(o.resultsDir, "logs", `${p.stage.name}-${p.key}.log`);
  const writeLast = (p: PlannedStage) =>
    o.artifacts.writeLast(p.stage.name, o.profile, {
      key: p.key,
      version: p.stage.version,
      params: p.params,
      inputs: p.inputs,
      time: new Date().toISOString(),
    });

  /** Deletes old rows of the key and marks the run `running`, in one transaction when the store has them. */
  const beginRun = (p: PlannedStage): Promise<void> => {
    const work = async () => {
      await o.store.deleteRows(tablesOf(p), p.key);
      await o.store.beginRun({
        stage: p.stage.name,
        key: p.key,
        profile: o.profile,
        params: p.params,
        gitCommit: o.gitCommit,
        pid: Deno.pid,
        logPath: logPathOf(p),
      });
    };
    return o.store.transaction ? o.store.transaction(work) : work();
  };

  const useCached = async (p: PlannedStage): Promise<StageOutcome> => {
    const t0 = performance.now();
    const dir = o.artifacts.artifactDir(p.stage.name, p.key);
    const missing: string[] = [];
    for (const t of tablesOf(p)) {
      let size = 0;
      try {
        size = (await Deno.stat(join(dir, "rows", `${t}.ndjson`))).size;
      } catch { /* no rows for this table */ }
      if (size > 0 && !(await serial(() => o.store.hasRows(t, p.key)))) missing.push(t);
    }
    if (missing.length) {
      say(`re-ingesting rows of ${p.stage.name} (${missing.join(", ")}) from artifact ${dir}`);
      await ingestArtifact(p, dir);
    }
    await writeLast(p);
    return { stage: p.stage.name, key: p.key, status: "cached", seconds: (performance.now() - t0) / 1000 };
  };

  const ingestArtifact = async (p: PlannedStage, dir: string) => {
    await serial(() => beginRun(p));
    await new RowStreamer(
      dir,
      tablesOf(p),
      p.key,
      (t, rows) => serial(() => o.store.appendRows(t, p.key, rows)),
    )
      .poll();
    await serial(() => o.store.finishRun({ stage: p.stage.name, key: p.key, status: "success" }));
    const m = await o.artifacts.verify(p.stage.name, p.key);
    if (m.status === "ok") {
      await serial(() =>
        o.store.recordArtifact({
          stage: p.stage.name,
          key: p.key,
          profile: o.profile,
          path: dir,
          files: m.manifest.files.length,
          bytes: m.manifest.files.reduce((a, f) => a + f.size, 0),
        })
      );
    }
  };

  const runStage = async (p: PlannedStage): Promise<StageOutcome> => {
    const t0 = performance.now();
    const name = p.stage.name;
    const logPath = logPathOf(p);
    const done = (status: StageOutcome["status"], detail?: string): StageOutcome => ({
      stage: name,
      key: p.key,
      status,
      seconds: (performance.now() - t0) / 1000,
      detail,
      logPath,
    });
    if (p.corrupt) say(`artifact ${name}/${p.key} is corrupt: ${p.corrupt}; rebuilding`);
    const staging = await o.artifacts.createStaging(name, p.key);
    const jobFile = join(o.resultsDir, ".tmp", `job-${name}-${p.key}-${Deno.pid}.json`);
    const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
    const enc = new TextEncoder();
    const writeLog = (text: string | Uint8Array) => {
      try {
        log.writeSync(typeof text === "string" ? enc.encode(text) : text);
      } catch { /* log closed */ }
    };
    let reporter: ProgressReporter | null = null;
    let errorMessage = "";
    let streamError: Error | null = null;
    try {
      await serial(() => beginRun(p));
      const inputs: Record<string, ArtifactRef> = {};
      for (const [d, k] of Object.entries(p.inputs)) {
        inputs[d] = { stage: d, key: k, dir: o.artifacts.artifactDir(d, k), params: byName.get(d)!.params };
      }
      const job: ChildJob = {
        stage: name,
        key: p.key,
        profile: o.profile,
        params: p.params,
        inputs,
        outDir: staging,
        resultsDir: o.resultsDir,
        watchStdin: true,
      };
      await Deno.writeTextFile(jobFile, JSON.stringify(job, null, 2));
      if (interrupted) throw new Error("interrupted");
      writeLog(
        `# lopt stage ${name} key ${p.key} profile ${o.profile} started ${new Date().toISOString()}\n`,
      );
      const { cmd, args } = childCommand(jobFile, o.childFlags);
      const child = new Deno.Command(cmd, {
        args,
        cwd: Deno.cwd(),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      children.add(child);
      if (!o.quiet) {
        reporter = new ProgressReporter(name);
        reporters.add(reporter);
      }
      const echo = (text: string) => {
        if (o.verbose) { for (const l of text.replace(/\n$/, "").split("\n")) say(`[${name}] ${l}`); }
      };
      const splitter = new ProtocolSplitter((text) => {
        writeLog(text);
        echo(text);
      }, (m) => {
        if (m.type === "progress") reporter?.update(m.done, m.total, m.label);
        else if (m.type === "log") {
          writeLog(m.message + "\n");
          echo(m.message);
        } else if (m.type === "error") errorMessage = m.message;
      });
      const pumpOut = (async () => {
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) splitter.push(chunk);
        splitter.end();
      })();
      const pumpErr = (async () => {
        for await (const chunk of child.stderr) {
          writeLog(chunk);
          echo(new TextDecoder().decode(chunk));
        }
      })();
      const rows = new RowStreamer(
        staging,
        tablesOf(p),
        p.key,
        (t, r) => serial(() => o.store.appendRows(t, p.key, r)),
      );
      const poll = () =>
        rows.poll().catch((e) => {
          if (!streamError) {
            streamError = e instanceof Error ? e : new Error(String(e));
            tryKill(child, "SIGTERM");
          }
        });
      const timer = setInterval(poll, pollMs);
      const status = await child.status;
      clearInterval(timer);
      children.delete(child);
      try {
        await child.stdin.close();
      } catch { /* already closed */ }
      await Promise.all([pumpOut, pumpErr]);
      if (!interrupted && status.code === 0) await poll();
      if (interrupted) throw new Error("interrupted");
      if (streamError) {
        throw new Error(`streaming rows into the results store failed: ${(streamError as Error).message}`);
      }
      if (status.code !== 0) {
        const sig = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
        throw new Error(errorMessage ? `${sig}: ${errorMessage}` : sig);
      }
      const m = await o.artifacts.publish(staging, {
        stage: name,
        key: p.key,
        version: p.stage.version,
        profile: o.profile,
        params: p.params,
        inputs: p.inputs,
      });
      await serial(() => o.store.finishRun({ stage: name, key: p.key, status: "success" }));
      await serial(() =>
        o.store.recordArtifact({
          stage: name,
          key: p.key,
          profile: o.profile,
          path: o.artifacts.artifactDir(name, p.key),
          files: m.files.length,
          bytes: m.files.reduce((a, f) => a + f.size, 0),
        })
      );
      await writeLast(p);
      reporter?.complete();
      writeLog(`# finished ${new Date().toISOString()}\n`);
      return done("ran");
    } catch (e) {
      reporter?.clear();
      const msg = e instanceof Error ? e.message : String(e);
      writeLog(`# failed: ${msg}\n`);
      await Deno.remove(staging, { recursive: true }).catch(() => {});
      await serial(() => o.store.finishRun({ stage: name, key: p.key, status: "failed", error: msg })).catch(
        (err) => say(`could not record the failure of ${name} in the results store: ${err}`),
      );
      if (interrupted) say(`stage ${name} interrupted; log: ${logPath}`);
      else say(`stage ${name} failed (${msg}); log: ${logPath}`);
      return done("failed", interrupted ? "interrupted" : msg);
    } finally {
      if (reporter) reporters.delete(reporter);
      try {
        log.close();
      } catch { /* closed */ }
      await Deno.remove(jobFile).catch(() => {});
    }
  };

  const running = new Map<string, Promise<void>>();
  try {
    while (true) {
      let progressed = false;
      for (const p of o.plan) {
        const name = p.stage.name;
        if (outcomes.has(name) || running.has(name)) continue;
        const badDep = p.stage.deps.find((d: string) => {
          const s = outcomes.get(d)?.status;
          return s === "failed" || s === "skipped";
        });
        if (badDep) {
          const root = failedRoot.get(badDep) ?? badDep;
          failedRoot.set(name, root);
          const why = outcomes.get(root)?.detail === "interrupted"
            ? "interrupted"
            : `upstream ${root} failed`;
          outcomes.set(name, { stage: name, key: p.key, status: "skipped", seconds: 0, detail: why });
          progressed = true;
          continue;
        }
        if (interrupted) {
          outcomes.set(name, {
            stage: name,
            key: p.key,
            status: "skipped",
            seconds: 0,
            detail: "interrupted",
          });
          progressed = true;
          continue;
        }
        const ready = p.stage.deps.every((d: string) => {
          const s = outcomes.get(d)?.status;
          return s === "ran" || s === "cached";
        });
        if (!ready) continue;
        if (p.action === "cached") {
          try {
            outcomes.set(name, await useCached(p));
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            say(`stage ${name}: using its cached artifact failed (${msg})`);
            outcomes.set(name, { stage: name, key: p.key, status: "failed", seconds: 0, detail: msg });
          }
          progressed = true;
          continue;
        }
        if (running.size >= Math.max(1, o.jobs)) continue;
        running.set(
          name,
          runStage(p).then((r) => {
            outcomes.set(name, r);
            running.delete(name);
          }),
        );
        progressed = true;
      }
      if (progressed) continue;
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    for (const [sig, l] of listeners) Deno.removeSignalListener(sig, l);
  }
  return { outcomes: o.plan.map((p) => outcomes.get(p.stage.name)!), interrupted };
}

function tryKill(c: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    c.kill(sig);
  } catch { /* already exited */ }
}
