import assert from "node:assert/strict";
import { join } from "node:path";
import { PipelineError } from "../../pipeline/errors.ts";
import { acquireLock } from "../../pipeline/lock.ts";

Deno.test("lock: exclusive while held, released, stale locks recovered", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const notices: string[] = [];
    const lock = acquireLock(dir, "cmd one", (m) => notices.push(m));
    const info = JSON.parse(await Deno.readTextFile(join(dir, ".lock")));
    assert.equal(info.pid, Deno.pid);
    assert.equal(info.command, "cmd one");
    assert.throws(
      () => acquireLock(dir, "cmd two"),
      (e) =>
        e instanceof PipelineError &&
        e.message.includes(`another lopt pipeline (pid ${Deno.pid}, started ${info.started}: cmd one)`) &&
        e.message.includes(`is using results dir ${dir}; wait for it or kill it`),
    );
    lock.release();
    await assert.rejects(Deno.stat(join(dir, ".lock")));

    const dead = await new Deno.Command(Deno.execPath(), { args: ["eval", "0"], stdout: "null" }).spawn();
    await dead.status;
    await Deno.writeTextFile(
      join(dir, ".lock"),
      JSON.stringify({ pid: dead.pid, hostname: Deno.hostname(), started: "then", command: "old" }),
    );
    const l2 = acquireLock(dir, "cmd three", (m) => notices.push(m));
    assert.match(notices.join("\n"), new RegExp(`stale lock .*pid ${dead.pid} \\(started then: old\\)`));
    l2.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
