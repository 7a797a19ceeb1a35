/**
 * The report in a real browser: headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core)
 * opens `index.html` from disk — no server, no network — and the test fails on any console error, page
 * error, failed request or image that did not load. A full-page screenshot is saved next to the report.
 * Skipped (visibly, as `ignored`) when chromium is not installed.
 *
 * Set LOPT_REPORT_TEST_KEEP=1 to keep the results directory (its path is printed) and look at the screenshot.
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ArtifactRef } from "../../pipeline/stage.ts";
import { STAGES } from "../../stages/main.ts";
import { openArtifactsDb } from "../../report/memdb.ts";
import { readRunInfo, sortRuns } from "../../report/runs.ts";
import { renderReport } from "../../report/render.ts";
import { writeFixtureArtifacts } from "../../report/fixtures.ts";
import { reportedStages } from "../../stages/report.ts";
import type { BrowserCheck } from "../../report/browser_check.ts";

const CHROMIUM = "/usr/bin/chromium";
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"];

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

async function smokeArtifacts(results: string): Promise<ArtifactRef[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "stages/main.ts", "--profile", "smoke", "--results", results],
    cwd: REPO,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `smoke pipeline failed:\n${new TextDecoder().decode(out.stderr)}`);
  const refs: ArtifactRef[] = [];
  for await (const e of Deno.readDir(join(results, "artifacts"))) {
    if (!e.isDirectory || e.name === "report") continue;
    const last = JSON.parse(await Deno.readTextFile(join(results, "artifacts", e.name, "last-smoke.json")));
    refs.push({
      stage: e.name,
      key: last.key,
      dir: join(results, "artifacts", e.name, last.key),
      params: last.params,
    });
  }
  return refs;
}

Deno.test({
  name: "report opens in headless Chromium without errors; every figure loads",
  ignore: !hasChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const results = await Deno.makeTempDir({ prefix: "lopt-report-browser-" });
    const keep = Deno.env.get("LOPT_REPORT_TEST_KEEP") === "1";
    try {
      const smoke = await smokeArtifacts(results);
      const present = new Set(smoke.map((a) => a.stage));
      const fixtures = await writeFixtureArtifacts(
        join(results, "fixtures"),
        reportedStages(STAGES).map((s) => s.name).filter((s) => !present.has(s)),
      );
      const artifacts = [...smoke, ...fixtures];
      const db = await openArtifactsDb(artifacts, { tables: STAGES.flatMap((s) => s.tables) });
      const reportDir = join(results, "report");
      let figures: number;
      try {
        const r = await renderReport(db.query, {
          source: "stage",
          profile: "smoke",
          gitCommit: null,
          generatedAt: new Date().toISOString(),
          resultsDir: results,
          runs: sortRuns(await Promise.all(artifacts.map((a) => readRunInfo(a.dir))), reportedStages(STAGES)),
          stages: reportedStages(STAGES),
          benchUnavailable: db.benchUnavailable,
        }, reportDir);
        figures = r.figures.length;
      } finally {
        db.close();
      }
      assert.ok(figures >= 8, `expected the full set of figures, got ${figures}`);

      // playwright-core needs --allow-all (it reads /proc at import), so the browser runs in a child process.
      const shot = join(results, "report-screenshot.png");
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "report/browser_check.ts",
          join(reportDir, "index.html"),
          shot,
          CHROMIUM,
        ],
        cwd: REPO,
        env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, `browser check failed:\n${stdout}${new TextDecoder().decode(out.stderr)}`);
      const check: BrowserCheck = JSON.parse(stdout.trim().split("\n").at(-1)!);
      assert.equal(check.images.length, figures, "one <img> per figure");
      const broken = check.images.filter((i) => !i.ok).map((i) => i.src);
      assert.deepEqual(broken, [], `images that did not load: ${broken.join(", ")}`);
      assert.deepEqual(check.problems, [], "console errors, page errors or failed requests");
      const size = (await Deno.stat(shot)).size;
      assert.ok(size > 10_000, `screenshot is ${size} bytes`);
      const png = await Deno.readFile(shot);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "screenshot is a PNG");
      if (keep) console.log(`screenshot: ${shot}`);
    } finally {
      if (!keep) await Deno.remove(results, { recursive: true });
      else console.log(`kept ${results}`);
    }
  },
});
