/** `deno task report`'s command line: help, usage errors, a missing results directory. */
import { strict as assert } from "node:assert";
import { runReportCli } from "../../stages/report_cli.ts";

Deno.test("report cli: --help and usage errors", async () => {
  assert.equal(await runReportCli(["--help"]), 0);
  assert.equal(await runReportCli(["--bogus"]), 2);
  assert.equal(await runReportCli(["--results", "/nonexistent/lopt-report"]), 1);
});
