/**
 * `deno task release-weights`: reproduces the shipped pretrained weights from a named profile. It runs the
 * pipeline's meta-training and evaluations (`eval-problems`, `eval-cnn` and what they need; cached stages are
 * reused), reruns a few recorded evaluation runs with the weights file (they must match), and writes
 * `models/pretrained/`: `hrnn.weights`, `hrnn_weights.ts` (the same bytes, base64, for `loadPretrained`),
 * `provenance.json` (the release record) and `README.md`.
 *
 * @module
 */
import { LEARNED_OPTIMIZER_NAME } from "../lib/optimizer.ts";
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { gitCommit } from "../pipeline/git.ts";
import { encodeBase64, sha256Hex } from "../models/hrnn/kernel/encoding.ts";
import type { JsonValue } from "../models/hrnn/weights_file.ts";
import { readTaskSet } from "../stages/task_set.ts";
import { readTaskDims } from "../stages/eval_common.ts";
import { type EvalFinalRow, lossesMatch, pickRecheckRuns, rerun } from "./recheck.ts";
import { buildReleaseRecord, type RecordedRecheck, releaseReadme } from "./record.ts";

const HELP = `Usage: deno task release-weights --profile NAME [options]

Meta-trains and evaluates the learned optimizer with the pipeline (stages eval-problems and eval-cnn and
what they need; cached artifacts are reused), reruns a few recorded evaluation runs with the weights (they
must match), and writes the release folder: hrnn.weights, hrnn_weights.ts, provenance.json, README.md.

Options:
  --profile NAME     pipeline profile (required): smoke, default, paper
  --set STAGE.K=V    override one param (repeatable), as for deno task pipeline
  --results DIR      results directory of the pipeline run (default: $LOPT_RESULTS, else ./results)
  --out DIR          release folder to write (default: models/pretrained)
  --jobs N           stages to run at once (passed to the pipeline)
  --note TEXT        what this release is (stored in the provenance file)
  -h, --help         this help

Exit codes: 0 success, 1 the pipeline or the recheck failed, 2 usage error.`;

const REPO = new URL("..", import.meta.url).pathname;
const RELEASE_STAGES = ["eval-problems", "eval-cnn"];

class UsageError extends Error {}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

