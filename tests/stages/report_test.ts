/**
 * The report: rendered from a store filled by the real smoke pipeline (`stages/main.ts`), plus synthetic
 * fixture artifacts for the result stages the smoke run did not produce, through both data paths (the
 * stage's in-memory DuckDB over artifact rows, and `deno task report`'s read-only results database). Every
 * figure must be well-formed SVG with marks and the expected series; missing stages must say "not run".
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ResultsStore } from "../../pipeline/store.ts";
import type { ArtifactRef } from "../../pipeline/stage.ts";
import { STAGES } from "../../stages/main.ts";
import { openArtifactsDb } from "../../report/memdb.ts";
import { readRunInfo, sortRuns } from "../../report/runs.ts";
import { renderReport, type RenderResult } from "../../report/render.ts";
import { reportFromDatabase, runReportCli } from "../../stages/report_cli.ts";
import { reportedStages } from "../../stages/report.ts";
import { writeFixtureArtifacts } from "../../report/fixtures.ts";
import type { ReportMeta, TableBlock } from "../../report/types.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

/** Runs the real smoke pipeline into `results`. */
async function smokePipeline(results: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--profile", "smoke", "--results", results],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `smoke pipeline failed:\n${text}`);
}

/** The smoke run's published artifacts (from `last-smoke.json`), except the report's own. */
async function smokeArtifacts(results: string): Promise<ArtifactRef[]> {
  const out: ArtifactRef[] = [];
  for await (const e of Deno.readDir(join(results, "artifacts"))) {
    if (!e.isDirectory || e.name === "report") continue;
    const last = JSON.parse(await Deno.readTextFile(join(results, "artifacts", e.name, "last-smoke.json")));
    out.push({
      stage: e.name,
      key: last.key,
      dir: join(results, "artifacts", e.name, last.key),
      params: last.params,
    });
  }
  return out;
}

/** Minimal XML well-formedness check; returns the root element's name and the element names seen. */
export function parseSvg(text: string): { root: string; elements: string[]; texts: string[] } {
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, "").replace(/<!--[\s\S]*?-->/g, "");
  const stack: string[] = [];
  const elements: string[] = [];
  const texts: string[] = [];
  let root = "";
  const re = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(body)) !== null) {
    pos = re.lastIndex;
    if (m[5] !== undefined) {
      if (stack.length === 0 && m[5].trim()) throw new Error("text outside the root element");
      if (stack.at(-1) === "text" && m[5].trim()) texts.push(m[5].trim());
      continue;
    }
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      continue;
    }
    if (!root) root = name;
    else if (stack.length === 0) throw new Error(`second root element <${name}>`);
    elements.push(name);
    if (!selfClose) stack.push(name);
  }
  if (pos !== body.length) {
    throw new Error(`unparsable markup at offset ${pos}: ${body.slice(pos, pos + 40)}`);
  }
  if (stack.length) throw new Error(`unclosed <${stack.at(-1)}>`);
  return { root, elements, texts };
}

/** Series each figure must show (legend or axis labels). */
const EXPECTED_SERIES: Record<string, string[]> = {
  heldout_curves: ["learned", "adam", "rmsprop", "momentum"],
  cnn_train_loss: ["learned", "adam"],
  cnn_test_accuracy: ["learned", "adam"],
  cnn_lr_sensitivity: ["learned", "adam"],
  imagenet_curves: ["learned", "adam", "rmsprop"],
  imagenet_update_ms: ["learned", "adam"],
  horizon_curves: ["hrnn", "l2l-lstm", "crnn", "adam"],
  horizon_wallclock: ["hrnn", "l2l-lstm", "adam"],
  ablations: ["no-grad-products", "no-global-level", "attention", "full"],
};

