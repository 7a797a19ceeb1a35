/**
 * The `deno task pipeline` command line: selects stages, resolves params, explains what would run
 * (`--dry-run`), takes the results-dir lock and runs the plan. The same entry module serves as the stage child
 * (hidden `--child <job-file>` flag), so an entry is just:
 *
 * ```ts
 * import { runCli } from "../pipeline/cli.ts";
 * import { STAGES } from "../stages/main.ts";
 * if (import.meta.main) Deno.exit(await runCli(Deno.args, { stages: STAGES }));
 * ```
 *
 * @module
 */

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ArtifactStore } from "./artifacts.ts";
import { CHILD_FLAG, runChildJob } from "./child.ts";
import { PipelineError } from "./errors.ts";
import { gitCommit } from "./git.ts";
import { selectWithUpstream, validateGraph } from "./graph.ts";
import { acquireLock } from "./lock.ts";
import {
  assertProfile,
  DEFAULT_PROFILE,
  knownProfiles,
  parseSetArg,
  resolveParams,
  validateSets,
} from "./params.ts";
import { type PlannedStage, planRun } from "./plan.ts";
import { runPlan, type StoreLike } from "./runner.ts";
import { helpText, paramsText, summaryText } from "./cli_text.ts";
import type { StageExecutor } from "./executor.ts";
import type { StageDef } from "./stage.ts";

/** Options of {@link runCli}. */
export interface CliOptions {
  /** Every stage the program knows. */
  // deno-lint-ignore no-explicit-any
  stages: StageDef<any>[];
  /** Program name in help text (default `deno task pipeline`). */
  program?: string;
  /** Opens the results store (default: `ResultsStore.open` from `pipeline/store.ts`). */
  openStore?: (resultsDir: string) => Promise<StoreLike>;
  /** Resolves the results dir from `--results` (default: `resolveResultsDir` from `pipeline/store.ts`). */
  resolveResultsDir?: (flag?: string) => string;
  /** Root the stages' `codeDeps` are relative to (default: the repository root). */
  codeRoot?: string;
  /** Permission flags for stage children (default: mirror this process's grants). */
  childFlags?: string[];
  /** Standard output (default: console.log). */
  out?: (line: string) => void;
  /**
   * Lines to print after a run's summary (e.g. where the report is), given the results directory and the
   * names of the stages that ran or were cached; return none to print nothing.
   */
  epilogue?: (resultsDir: string, stages: string[]) => Promise<string[]> | string[];
  /** Standard error (default: console.error). */
  err?: (line: string) => void;
}

/**
 * Default `--jobs`: the number of CPU cores, at most 4 (each stage is one single-threaded process).
 *
 * @example
 * ```ts
 * defaultJobs(); // 4 on an 8-core machine, 1 on a single core
 * ```
 */
