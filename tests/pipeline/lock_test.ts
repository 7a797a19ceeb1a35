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

/** Reads a `/proc` file through `cat` (Deno reads `/proc` itself only with --allow-all). */
function readProc(path: string): string | null {
  const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" }).outputSync();
  return out.code === 0 ? new TextDecoder().decode(out.stdout) : null;
}

/** State and start time (field 22) of a process, from `/proc/<pid>/stat`; null when it is gone. */
function processStat(pid: number): { state: string; startTicks: string } | null {
  const text = readProc(`/proc/${pid}/stat`);
  if (text === null) return null;
  const fields = text.slice(text.lastIndexOf(")") + 2).trim().split(/\s+/);
  return { state: fields[0], startTicks: fields[19] };
}

function bootId(): string | null {
  return readProc("/proc/sys/kernel/random/boot_id")?.trim() ?? null;
}

/** Starts a process whose child exits but is never reaped (a zombie); returns the zombie's pid. */
async function zombie(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const sh = new Deno.Command("sh", {
    args: ["-c", "sleep 0 & echo $!; exec sleep 60"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = sh.stdout.getReader();
  const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
  reader.releaseLock();
  // Wait until the child has exited and sits unreaped.
  for (let i = 0; i < 100; i++) {
    const st = processStat(pid);
    if (st && st.state === "Z") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    pid,
    stop: async () => {
      sh.kill("SIGKILL");
      await sh.status;
      await sh.stdout.cancel().catch(() => {});
    },
  };
}

Deno.test("lock: records pid, process start time, boot id and hostname", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lock = acquireLock(dir, "cmd", () => {});
    const info = JSON.parse(await Deno.readTextFile(join(dir, ".lock")));
    assert.equal(info.pid, Deno.pid);
    assert.equal(info.hostname, Deno.hostname());
    assert.match(info.pidStart, /^\d+$/);
    assert.equal(info.pidStart, processStat(Deno.pid)!.startTicks);
    assert.match(info.bootId, /^[0-9a-f-]{36}$/);
    lock.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: a zombie holder (killed, not yet reaped) does not hold the lock", async () => {
  const dir = await Deno.makeTempDir();
  const z = await zombie();
  try {
    assert.equal(processStat(z.pid)?.state, "Z");
    await Deno.writeTextFile(
      join(dir, ".lock"),
      JSON.stringify({ pid: z.pid, hostname: Deno.hostname(), started: "then", command: "killed -9" }),
    );
    const notices: string[] = [];
    const t0 = performance.now();
    const lock = acquireLock(dir, "next", (m) => notices.push(m));
    assert.ok(performance.now() - t0 < 1000, "taken at once");
    assert.match(notices.join("\n"), new RegExp(`stale lock .*pid ${z.pid} \\(started then: killed -9\\)`));
    lock.release();
  } finally {
    await z.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: a live process that reused the holder's pid does not hold the lock", async () => {
  const dir = await Deno.makeTempDir();
  const other = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
  try {
    const st = processStat(other.pid)!;
    const write = (pidStart: string) =>
      Deno.writeTextFile(
        join(dir, ".lock"),
        JSON.stringify({
          pid: other.pid,
          hostname: Deno.hostname(),
          started: "then",
          command: "old run",
          pidStart,
          bootId: bootId(),
        }),
      );
    // Same pid, same start time: that process holds it.
    await write(st.startTicks);
    assert.throws(() => acquireLock(dir, "next", () => {}), /another lopt pipeline \(pid \d+, started then/);
    // Same pid, another start time: the pid was reused.
    await write(String(Number(st.startTicks) + 1));
    const notices: string[] = [];
    const lock = acquireLock(dir, "next", (m) => notices.push(m));
    assert.match(notices.join("\n"), new RegExp(`stale lock .*pid ${other.pid}`));
    lock.release();
  } finally {
    other.kill("SIGKILL");
    await other.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: a restart right after kill -9 of the holder is not refused", async () => {
  const dir = await Deno.makeTempDir();
  // The holder takes the lock and stays; its parent (sh, exec'd into sleep) never reaps it once killed.
  const sh = new Deno.Command("sh", {
    args: [
      "-c",
      `"$0" eval "$1" & echo $!; exec sleep 60`,
      Deno.execPath(),
      `import { acquireLock } from "${new URL("../../pipeline/lock.ts", import.meta.url).href}";` +
      `acquireLock(${JSON.stringify(dir)}, "holder", () => {}); console.log("locked");` +
      `await new Promise((r) => setTimeout(r, 60000));`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = sh.stdout.getReader();
    let text = "";
    while (!text.includes("locked")) text += new TextDecoder().decode((await reader.read()).value);
    reader.releaseLock();
    const pid = Number(text.trim().split("\n")[0]);
    assert.throws(() => acquireLock(dir, "too early", () => {}), /another lopt pipeline/);
    Deno.kill(pid, "SIGKILL");
    const t0 = performance.now();
    let lock = null;
    while (!lock && performance.now() - t0 < 5000) {
      try {
        lock = acquireLock(dir, "restart", () => {});
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const waited = performance.now() - t0;
    assert.ok(lock, "lock taken");
    assert.ok(waited < 300, `taken ${waited.toFixed(0)} ms after the kill`);
    assert.equal(processStat(pid)?.state, "Z", "the holder is still an unreaped zombie");
    lock.release();
  } finally {
    sh.kill("SIGKILL");
    await sh.status;
    await sh.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
