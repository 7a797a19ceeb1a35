/**
 * Executes a plan: first brings the results database in line with the published artifacts (see
 * `reconcile.ts`), then runs each stage that must run in a child Deno process (see `child.ts`) with its output
 * in `<resultsDir>/logs/<stage>-<key>.log`. The child appends rows to `rows/<table>.ndjson` in its staging
 * dir; on success the parent seals the staging dir with a manifest and, in one database transaction, replaces
 * the key's rows with the new ones, records the run and the artifact, and renames the staging dir into place.
 * Up to `jobs` independent stages run at once; a failure skips its downstream stages and lets the others
 * finish. SIGINT and SIGTERM kill the children and publish nothing.
 *
 * @module
 */

import { join } from "node:path";
import type { ArtifactStore } from "./artifacts.ts";
import type { ChildJob } from "./child.ts";
import { localExecutor, type RunningStage, type StageExecutor } from "./executor.ts";
import { isPidAlive } from "./pid.ts";
import type { PlannedStage } from "./plan.ts";
import { ProgressReporter } from "./progress.ts";
import { ProtocolSplitter } from "./protocol.ts";
import { reconcile, type ReconcileStore } from "./reconcile.ts";
import type { ArtifactRef, TableSpec } from "./stage.ts";

/** The part of `ResultsStore` (pipeline/store.ts) the runner uses. */
export interface StoreLike extends ReconcileStore {
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
  finishRun(
    r: { stage: string; key: string; status: "success" | "failed" | "interrupted"; error?: string },
  ): Promise<void>;
  markInterrupted(): Promise<{ stage: string; key: string; pid: number | null }[]>;
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
  /** Where stage runs execute (default: local child processes with `childFlags`). */
  executor?: StageExecutor;
  /** No progress output. */
  quiet?: boolean;
  /** Echo stage logs to stderr. */
  verbose?: boolean;
  /** Writes a notice line (default: stderr). */
  notice?: (line: string) => void;
}

/** Result of {@link runPlan}. */
export interface RunResult {
  outcomes: StageOutcome[];
  interrupted: boolean;
}

/** Runs the plan; never throws for a stage failure (see the outcomes). */
export async function runPlan(o: RunOptions): Promise<RunResult> {
  const notice = o.notice ?? ((l: string) => console.error(l));
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

  await serial(() => o.store.ensureTables(o.plan.flatMap((p) => p.stage.tables)));
  const marked = await serial(() => o.store.markInterrupted());
  if (marked.length) {
    say(
      `marked ${marked.length} stage run(s) interrupted (their process is gone): ` +
        marked.map((m) => `${m.stage}/${m.key}`).join(", "),
    );
  }
  await reconcile({
    plan: o.plan,
    store: o.store,
    artifacts: o.artifacts,
    resultsDir: o.resultsDir,
    say,
    serial,
  });
  await Deno.mkdir(join(o.resultsDir, "logs"), { recursive: true });
  await Deno.mkdir(join(o.resultsDir, ".tmp"), { recursive: true });
  for await (const e of Deno.readDir(join(o.resultsDir, ".tmp"))) {
    const m = /^job-.*-(\d+)\.json$/.exec(e.name);
    if (m && !isPidAlive(Number(m[1]))) await Deno.remove(join(o.resultsDir, ".tmp", e.name)).catch(() => {});
  }

  const executor = o.executor ?? localExecutor(o.childFlags);
  const children = new Set<RunningStage>();
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
      code: p.code,
    });

  const useCached = async (p: PlannedStage): Promise<StageOutcome> => {
    const t0 = performance.now();
    await writeLast(p);
    return { stage: p.stage.name, key: p.key, status: "cached", seconds: (performance.now() - t0) / 1000 };
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
    let backend: string | null = null;
    const started = new Date().toISOString();
    try {
      await serial(() =>
        o.store.beginRun({
          stage: name,
          key: p.key,
          profile: o.profile,
          params: p.params,
          gitCommit: o.gitCommit,
          pid: Deno.pid,
          logPath,
        })
      );
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
        } else if (m.type === "backend") {
          backend = m.description;
          writeLog(`# backend ${m.description}\n`);
          echo(`backend: ${m.description}`);
        } else if (m.type === "error") errorMessage = m.message;
      });
      const child = executor.start(job, jobFile, (text) => splitter.push(text), (text) => {
        writeLog(text);
        echo(text);
      });
      children.add(child);
      const status = await child.status;
      splitter.end();
      children.delete(child);
      if (interrupted) throw new Error("interrupted");
      if (status.code !== 0) {
        const sig = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
        throw new Error(errorMessage ? `${sig}: ${errorMessage}` : sig);
      }
      const tables = tablesOf(p);
      const { manifest, sha256 } = await o.artifacts.seal(staging, {
        stage: name,
        key: p.key,
        version: p.stage.version,
        profile: o.profile,
        params: p.params,
        inputs: p.inputs,
        started,
        gitCommit: o.gitCommit,
        ...(backend !== null ? { backend } : {}),
        ...(p.code ? { code: p.code } : {}),
        tables,
      });
      try {
        await serial(() =>
          o.store.loadArtifact({
            artifact: {
              stage: name,
              key: p.key,
              profile: o.profile,
              path: o.artifacts.artifactDir(name, p.key),
              files: manifest.files.length,
              bytes: manifest.files.reduce((a, f) => a + f.size, 0),
              manifestSha256: sha256,
              createdAt: manifest.created,
            },
            tables: tables.map((t) => ({ name: t, file: join(staging, "rows", `${t}.ndjson`) })),
            run: {
              profile: o.profile,
              params: p.params,
              gitCommit: o.gitCommit,
              started,
              ended: manifest.created,
              pid: Deno.pid,
              logPath,
              backend,
            },
            beforeCommit: () => o.artifacts.commit(staging, name, p.key),
          })
        );
      } catch (e) {
        throw new Error(`publishing the artifact failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      await writeLast(p);
      reporter?.complete();
      writeLog(`# finished ${new Date().toISOString()}\n`);
      return done("ran");
    } catch (e) {
      reporter?.clear();
      const msg = e instanceof Error ? e.message : String(e);
      writeLog(`# failed: ${msg}\n`);
      await Deno.remove(staging, { recursive: true }).catch(() => {});
      const status = interrupted ? "interrupted" : "failed";
      await serial(() => o.store.finishRun({ stage: name, key: p.key, status, error: msg })).catch(
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

function tryKill(c: RunningStage, sig: "SIGTERM" | "SIGKILL"): void {
  try {
    c.kill(sig);
  } catch { /* already exited */ }
}