export function defaultJobs(): number {
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

/** Exit code for usage errors (bad flags, params, stage names, busy results dir). */
export const EXIT_USAGE = 2;
/** Exit code when a stage failed. */
export const EXIT_FAILED = 1;
/** Exit code after SIGINT/SIGTERM. */
export const EXIT_INTERRUPTED = 130;

const OPTIONS = {
  profile: { type: "string" },
  set: { type: "string", multiple: true },
  force: { type: "string", multiple: true },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  jobs: { type: "string" },
  results: { type: "string" },
  nats: { type: "string" },
  executor: { type: "string" },
  list: { type: "boolean" },
  params: { type: "string" },
  help: { type: "boolean", short: "h" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  child: { type: "string" },
} as const;

/** Same rule as `resolveResultsDir` in `store.ts` (kept here so the CLI does not load DuckDB for --help). */
function defaultResultsDir(flag?: string): string {
  return resolve(Deno.cwd(), flag || Deno.env.get("LOPT_RESULTS") || "results");
}

/**
 * Runs the pipeline command line `argv` over `opts.stages`; returns the exit code. With the hidden
 * `--child <job-file>` flag it runs one stage as a child process of a pipeline run instead.
 *
 * @example
 * ```ts
 * Deno.exit(await runCli(Deno.args, { stages: STAGES }));
 * ```
 */
export async function runCli(argv: string[], opts: CliOptions): Promise<number> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const err = opts.err ?? ((l: string) => console.error(l));
  const childAt = argv.indexOf(CHILD_FLAG);
  if (childAt >= 0 && argv[childAt + 1]) return await runChildJob(argv[childAt + 1], opts.stages);
  const program = opts.program ?? "deno task pipeline";
  let store: StoreLike | null = null;
  let release: (() => void) | null = null;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new PipelineError(`${(e as Error).message}; see ${program} --help`);
    }
    const v = parsed.values;
    validateGraph(opts.stages);
    if (v.help) {
      out(helpText(program, opts.stages));
      return 0;
    }
    const profile = v.profile ?? DEFAULT_PROFILE;
    assertProfile(opts.stages, profile);
    const sets = (v.set ?? []).map(parseSetArg);
    validateSets(opts.stages, sets);
    if (v.list) {
      const w = Math.max(...opts.stages.map((s) => s.name.length));
      for (const s of opts.stages) {
        const only = s.defaultTarget === false ? "  [named only: not run without stage names]" : "";
        const optional = s.optionalDeps?.length ? `  optional deps: ${s.optionalDeps.join(", ")}` : "";
        out(`${s.name.padEnd(w)}  deps: ${s.deps.join(", ") || "-"}${optional}  ${s.description}${only}`);
      }
      return 0;
    }
    if (v.params !== undefined) {
      const [s] = selectWithUpstream(opts.stages, [v.params]).filter((x) => x.name === v.params);
      out(paramsText(s, profile, sets, knownProfiles(opts.stages)));
      return 0;
    }
    // Every stage's params (selected or not) are checked before anything runs, so a bad value fails at once.
    for (const s of opts.stages) resolveParams(s, profile, sets);
    let jobs = defaultJobs();
    if (v.jobs !== undefined) {
      jobs = Number(v.jobs);
      if (!Number.isInteger(jobs) || jobs < 1) {
        throw new PipelineError(`--jobs expects a positive integer, got "${v.jobs}"`);
      }
    }
    if (v.json && !v["dry-run"]) throw new PipelineError("--json only works with --dry-run");
    if (v.nats !== undefined) {
      const { parseNatsUrl, NATS_URL_ENV, NatsConfigError } = await import("../lib/nats.ts");
      try {
        parseNatsUrl(v.nats);
      } catch (e) {
        if (e instanceof NatsConfigError) throw new PipelineError(e.message);
        throw e;
      }
      // Stage children inherit it (the URL may hold credentials: never put on a command line or in a log).
      Deno.env.set(NATS_URL_ENV, v.nats);
    }
    const executorName = v.executor ?? "local";
    if (executorName !== "local" && executorName !== "nats") {
      throw new PipelineError(`--executor expects local or nats, got "${executorName}"`);
    }
    const natsUrl = v.nats ?? Deno.env.get("LOPT_NATS_URL") ?? "";
    if (executorName === "nats" && natsUrl === "") {
      throw new PipelineError("--executor nats needs a NATS server: pass --nats URL or set LOPT_NATS_URL");
    }
    const selected = selectWithUpstream(opts.stages, parsed.positionals);
    const forceNames = v.force ?? [];
    const force: Set<string> | "all" = forceNames.includes("all") ? "all" : new Set(forceNames);
    if (force !== "all") {
      for (const f of force) {
        if (!selected.some((s) => s.name === f)) {
          selectWithUpstream(opts.stages, [f]); // unknown stage: lists the valid ones
          throw new PipelineError(`--force ${f}: stage "${f}" is not among the selected stages`);
        }
      }
    }
    const resolveDir = opts.resolveResultsDir ?? defaultResultsDir;
    const resultsDir = resolveDir(v.results);
    const artifacts = new ArtifactStore(resultsDir);
    const planOptions = { stages: selected, profile, sets, force, artifacts, codeRoot: opts.codeRoot };

    if (v["dry-run"]) {
      assertResultsDir(resultsDir, false);
      const plan = await planRun(planOptions);
      const { estimateLines, pastStageSeconds } = await import("./estimate.ts");
      const past = await pastStageSeconds(resultsDir, profile);
      if (v.json) {
        out(JSON.stringify(
          plan.map((p) => ({
            stage: p.stage.name,
            action: p.action,
            key: p.key,
            reason: p.reason,
            estimate_seconds: p.action === "run" ? (past.get(p.stage.name) ?? null) : 0,
          })),
          null,
          2,
        ));
      } else {
        for (const p of plan) out(dryRunLine(p));
        const running = plan.filter((p) => p.action === "run").map((p) => p.stage.name);
        for (const line of estimateLines(running, past, profile)) out(line);
      }
      return 0;
    }

    assertResultsDir(resultsDir, true);
    const lock = acquireLock(resultsDir, [program, ...argv].join(" "), err);
    release = () => lock.release();
    store = await (opts.openStore ?? ((d: string) => defaultOpenStore(d, err)))(resultsDir);
    for (const s of selected) for (const line of await artifacts.cleanStaleStaging(s.name)) err(line);
    const plan = await planRun(planOptions);
    if (!v.quiet) { for (const p of plan) err(dryRunLine(p)); }
    if (plan.some((p) => p.action === "run") && !canRunChildren()) {
      throw new PipelineError(
        `stages run in child Deno processes, which needs permission to run ${Deno.execPath()}: ` +
          "add --allow-run to the deno run flags",
      );
    }
    let executor: StageExecutor | undefined;
    if (executorName === "nats" && plan.some((p) => p.action === "run")) {
      const { connectNats, NatsConfigError } = await import("../lib/nats.ts");
      const { natsExecutor } = await import("./nats_executor.ts");
      try {
        executor = await natsExecutor(await connectNats(natsUrl, "lopt pipeline"), natsUrl);
      } catch (e) {
        if (e instanceof NatsConfigError) throw new PipelineError(e.message);
        throw e;
      }
      err(`stages run through the ${executor.description}`);
    }
    const result = await runPlan({
      executor,
      plan,
      resultsDir,
      profile,
      jobs,
      store,
      artifacts,
      gitCommit: await gitCommit(),
      childFlags: opts.childFlags,
      quiet: v.quiet,
      verbose: v.verbose,
      notice: err,
    }).finally(() => executor?.close());
    out(summaryText(result));
    if (opts.epilogue && !result.interrupted) {
      const ok = result.outcomes.filter((o) => o.status === "ran" || o.status === "cached").map((o) =>
        o.stage
      );
      for (const line of await opts.epilogue(resultsDir, ok)) out(line);
    }
    if (result.interrupted) return EXIT_INTERRUPTED;
    return result.outcomes.some((o) => o.status === "failed" || o.status === "skipped") ? EXIT_FAILED : 0;
  } catch (e) {
    if (e instanceof PipelineError) {
      err(`error: ${e.message}`);
      return EXIT_USAGE;
    }
    const fs = fileSystemError(e);
    if (fs) {
      err(`error: ${fs}`);
      return EXIT_FAILED;
    }
    throw e;
  } finally {
    if (store) await store.close().catch((e) => err(`closing the results store failed: ${e}`));
    release?.();
  }
}

