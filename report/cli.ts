/**
 * `deno task report [--results DIR] [--profile NAME] [--open]`: re-renders the report from the results
 * database (opened read-only) into `<results>/report/` and prints the path of `index.html`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { gitCommit } from "../pipeline/git.ts";
import { resolveResultsDir, ResultsStore } from "../pipeline/store.ts";
import { REPORT_DIR } from "./publish.ts";
import { renderReport, type RenderResult } from "./render.ts";
import { selectRuns } from "./runs.ts";
import type { ReportMeta } from "./types.ts";

const HELP = `Usage: deno task report [options]

Re-renders the report (index.html, figures/*.svg, summary.md) from the results database, opened
READ-ONLY, into <results>/report/, and prints the path of index.html. It reports the latest successful
run of each stage of one profile.

Options:
  --results DIR       results directory (default: $LOPT_RESULTS, else ./results)
  --profile NAME      profile to report on (default: the profile of the latest successful stage run)
  --max-problems N    held-out problems in the loss-curve figure (default 6)
  --open              open the report in a browser (xdg-open / open); otherwise print the path
  -h, --help          show this help

Run it after \`deno task pipeline\` (and \`deno task bench\` for the benchmarks section); it cannot run while
the pipeline holds the database.
`;

/** Options of {@link reportFromDatabase}. */
export interface ReportFromDbOptions {
  profile?: string;
  maxProblems?: number;
  /** Output directory (default `<resultsDir>/report`). */
  outDir?: string;
}

/** Renders the report from `<resultsDir>/lopt.duckdb` (read-only). */
export async function reportFromDatabase(
  resultsDir: string,
  opts: ReportFromDbOptions = {},
): Promise<RenderResult> {
  const store = await ResultsStore.open(resultsDir, { readOnly: true });
  try {
    const query = (sql: string) => store.query(sql);
    const { profile, runs } = await selectRuns(query, opts.profile);
    const meta: ReportMeta = {
      source: "database",
      profile,
      gitCommit: await gitCommit(),
      generatedAt: new Date().toISOString(),
      resultsDir: store.resultsDir,
      runs,
    };
    return await renderReport(query, meta, opts.outDir ?? join(store.resultsDir, REPORT_DIR), {
      maxProblems: opts.maxProblems,
    });
  } finally {
    await store.close();
  }
}

/** Tries `xdg-open`, then `open`; returns whether one of them succeeded. */
async function openInBrowser(path: string): Promise<boolean> {
  for (const cmd of ["xdg-open", "open"]) {
    try {
      const out = await new Deno.Command(cmd, { args: [path], stdin: "null", stdout: "null", stderr: "null" })
        .output();
      if (out.success) return true;
    } catch { /* not installed or not allowed */ }
  }
  return false;
}

/** Runs the CLI; returns the exit code (0 ok, 1 error, 2 usage). */
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
    if (values.open && !(await openInBrowser(r.index))) {
      console.error(`could not open a browser (no xdg-open/open); open ${r.index}`);
    }
    return 0;
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await runReportCli(Deno.args));
