/** The completed units a long stage records so that a killed run resumes (`stages/completed_units.ts`). */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CompletedUnits } from "../../stages/completed_units.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lopt-units-" });
  try {
    await fn(join(dir, "stage", "key"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("completed units: a result round-trips exactly, non-finite numbers and nulls included", async () => {
  await withDir(async (dir) => {
    const units = new CompletedUnits(dir);
    assert.equal(await units.get("full seed 0"), null, "nothing recorded yet");
    const result = {
      losses: [0.5, null, NaN, Infinity, -Infinity, 1e-300, -0.125],
      rows: [{ task_id: "test/beale#1", final_loss: NaN, diverged: true }],
      name: "full",
    };
    assert.equal(await units.put("full seed 0", result), result);
    const back = await new CompletedUnits(dir).get<typeof result>("full seed 0");
    assert.deepEqual(back, result);
    assert.equal(await units.get("full seed 1"), null, "another unit is not replayed");
    assert.equal([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp")).length, 0);
  });
});

Deno.test("completed units: a torn, edited or foreign file is skipped with a log line, and the unit reruns", async () => {
  await withDir(async (dir) => {
    const lines: string[] = [];
    const units = new CompletedUnits(dir, (m) => lines.push(m));
    await units.put("a", { loss: 1 });
    const file = units.fileOf("a");
    const text = await Deno.readTextFile(file);

    await Deno.writeTextFile(file, text.slice(0, text.length >> 1)); // torn
    assert.equal(await units.get("a"), null);
    await Deno.writeTextFile(file, text.replace('"loss":1', '"loss":2')); // edited: its hash no longer matches
    assert.equal(await units.get("a"), null);
    await Deno.copyFile(file, units.fileOf("b")); // a file under another unit's name
    await Deno.writeTextFile(file, text);
    assert.deepEqual(await units.get("a"), { loss: 1 }, "the intact file is read");
    assert.equal(await units.get("b"), null);
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.ok(
      lines.every((l) => /^completed unit "[ab]" is unusable \(.+\); running it again$/.test(l)),
      lines[0],
    );
  });
});

Deno.test("completed units: put removes the unit's scratch dir; clear removes every unit", async () => {
  await withDir(async (dir) => {
    const units = new CompletedUnits(dir);
    const scratch = units.scratchDirOf("full seed 0");
    await Deno.mkdir(scratch, { recursive: true });
    await Deno.writeTextFile(join(scratch, "ckpt-000002.json"), "{}");
    assert.notEqual(scratch, units.scratchDirOf("full seed 1"));
    await units.put("full seed 0", [1]);
    await assert.rejects(Deno.stat(scratch), Deno.errors.NotFound);
    await units.clear();
    assert.equal(await units.get("full seed 0"), null);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    await units.clear(); // clearing twice is fine
  });
});