/**
 * One dry-run line: `cached  <stage>  <key>` or `run     <stage>  <key>  (<reason>)`.
 *
 * @example
 * ```ts
 * for (const p of await planRun(options)) console.log(dryRunLine(p)); // "cached  report  0123456789abcdef"
 * ```
 */
export function dryRunLine(p: PlannedStage): string {
  return p.action === "cached"
    ? `cached  ${p.stage.name}  ${p.key}`
    : `run     ${p.stage.name}  ${p.key}  (${p.reason})`;
}

/**
 * Checks that `dir` is usable as the results directory before anything is written: it is a directory (or
 * missing), and with `write`, it can be created and files can be created in it. Throws a one-line
 * {@link PipelineError} otherwise.
 */
function assertResultsDir(dir: string, write: boolean): void {
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new PipelineError(`cannot use results dir ${dir}: ${(e as Error).message}`);
    }
  }
  if (info && !info.isDirectory) {
    throw new PipelineError(
      `results dir ${dir} is a file, not a directory: give --results a directory (it is created if missing)`,
    );
  }
  if (!write) return;
  const probe = `${dir}/.write-probe-${Deno.pid}`;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(probe, "");
    Deno.removeSync(probe);
  } catch (e) {
    throw new PipelineError(
      `results dir ${dir} is not writable (${firstLine((e as Error).message)}): give --results a writable ` +
        "directory, or fix its permissions",
    );
  }
}

function firstLine(msg: string): string {
  return msg.split("\n")[0].trim();
}

/** A one-line message for a file-system error (permissions, read-only or full disk), else null. */
function fileSystemError(e: unknown): string | null {
  if (!(e instanceof Error)) return null;
  const fsError = e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable ||
    e instanceof Deno.errors.NotFound || e instanceof Deno.errors.AlreadyExists ||
    e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.NotADirectory ||
    /Read-only file system|No space left on device|os error (28|30)\)/.test(e.message);
  return fsError ? firstLine(e.message) : null;
}

function canRunChildren(): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state === "granted";
  } catch {
    return false;
  }
}

async function defaultOpenStore(resultsDir: string, notice: (line: string) => void): Promise<StoreLike> {
  const { ResultsStore } = await import("./store.ts");
  return await ResultsStore.open(resultsDir, { moveAsideDamaged: true, log: notice });
}