async function readRows(dir: string, table: string): Promise<Record<string, JsonValue>[]> {
  const text = await Deno.readTextFile(join(dir, "rows", `${table}.ndjson`));
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** Runs the pipeline entry with `args`; returns its stdout when `capture`, else streams it. */
async function pipeline(args: string[], capture: boolean): Promise<string> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--node-modules-dir=auto", "-P=pipeline", join(REPO, "stages/main.ts"), ...args],
    cwd: REPO,
    stdout: capture ? "piped" : "inherit",
    stderr: "inherit",
  });
  const out = await cmd.output();
  if (out.code === 2) throw new UsageError("the pipeline refused the arguments (see above)");
  if (out.code !== 0) throw new Error(`the pipeline failed (exit code ${out.code}); see its log above`);
  return capture ? new TextDecoder().decode(out.stdout) : "";
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        profile: { type: "string" },
        set: { type: "string", multiple: true },
        results: { type: "string" },
        out: { type: "string" },
        jobs: { type: "string" },
        note: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.profile) throw new UsageError("--profile NAME is required (smoke, default or paper)");
  const profile = values.profile;
  const sets = values.set ?? [];
  const results = resolve(values.results ?? Deno.env.get("LOPT_RESULTS") ?? join(REPO, "results"));
  const out = resolve(values.out ?? join(REPO, "models/pretrained"));
  const common = ["--profile", profile, "--results", results, ...sets.flatMap((s) => ["--set", s])];

  console.error(`release-weights: pipeline ${RELEASE_STAGES.join(" ")} (profile ${profile}) in ${results}`);
  await pipeline([...RELEASE_STAGES, ...common, ...(values.jobs ? ["--jobs", values.jobs] : [])], false);
  const plan = JSON.parse(await pipeline([...RELEASE_STAGES, ...common, "--dry-run", "--json"], true)) as {
    stage: string;
    action: string;
    key: string;
  }[];
  const keys: Record<string, string> = {};
  for (const p of plan) {
    if (p.action !== "cached") throw new Error(`stage ${p.stage} is not cached after the run (${p.action})`);
    keys[p.stage] = p.key;
  }
  const dir = (stage: string) => join(results, "artifacts", stage, keys[stage]);

  const weightsBytes = await Deno.readFile(join(dir("meta-train"), "hrnn.weights"));
  const metaManifest = await readJson<{ gitCommit?: string | null }>(
    join(dir("meta-train"), "manifest.json"),
  );
  const evalManifest = await readJson<{ params: Record<string, JsonValue> }>(
    join(dir("eval-problems"), "manifest.json"),
  );
  const { loadLearnedOptimizer } = await import("../models/optimizers/learned_optimizer.ts");
  const { describeFusedEngine } = await import("../models/hrnn/native.ts");
  const probe = await loadLearnedOptimizer(weightsBytes, { log: null });
  const weightsProvenance = probe.provenance;
  probe.dispose();

  const finals = (await readRows(dir("eval-problems"), "eval_final")) as unknown as EvalFinalRow[];
  const tasks = (await readTaskSet(dir("generate-tasks"))).tasks;
  const dims = await readTaskDims(dir("generate-tasks"));
  const runs = pickRecheckRuns(tasks, finals, dims, {
    horizon: Number(evalManifest.params.horizon),
    fullEvery: Number(evalManifest.params.fullEvery),
  });
  if (runs.length === 0) {
    throw new Error("no evaluation run qualifies for the recheck (see release/recheck.ts)");
  }
  const recheck: RecordedRecheck[] = [];
  for (const run of runs) {
    const loss = await rerun(run, (seed) => loadLearnedOptimizer(weightsBytes, { seed, log: null }));
    const ok = lossesMatch(run.recordedFinalLoss, loss);
    console.error(
      `recheck ${run.task.id} seed ${run.seed}: recorded ${run.recordedFinalLoss}, now ${loss} ${
        ok ? "ok" : "MISMATCH"
      }`,
    );
    if (!ok) throw new Error(`recheck of ${run.task.id} does not match the recorded evaluation`);
    recheck.push({ ...run, releaseFinalLoss: loss });
  }

  const command = ["deno task release-weights", "--profile", profile, ...sets.flatMap((s) => ["--set", s])]
    .join(" ");
  const record = buildReleaseRecord({
    profile,
    sets,
    command,
    artifacts: keys,
    trainedAtCommit: metaManifest.gitCommit ?? null,
    releasedAtCommit: await gitCommit(REPO),
    weights: weightsProvenance,
    weightsSha256: await sha256Hex(weightsBytes),
    weightsBytes: weightsBytes.length,
    evalParams: evalManifest.params,
    evalSummary: await readJson(join(dir("eval-problems"), "summary.json")),
    evalLong: await readRows(dir("eval-problems"), "eval_long"),
    learnedFinals: finals.filter((r) => r.optimizer === LEARNED_OPTIMIZER_NAME),
    cnnSummary: await readRows(dir("eval-cnn"), "cnn_summary"),
    kernel: describeFusedEngine(),
    recheck,
    releasedAt: new Date().toISOString(),
    note: values.note ?? `weights of the ${profile} profile`,
  });

  await Deno.mkdir(out, { recursive: true });
  const files: [string, string | Uint8Array][] = [
    ["hrnn.weights", weightsBytes],
    ["hrnn_weights.ts", weightsModule(weightsBytes, record.weights.sha256)],
    ["provenance.json", JSON.stringify(record, null, 2) + "\n"],
    ["README.md", releaseReadme(record)],
  ];
  // Each file is written aside and renamed, so an interrupted release leaves whole files.
  for (const [name, data] of files) {
    const tmp = join(out, `.${name}.tmp-${Deno.pid}`);
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, join(out, name));
  }
  // The generated markdown and JSON are formatted as `deno task check` expects.
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "-q", join(out, "README.md"), join(out, "provenance.json")],
    cwd: REPO,
  }).output();
  if (fmt.code !== 0) throw new Error(`deno fmt failed: ${new TextDecoder().decode(fmt.stderr)}`);
  console.error(`release-weights: wrote ${files.map(([n]) => n).join(", ")} to ${out}`);
  return 0;
}

/**
 * The generated module that embeds the weights (so `loadPretrained` reads no file, in any runtime).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("hrnn_weights.ts", weightsModule(bytes, await sha256Hex(bytes)));
 * ```
 */
export function weightsModule(bytes: Uint8Array, sha256: string): string {
  return [
    "// Generated by release/weights_cli.ts (deno task release-weights) from hrnn.weights. Do not edit.",
    "// deno-fmt-ignore-file",
    "",
    `/** SHA-256 of hrnn.weights. */`,
    `export const PRETRAINED_WEIGHTS_SHA256 = "${sha256}";`,
    "",
    `/** The pretrained weights file (${bytes.length} bytes), base64. */`,
    `export const PRETRAINED_WEIGHTS_BASE64 = "${encodeBase64(bytes)}";`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n(deno task release-weights --help for usage)`);
      Deno.exit(2);
    }
    console.error(`release-weights: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
