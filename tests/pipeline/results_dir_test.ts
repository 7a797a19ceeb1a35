/** Where the results live (`pipeline/results_dir.ts`). */

import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveResultsDir } from "../../pipeline/results_dir.ts";

Deno.test("store: resolveResultsDir precedence", () => {
  const prev = Deno.env.get("LOPT_RESULTS");
  try {
    Deno.env.delete("LOPT_RESULTS");
    assert.equal(resolveResultsDir(), join(Deno.cwd(), "results"));
    Deno.env.set("LOPT_RESULTS", "/tmp/env-results");
    assert.equal(resolveResultsDir(), "/tmp/env-results");
    assert.equal(resolveResultsDir("rel/dir"), join(Deno.cwd(), "rel/dir"));
  } finally {
    if (prev === undefined) Deno.env.delete("LOPT_RESULTS");
    else Deno.env.set("LOPT_RESULTS", prev);
  }
});
