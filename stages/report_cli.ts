/**
 * `deno task report [--results DIR] [--profile NAME] [--open]`: re-renders the report from the results
 * database (opened read-only) into `<results>/report/` and prints the path of `index.html`. While a pipeline
 * holds the database it renders from a live snapshot of the artifacts and run logs instead.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { gitCommit, noGitVersion } from "../pipeline/git.ts";
import { openLiveSnapshot } from "../pipeline/live_snapshot.ts";
import { resolveResultsDir } from "../pipeline/results_dir.ts";
import { ResultsStore } from "../pipeline/store.ts";
import { REPORT_DIR } from "../report/publish.ts";
import { renderReport, type RenderResult } from "../report/render.ts";
import { selectRuns } from "../report/runs.ts";
import type { ReportMeta } from "../report/types.ts";
import { STAGES } from "./main.ts";
import { reportedStages } from "./report.ts";

const HELP = `Usage: deno task report [options]

Re-renders the report (index.html, figures/*.svg, summary.md) from the results database, opened
READ-ONLY, into <results>/report/, and prints the path of index.html. It reports the latest successful
run of each stage of one profile.

Options:
  --results DIR       results directory (default: $LOPT_RESULTS, else ./results)
  --profile NAME      profile to report on (default: the profile of the latest successful stage run)
  --max-problems N    held-out problems in the loss-curve figure (default 6)
  --open              open the report in a browser (xdg-open; open on macOS); otherwise print the path
  -h, --help          show this help

Run it after \`deno task pipeline\` (and \`deno task bench\` for the benchmarks section). While a pipeline
runs (it holds the database), the report is rendered from the artifacts' row files and run logs: it covers
the stages finished so far, and the benchmarks section is left out.
`;

/**
 * Options of {@link reportFromDatabase}.
 *
 * @example
 * ```ts
 * const opts: ReportFromDbOptions = { profile: "smoke", maxProblems: 4 };
 * ```
 */
export interface ReportFromDbOptions {
  profile?: string;
  maxProblems?: number;
  /** Output directory (default `<resultsDir>/report`). */
  outDir?: string;
  /** Receives notes (default: stderr). */
  note?: (text: string) => void;
}

/**
 * Renders the report from `<resultsDir>/lopt.duckdb` (read-only), listing the stages of the registry.
 *
 * @example
 * ```ts
 * const r = await reportFromDatabase("results", { profile: "smoke" });
 * console.log(r.index);
 * ```
 */
export async function reportFromDatabase(
  resultsDir: string,
  opts: ReportFromDbOptions = {},
): Promise<RenderResult> {
  const note = opts.note ?? ((t: string) => console.error(t));
  let store: ResultsStore;
  let close: () => Promise<void>;
  let benchUnavailable: string | undefined;
  try {
    store = await ResultsStore.open(resultsDir, { readOnly: true });
    close = () => store.close();
  } catch (e) {
    if (!/in use by another process/.test((e as Error).message)) throw e;
    const snap = await openLiveSnapshot(resultsDir);
    store = snap.store;
    close = () => snap.close();
    benchUnavailable =
      "a running pipeline holds the results database (rendered from the artifacts' row files)";
    note(
      "note: the results database is held by a running pipeline; rendering from the artifacts' row files and " +
        "run logs (stages finished so far; no benchmarks section).",
    );
  }
  try {
    const query = (sql: string) => store.query(sql);
    const stages = reportedStages(STAGES);
    const { profile, runs } = await selectRuns(query, opts.profile, stages);
    const commit = await gitCommit();
    const meta: ReportMeta = {
      source: "database",
      profile,
      gitCommit: commit,
      ...(commit ? {} : { codeVersion: await noGitVersion() }),
      generatedAt: new Date().toISOString(),
      resultsDir,
      runs,
      stages,
      ...(benchUnavailable ? { benchUnavailable } : {}),
    };
    return await renderReport(query, meta, opts.outDir ?? join(resultsDir, REPORT_DIR), {
      maxProblems: opts.maxProblems,
    });
  } finally {
    await close();
  }
}

/**
 * Outcome of {@link openInBrowser}.
 *
 * @example
 * ```ts
 * const r: OpenResult = { status: "no-opener", tried: ["xdg-open"] };
 * ```
 */
export type OpenResult =
  | { status: "opened"; command: string }
  | { status: "no-opener"; tried: string[] }
  | { status: "failed"; command: string; code: number };

/**
 * Opens a file with the desktop's opener: `open` on macOS, `xdg-open` elsewhere. `env` replaces the
 * environment of the opener (its `PATH` is where the opener is looked up; tests point it at a fake one).
 *
 * @example
 * ```ts
 * const r = await openInBrowser("results/report/index.html");
 * ```
 */
export async function openInBrowser(
  path: string,
  opts: { os?: typeof Deno.build.os; env?: Record<string, string> } = {},
): Promise<OpenResult> {
  const command = (opts.os ?? Deno.build.os) === "darwin" ? "open" : "xdg-open";
  try {
    const out = await new Deno.Command(command, {
      args: [path],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      ...(opts.env ? { env: opts.env, clearEnv: true } : {}),
    }).output();
    return out.success ? { status: "opened", command } : { status: "failed", command, code: out.code };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { status: "no-opener", tried: [command] };
    throw e;
  }
}

/**
 * The one-line message for an opener that did not open `index` (empty when it did).
 *
 * @example
 * ```ts
 * openMessage({ status: "opened", command: "open" }, "index.html"); // ""
 * ```
 */
export function openMessage(r: OpenResult, index: string): string {
  if (r.status === "opened") return "";
  if (r.status === "no-opener") {
    return `could not open a browser: no opener found (${r.tried.join(", ")} not on PATH); open ${index}`;
  }
  return `could not open a browser: ${r.command} failed (exit ${r.code}); open ${index}`;
}

/**
 * Runs the CLI; returns the exit code (0 ok, 1 error, 2 usage).
 *
 * @example
 * ```ts
 * Deno.exit(await runReportCli(["--results", "results"]));
 * ```
 */
export async function runReportCli(argv: string[]): Promise<number> {
  let values: { results?: string; profile?: string; "max-problems"?: string; open?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        results: { type: "string" },
        profile: { type: "string" },
        "max-problems": { type: "string" },
        open: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const maxProblems = values["max-problems"] === undefined ? undefined : Number(values["max-problems"]);
  if (maxProblems !== undefined && !(Number.isInteger(maxProblems) && maxProblems >= 1)) {
    console.error("--max-problems takes a positive integer");
    return 2;
  }
  try {
    const r = await reportFromDatabase(resolveResultsDir(values.results), {
      profile: values.profile,
      maxProblems,
    });
    const notRun = r.sections.filter((s) => s.status !== "ok").map((s) => s.title);
    console.error(`${r.figures.length} figures${notRun.length ? `; not run: ${notRun.join(", ")}` : ""}`);
    console.log(r.index);
    if (values.open) {
      let msg: string;
      try {
        msg = openMessage(await openInBrowser(r.index), r.index);
      } catch (e) {
        msg = `could not open a browser: ${(e as Error).message}; open ${r.index}`;
      }
      if (msg) console.error(msg);
    }
    return 0;
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await runReportCli(Deno.args));
