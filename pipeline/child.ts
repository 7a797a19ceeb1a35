/**
 * Stage child processes: the job description the parent hands a child, the command that re-executes the
 * entry module with the parent's permissions and a hidden `--child <job-file>` flag, and the child side that
 * runs one stage, appending rows as NDJSON to `<outDir>/rows/<table>.ndjson` and sending progress, log and
 * compute-backend messages to the parent over stdout (see `protocol.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeMessage } from "./protocol.ts";
import { onComputeDevice } from "../lib/compute_device.ts";
import type { ArtifactRef, Params, StageContext, StageDef } from "./stage.ts";

/** The hidden flag that runs one stage in child mode. */
export const CHILD_FLAG = "--child";

/** What a child needs to run one stage (written as JSON to a job file). */
export interface ChildJob {
  stage: string;
  key: string;
  profile: string;
  params: Params;
  inputs: Record<string, ArtifactRef>;
  outDir: string;
  resultsDir: string;
  /** Exit when stdin reaches end of file (the parent died). */
  watchStdin: boolean;
}

/**
 * Permission flags equivalent to this process's grants (`--allow-read`, ...), so a child gets what the parent
 * has. Partial grants are mirrored for the common cases (net to localhost, run of git and deno).
 *
 * @example
 * ```ts
 * permissionFlags(); // e.g. ["--allow-read", "--allow-write", "--allow-env", "--allow-run"]
 * ```
 */
export function permissionFlags(): string[] {
  const flags: string[] = [];
  const granted = (d: Deno.PermissionDescriptor): boolean => {
    try {
      return Deno.permissions.querySync(d).state === "granted";
    } catch {
      return false;
    }
  };
  for (const name of ["read", "write", "env", "sys", "ffi"] as const) {
    if (granted({ name })) flags.push(`--allow-${name}`);
    else if ((name === "read" || name === "write") && granted({ name, path: Deno.cwd() })) {
      flags.push(`--allow-${name}=${Deno.cwd()}`);
    }
  }
  if (granted({ name: "net" })) flags.push("--allow-net");
  else {
    const hosts = ["127.0.0.1", "localhost"].filter((host) => granted({ name: "net", host }));
    if (hosts.length) flags.push(`--allow-net=${hosts.join(",")}`);
  }
  if (granted({ name: "run" })) flags.push("--allow-run");
  else {
    const cmds = ["git", Deno.execPath()].filter((command) => granted({ name: "run", command }));
    if (cmds.length) flags.push(`--allow-run=${cmds.join(",")}`);
  }
  return flags;
}

/**
 * The entry module as a path when it is a local file.
 *
 * @example
 * ```ts
 * entryModule(); // e.g. "/home/me/lopt/stages/main.ts" when started as `deno run stages/main.ts`
 * ```
 */
export function entryModule(): string {
  const m = Deno.mainModule;
  return m.startsWith("file:") ? fileURLToPath(m) : m;
}

/**
 * Command and args that run `jobFile` in a child: `deno run <flags> <entry> --child <jobFile>`.
 *
 * @example
 * ```ts
 * const { cmd, args } = childCommand("results/.tmp/job-report-0123456789abcdef-4242.json");
 * const child = new Deno.Command(cmd, { args, stdout: "piped" }).spawn();
 * ```
 */
export function childCommand(
  jobFile: string,
  flags: string[] = permissionFlags(),
): { cmd: string; args: string[] } {
  return { cmd: Deno.execPath(), args: ["run", ...flags, entryModule(), CHILD_FLAG, jobFile] };
}

function send(m: Parameters<typeof encodeMessage>[0]): void {
  Deno.stdout.writeSync(new TextEncoder().encode(encodeMessage(m)));
}

function jsonReplacer(_k: string, v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return null;
  return v;
}

/**
 * Child side: runs the stage described by `jobFile`, found in `stages`. Returns the exit code (0 success,
 * 1 the stage threw, 130 interrupted). The caller should `Deno.exit` with it.
 *
 * @example
 * ```ts
 * Deno.exit(await runChildJob("results/.tmp/job-report-0123456789abcdef-4242.json", STAGES));
 * ```
 */
// deno-lint-ignore no-explicit-any
export async function runChildJob(jobFile: string, stages: readonly StageDef<any>[]): Promise<number> {
  const job: ChildJob = JSON.parse(await Deno.readTextFile(jobFile));
  const stage = stages.find((s) => s.name === job.stage);
  if (!stage) {
    send({ type: "error", message: `stage "${job.stage}" is not defined by ${entryModule()}` });
    return 1;
  }
  const ctrl = new AbortController();
  const interrupt = (why: string, code: number) => {
    if (ctrl.signal.aborted) return;
    console.error(`[${job.stage}] ${why}; stopping`);
    ctrl.abort(new Error(why));
    setTimeout(() => Deno.exit(code), 1000);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(sig, () => interrupt(`received ${sig}`, 130));
    } catch { /* signal not supported on this OS */ }
  }
  if (job.watchStdin) {
    (async () => {
      try {
        for await (const _ of Deno.stdin.readable) { /* the parent never writes */ }
      } catch { /* closed */ }
      interrupt("the pipeline process went away", 1);
    })();
  }
  const declared = new Set(stage.tables.map((t) => t.name));
  const rowsDir = join(job.outDir, "rows");
  let rowChain: Promise<void> = Promise.resolve();
  let lastProgress = -Infinity;
  const ctx: StageContext<Params> = {
    params: job.params,
    inputs: job.inputs,
    outDir: job.outDir,
    key: job.key,
    profile: job.profile,
    resultsDir: job.resultsDir,
    writeRows(table, rows) {
      if (!declared.has(table)) {
        return Promise.reject(
          new Error(`stage "${stage.name}" writes rows to undeclared table "${table}"; declare it in tables`),
        );
      }
      const text = rows.map((r) => JSON.stringify(r, jsonReplacer) + "\n").join("");
      rowChain = rowChain.then(async () => {
        await Deno.mkdir(rowsDir, { recursive: true });
        await Deno.writeTextFile(join(rowsDir, `${table}.ndjson`), text, { append: true });
      });
      return rowChain;
    },
    progress(done, total, label) {
      const now = performance.now();
      if (now - lastProgress < 100 && done < total) return;
      lastProgress = now;
      send({ type: "progress", done, total, ...(label !== undefined ? { label } : {}) });
    },
    log(message) {
      send({ type: "log", message });
    },
    signal: ctrl.signal,
  };
  // The backend the stage computes on (announced by lib/backend.ts), for its log and stage_runs row.
  onComputeDevice((description) => send({ type: "backend", description }));
  try {
    await stage.run(ctx);
    await rowChain;
    if (ctrl.signal.aborted) return 130;
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(e instanceof Error ? (e.stack ?? message) : message);
    send({ type: "error", message });
    return ctrl.signal.aborted ? 130 : 1;
  }
}