async function checkFigures(dir: string, r: RenderResult): Promise<void> {
  for (const f of r.figures) {
    const svg = parseSvg(await Deno.readTextFile(join(dir, f.file)));
    assert.equal(svg.root, "svg", `${f.file}: root element`);
    assert.ok(svg.elements.filter((e) => e === "path").length >= 3, `${f.file}: has marks`);
    for (const s of EXPECTED_SERIES[f.id] ?? []) {
      assert.ok(
        svg.texts.includes(s),
        `${f.file}: no '${s}' label among ${svg.texts.slice(0, 30).join(", ")}`,
      );
    }
    assert.match(f.sql, /^(SELECT|WITH)\b/, `${f.file}: SQL shown`);
  }
  const html = await Deno.readTextFile(r.index);
  for (const f of r.figures) assert.ok(html.includes(`src="${f.file}"`), `index.html shows ${f.file}`);
  assert.ok(!/<script/i.test(html), "index.html has no scripts");
  assert.ok(!/(src|href)="(https?:)?\/\//i.test(html), "index.html loads nothing from the network");
}

Deno.test({
  name: "report: renders from the smoke pipeline (+ fixtures) through both data paths",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const results = await Deno.makeTempDir({ prefix: "lopt-report-" });
    try {
      await smokePipeline(results);
      const smoke = await smokeArtifacts(results);
      assert.ok(smoke.some((a) => a.stage === "meta-train"), "smoke run published meta-train");

      await t.step(
        "stage path: in-memory DuckDB over artifact rows, fixtures for missing stages",
        async () => {
          const present = new Set(smoke.map((a) => a.stage));
          const fixtures = await writeFixtureArtifacts(
            join(results, "fixtures"),
            reportedStages(STAGES).map((s) => s.name).filter((s) => !present.has(s)),
          );
          const artifacts = [...smoke, ...fixtures];
          const db = await openArtifactsDb(artifacts, {
            tables: STAGES.flatMap((s) => s.tables),
            benchDb: join(results, "lopt.duckdb"),
          });
          try {
            assert.ok((db.loaded.meta_train_curve ?? 0) > 0, "meta_train_curve rows loaded");
            const meta: ReportMeta = {
              source: "stage",
              profile: "smoke",
              gitCommit: null,
              generatedAt: new Date().toISOString(),
              resultsDir: results,
              runs: sortRuns(
                await Promise.all(artifacts.map((a) => readRunInfo(a.dir))),
                reportedStages(STAGES),
              ),
              stages: reportedStages(STAGES),
              benchUnavailable: db.benchUnavailable,
            };
            const out = join(results, "stage-report");
            const r = await renderReport(db.query, meta, out);
            const ids = r.figures.map((f) => f.id);
            for (const id of ["meta_train_curve", ...Object.keys(EXPECTED_SERIES)]) {
              assert.ok(ids.includes(id), `figure ${id} rendered (got ${ids.join(", ")})`);
            }
            await checkFigures(out, r);
            const byId = Object.fromEntries(r.sections.map((s) => [s.id, s]));
            for (
              const id of ["summary", "meta-train", "heldout", "convnets", "imagenet", "horizon", "ablations"]
            ) {
              assert.equal(byId[id].status, "ok", `section ${id}`);
            }
            // The report opens with the claims table: every claim measured or "not measured", never blank.
            assert.equal(r.sections[0].id, "claims");
            const claims = r.sections[0].blocks[0] as TableBlock;
            assert.deepEqual(claims.result.columns.map((c) => c.name), [
              "#",
              "claim",
              "measured here",
              "verdict",
              "rule",
              "evidence",
            ]);
            assert.equal(claims.result.rows.length, 6);
            const verdicts = claims.result.rows.map((row) => row[3]);
            for (const v of verdicts) {
              assert.ok(
                ["reproduced", "partly", "not reproduced", "not measured"].includes(String(v)),
                String(v),
              );
            }
            // Fixture long runs: the HRNN keeps improving, the LSTM diverges.
            assert.equal(verdicts[2], "reproduced", String(claims.result.rows[2]));
            assert.match(
              String(claims.result.rows[2][2]),
              /l2l-lstm \(trained on <= 20 steps\): kept improving on 0 %, diverged on 100 %/,
            );
            // Fixture ablations: both one-feature-off variants end worse than the full model (attention is not one).
            assert.equal(verdicts[4], "reproduced", String(claims.result.rows[4]));
            assert.match(String(claims.result.rows[4][2]), /^2 of 2 variants end worse/);
            assert.match(
              String(claims.result.rows[0][2]),
              /beats Adam on \d+ %, RMSProp on \d+ % of \d+ problems/,
            );
            const md = await Deno.readTextFile(r.summary);
            assert.match(md, /^# lopt report — profile smoke\n\n> \*\*SMOKE PROFILE: /);
            assert.match(md, /The paper's claims, as measured by this run/);
            assert.match(md, /Wins of the learned optimizer per family/);
            assert.match(md, /mnist-rgb \(stand-in\)/, "stand-in data named in summary.md");
            const html = await Deno.readTextFile(r.index);
            assert.match(html, /deno task query &quot;SELECT meta_step/);
            assert.match(html, /<p class="banner" role="alert">SMOKE PROFILE: /);
            assert.match(html, /<a href="#fig-horizon_curves">claim 3<\/a>/);
            assert.ok(html.indexOf('id="claims"') < html.indexOf('id="summary"'), "claims come first");
          } finally {
            db.close();
          }
        },
      );

      await t.step(
        "database path: deno task report reads lopt.duckdb read-only; SQL reruns there",
        async () => {
          const r = await reportFromDatabase(results, { outDir: join(results, "db-report") });
          assert.ok(r.figures.some((f) => f.id === "meta_train_curve"));
          await checkFigures(join(results, "db-report"), r);
          const present = new Set((await smokeArtifacts(results)).map((a) => a.stage));
          for (const s of r.sections) {
            const needs =
              { heldout: "eval-problems", convnets: "eval-cnn", imagenet: "imagenet-transfer" }[s.id];
            if (needs && !present.has(needs)) {
              assert.equal(s.status, "not run", `${s.id} says not run`);
              assert.ok(s.blocks.some((b) => b.kind === "note" && /^Not run/.test(b.text)));
            }
          }
          assert.equal(r.sections.find((s) => s.id === "bench")!.status, "not run", "empty bench: not run");
          const store = await ResultsStore.open(results, { readOnly: true });
          try {
            for (const f of r.figures) {
              assert.ok((await store.query(f.sql)).rows.length > 0, `${f.id} SQL reruns`);
            }
            // Each measured claim's SQL reruns against the database with the rows the report shows.
            const claimTables = r.sections[0].blocks.filter((b): b is TableBlock =>
              b.kind === "table" && b.sql !== null
            );
            assert.ok(claimTables.length >= 1, "at least one claim measured from the smoke run");
            for (const t of claimTables) {
              assert.deepEqual((await store.query(t.sql!)).rows, t.result.rows, t.title);
            }
          } finally {
            await store.close();
          }
          // The CLI itself, into <results>/report/.
          assert.equal(await runReportCli(["--results", results]), 0);
          assert.ok((await Deno.stat(join(results, "report", "index.html"))).size > 0);
          assert.ok((await Deno.stat(join(results, "report", "summary.md"))).size > 0);
        },
      );

      await t.step(
        "live path: while a pipeline holds the database, deno task report renders from the row files",
        async () => {
          const fromDb = await reportFromDatabase(results, { outDir: join(results, "db-report-2") });
          const holder = new Deno.Command(Deno.execPath(), {
            args: [
              "eval",
              `import { ResultsStore } from "${REPO}pipeline/store.ts";` +
              `const s = await ResultsStore.open(${JSON.stringify(results)}); console.log("ready");` +
              `await new Promise((r) => setTimeout(r, 60000));`,
            ],
            cwd: REPO,
            stdout: "piped",
            stderr: "null",
          }).spawn();
          try {
            const reader = holder.stdout.getReader();
            assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
            reader.releaseLock();
            const notes: string[] = [];
            const r = await reportFromDatabase(results, {
              outDir: join(results, "live-report"),
              note: (t) => notes.push(t),
            });
            assert.match(
              notes.join("\n"),
              /held by a running pipeline; rendering from the artifacts' row files/,
            );
            assert.deepEqual(r.figures.map((f) => f.id), fromDb.figures.map((f) => f.id));
            assert.deepEqual(
              r.sections.filter((s) => s.id !== "bench").map((s) => [s.id, s.status]),
              fromDb.sections.filter((s) => s.id !== "bench").map((s) => [s.id, s.status]),
            );
            await checkFigures(join(results, "live-report"), r);
            const bench = r.sections.find((s) => s.id === "bench")!;
            assert.ok(bench.blocks.some((b) => b.kind === "note" && /running pipeline holds/.test(b.text)));
          } finally {
            holder.kill("SIGKILL");
            await holder.status;
            await holder.stdout.cancel().catch(() => {});
          }
        },
      );

      await t.step(
        "--open: a failing xdg-open and no opener give different messages; no git names the checkout",
        async () => {
          const bin = await Deno.makeTempDir({ prefix: "lopt-fake-bin-" });
          const cwd = await Deno.makeTempDir({ prefix: "lopt-no-git-" });
          try {
            await Deno.writeTextFile(join(bin, "xdg-open"), "#!/bin/sh\nexit 3\n");
            await Deno.chmod(join(bin, "xdg-open"), 0o755);
            const run = async (path: string) => {
              const o = await new Deno.Command(Deno.execPath(), {
                args: [
                  "run",
                  ...FLAGS,
                  "--config",
                  join(REPO, "deno.json"),
                  join(REPO, "stages", "report_cli.ts"),
                  "--results",
                  results,
                  "--open",
                ],
                cwd,
                env: { RUST_BACKTRACE: "0", NO_COLOR: "1", PATH: path },
                clearEnv: true,
                stdin: "null",
                stdout: "piped",
                stderr: "piped",
              }).output();
              return {
                code: o.code,
                out: new TextDecoder().decode(o.stdout),
                err: new TextDecoder().decode(o.stderr),
              };
            };
            const index = join(results, "report", "index.html");
            const failed = await run(bin);
            assert.equal(failed.code, 0, failed.err);
            assert.match(
              failed.err,
              new RegExp(`^could not open a browser: xdg-open failed \\(exit 3\\); open ${index}$`, "m"),
            );
            const none = await run(cwd);
            assert.equal(none.code, 0, none.err);
            assert.match(
              none.err,
              /^could not open a browser: no opener found \(xdg-open not on PATH\); open /m,
            );
            const html = await Deno.readTextFile(index);
            // deno.json's version names a checkout without git.
            const version = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json"))).version;
            assert.ok(html.includes(`· version ${version} (no git)</p>`), "the report names the version");
            assert.doesNotMatch(html, /git unknown/);
          } finally {
            await Deno.remove(bin, { recursive: true });
            await Deno.remove(cwd, { recursive: true });
          }
        },
      );

      await t.step("no upstream data at all: every data section says not run, nothing throws", async () => {
        const db = await openArtifactsDb([]);
        try {
          const meta: ReportMeta = {
            source: "stage",
            profile: "smoke",
            gitCommit: null,
            generatedAt: new Date().toISOString(),
            resultsDir: results,
            runs: [],
            stages: reportedStages(STAGES),
            benchUnavailable: db.benchUnavailable,
          };
          const r = await renderReport(db.query, meta, join(results, "empty-report"));
          assert.equal(r.figures.length, 0);
          for (
            const s of r.sections.filter((s) => s.id !== "summary")
          ) assert.equal(s.status, "not run", s.id);
          const html = await Deno.readTextFile(r.index);
          assert.match(html, /Not run: stage eval-problems is not part of this run/);
          assert.match(html, /run <code>deno task bench<\/code> then <code>deno task report<\/code>/);
        } finally {
          db.close();
        }
      });
    } finally {
      await Deno.remove(results, { recursive: true });
    }
  },
});

Deno.test("report: a run that names eval-horizon and ablations renders the report after them, with their artifacts", async () => {
  const { runCli } = await import("../../pipeline/cli.ts");
  const { STAGES } = await import("../../stages/main.ts");
  const results = await Deno.makeTempDir({ prefix: "lopt-report-order-" });
  const plan = async (names: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["--results", results, "--profile", "smoke", "--dry-run", "--json", ...names], {
      stages: STAGES,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    assert.equal(code, 0, err.join("\n"));
    return (JSON.parse(out.join("\n")) as { stage: string; key: string }[]);
  };
  try {
    const alone = await plan(["report"]);
    assert.ok(!alone.some((p) => p.stage === "eval-horizon" || p.stage === "ablations"));
    const both = await plan(["eval-horizon", "ablations", "report"]);
    const at = (s: string) => both.findIndex((p) => p.stage === s);
    assert.ok(
      at("report") > at("eval-horizon") && at("report") > at("ablations"),
      both.map((p) => p.stage).join(),
    );
    // Their artifacts are the report's inputs, so its key differs from the report of a run without them.
    assert.notEqual(both[at("report")].key, alone.find((p) => p.stage === "report")!.key);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
