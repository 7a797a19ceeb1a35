/** Opening the database file (`pipeline/db_file.ts`): read-only, held by another process, damaged. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DB_FILE } from "../../pipeline/results_dir.ts";
import { ResultsStore } from "../../pipeline/store.ts";
import { count, lossTable, quiet } from "./fixtures/store_fixture.ts";

Deno.test("store: read-only mode refuses writes; missing DB has a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-ro-" });
  try {
    await assert.rejects(
      ResultsStore.open(join(dir, "empty"), { readOnly: true, ...quiet }),
      (e: Error) => e.message === `no results yet in ${join(dir, "empty")}: run \`deno task pipeline\` first`,
    );
    const w = await ResultsStore.open(dir, quiet);
    await w.ensureTables([lossTable]);
    await w.appendRows("losses", "k", [{ step: 3 }]);
    await w.close();
    await Deno.stat(join(dir, DB_FILE));
    const ro = await ResultsStore.open(dir, { readOnly: true, ...quiet });
    assert.equal(ro.readOnly, true);
    assert.equal(await count(ro, "SELECT count(*) FROM losses"), 1);
    await assert.rejects(ro.query("DELETE FROM losses"), /read-only/);
    await assert.rejects(ro.appendRows("losses", "k", [{ step: 4 }]), /read-only/);
    await ro.close();
    await ro.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: another process holding the file is reported as in use, with its pid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-store-busy-" });
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { ResultsStore } from "${new URL("../../pipeline/store.ts", import.meta.url).href}";` +
      `await ResultsStore.open(${JSON.stringify(dir)}, { log: () => {} }); console.log("ready");` +
      `await new Promise((r) => setTimeout(r, 60000));`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /ready/);
    reader.releaseLock();
    for (const readOnly of [false, true]) {
      await assert.rejects(
        ResultsStore.open(dir, { readOnly, moveAsideDamaged: !readOnly, ...quiet }),
        (e: Error) =>
          e.name === "PipelineError" &&
          e.message.includes(`is in use by another process (pid ${holder.pid})`) && !e.message.includes("\n"),
      );
    }
    // Not moved aside: the holder's file is intact.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /corrupt/.test(n)), []);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: a damaged file is an error unless moveAsideDamaged, then it is set aside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lopt-store-damaged-" });
  try {
    const s = await ResultsStore.open(dir, quiet);
    await s.close();
    const db = join(dir, DB_FILE);
    await Deno.writeFile(db, (await Deno.readFile(db)).slice(0, 5000));
    await assert.rejects(
      ResultsStore.open(dir, quiet),
      /is damaged \(IO Error: .*\): run `deno task pipeline`, which moves it aside/,
    );
    const notes: string[] = [];
    const fresh = await ResultsStore.open(dir, { moveAsideDamaged: true, log: (m) => notes.push(m) });
    assert.equal(fresh.schemaVersion, fresh.latestSchemaVersion);
    await fresh.close();
    assert.equal(notes.length, 1);
    assert.match(
      notes[0],
      /is damaged \(IO Error: Could not read enough bytes.*\); moved it to .*\.corrupt-\d{8}T\d{6}Z/,
    );
    assert.equal([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".corrupt-")).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
