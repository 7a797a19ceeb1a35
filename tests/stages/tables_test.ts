/** Every declared result table and column has a description (shown by `deno task query --schema TABLE`). */
import assert from "node:assert/strict";
import { STAGES } from "../../stages/main.ts";

Deno.test("stage tables: every table and column is described", () => {
  const missing = STAGES.flatMap((s) =>
    s.tables.flatMap((t) => [
      ...(t.description.trim() ? [] : [`${s.name}: table ${t.name}`]),
      ...t.columns.filter((c) => !c.description?.trim()).map((c) => `${s.name}: ${t.name}.${c.name}`),
    ])
  );
  assert.deepEqual(missing, []);
});
