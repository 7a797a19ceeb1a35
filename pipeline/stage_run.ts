/**
 * One stage run in a child process: start it on the executor with a job file, log its output to
 * `<resultsDir>/logs/<stage>-<key>.log`, then seal and publish its staged artifact, or record why it failed.
 *
 * @module
 */
import { join } from "node:path";
import type { ChildJob } from "./child.ts";
import type { StageExecutor } from "./executor.ts";
import type { PlannedStage } from "./plan.ts";
import { ProgressReporter } from "./progress.ts";
import { ProtocolSplitter } from "./protocol.ts";
import type { RunSession } from "./run_session.ts";
import type { StageOutcome } from "./run_types.ts";
import type { ArtifactRef, TableSpec } from "./stage.ts";

/** A stage's log file, written synchronously; writes after `close` are dropped. */
interface StageLog {
  write(text: string | Uint8Array): void;
  close(): void;
}

async function openStageLog(path: string): Promise<StageLog> {
  const log = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  return {
    write(text) {
      try {
        log.writeSync(typeof text === "string" ? enc.encode(text) : text);
      } catch { /* log closed */ }
    },
    close() {
      try {
        log.close();
      } catch { /* closed */ }
    },
  };
}

/** What a stage's child process reported besides its exit status. */
interface ChildReport {
  backend: string | null;
}

/**
 * Writes the job file, starts the child and waits for it; throws when the run was interrupted or the child
 * failed (its last `error` message in the thrown one).
 */
async function runChild(
  s: RunSession,
  executor: StageExecutor,
  job: ChildJob,
  jobFile: string,
  log: StageLog,
  setReporter: (r: ProgressReporter) => void,
): Promise<ChildReport> {
  const name = job.stage;
  await Deno.writeTextFile(jobFile, JSON.stringify(job, null, 2));
  if (s.interrupted) throw new Error("interrupted");
  log.write(
    `# lopt stage ${name} key ${job.key} profile ${job.profile} started ${new Date().toISOString()}\n`,
  );
  let reporter: ProgressReporter | null = null;
  if (!s.o.quiet) {
    reporter = new ProgressReporter(name);
    s.reporters.add(reporter);
    setReporter(reporter);
  }
  const echo = (text: string) => {
    if (s.o.verbose) { for (const l of text.replace(/\n$/, "").split("\n")) s.say(`[${name}] ${l}`); }
  };
  const report: ChildReport = { backend: null };
  let errorMessage = "";
  const splitter = new ProtocolSplitter((text) => {
    log.write(text);
    echo(text);
  }, (m) => {
    if (m.type === "progress") reporter?.update(m.done, m.total, m.label);
    else if (m.type === "log") {
      log.write(m.message + "\n");
      echo(m.message);
    } else if (m.type === "backend") {
      report.backend = m.description;
      log.write(`# backend ${m.description}\n`);
      echo(`backend: ${m.description}`);
    } else if (m.type === "error") errorMessage = m.message;
  });
  const child = executor.start(job, jobFile, (text) => splitter.push(text), (text) => {
    log.write(text);
    echo(text);
  });
  s.children.add(child);
  const status = await child.status;
  splitter.end();
  s.children.delete(child);
  if (s.interrupted) throw new Error("interrupted");
  if (status.code !== 0) {
    const sig = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
    throw new Error(errorMessage ? `${sig}: ${errorMessage}` : sig);
  }
  return report;
}

/** Seals the staged artifact and, in one store transaction, loads its rows, records the run and publishes it. */
async function publish(
  s: RunSession,
  p: PlannedStage,
  staging: string,
  started: string,
  backend: string | null,
  logPath: string,
): Promise<void> {
  const o = s.o, name = p.stage.name;
  const tables = p.stage.tables.map((t: TableSpec) => t.name);
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
    await s.serial(() =>
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
}

/**
 * Runs one stage that must run: records the run's start, runs it in a child process, publishes its artifact
 * on success; on failure or interrupt removes the staging dir and records the outcome. Never throws for a
 * stage failure.
 *
 * @example
 * ```ts
 * const outcome = await runStage(session, executor, planned, byName); // outcome.status: "ran" | "failed"
 * ```
 */
export async function runStage(
  s: RunSession,
  executor: StageExecutor,
  p: PlannedStage,
  byName: ReadonlyMap<string, PlannedStage>,
): Promise<StageOutcome> {
  const o = s.o;
  const t0 = performance.now();
  const name = p.stage.name;
  const logPath = s.logPathOf(p);
  const done = (status: StageOutcome["status"], detail?: string): StageOutcome => ({
    stage: name,
    key: p.key,
    status,
    seconds: (performance.now() - t0) / 1000,
    detail,
    logPath,
  });
  if (p.corrupt) s.say(`artifact ${name}/${p.key} is corrupt: ${p.corrupt}; rebuilding`);
  const staging = await o.artifacts.createStaging(name, p.key);
  const jobFile = join(o.resultsDir, ".tmp", `job-${name}-${p.key}-${Deno.pid}.json`);
  const log = await openStageLog(logPath);
  const bar: { reporter: ProgressReporter | null } = { reporter: null };
  const started = new Date().toISOString();
  try {
    await s.serial(() =>
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
    const { backend } = await runChild(s, executor, job, jobFile, log, (r) => bar.reporter = r);
    await publish(s, p, staging, started, backend, logPath);
    await s.writeLast(p);
    bar.reporter?.complete();
    log.write(`# finished ${new Date().toISOString()}\n`);
    return done("ran");
  } catch (e) {
    bar.reporter?.clear();
    const msg = e instanceof Error ? e.message : String(e);
    log.write(`# failed: ${msg}\n`);
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    const status = s.interrupted ? "interrupted" : "failed";
    await s.serial(() => o.store.finishRun({ stage: name, key: p.key, status, error: msg })).catch(
      (err) => s.say(`could not record the failure of ${name} in the results store: ${err}`),
    );
    if (s.interrupted) s.say(`stage ${name} interrupted; log: ${logPath}`);
    else s.say(`stage ${name} failed (${msg}); log: ${logPath}`);
    return done("failed", s.interrupted ? "interrupted" : msg);
  } finally {
    if (bar.reporter) s.reporters.delete(bar.reporter);
    log.close();
    await Deno.remove(jobFile).catch(() => {});
  }
}
