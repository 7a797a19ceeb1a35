import assert from "node:assert/strict";
import { join } from "node:path";
import { ArtifactStore } from "../../pipeline/artifacts.ts";

const meta = (key: string) => ({
  stage: "s",
  key,
  version: "1",
  profile: "default",
  params: { x: 1 },
  inputs: {},
});

Deno.test("artifacts: publish, verify, corruption, stale staging, last records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new ArtifactStore(dir);
    assert.deepEqual(await store.verify("s", "k1"), { status: "missing" });
    const staging = await store.createStaging("s", "k1");
    await Deno.mkdir(join(staging, "rows"));
    await Deno.writeTextFile(join(staging, "rows", "t.ndjson"), '{"a":1}\n');
    await Deno.writeTextFile(join(staging, "w.bin"), "weights");
    const m = await store.publish(staging, meta("k1"));
    assert.deepEqual(m.files.map((f) => [f.path, f.size]), [["rows/t.ndjson", 8], ["w.bin", 7]]);
    assert.equal((await store.verify("s", "k1")).status, "ok");
    await assert.rejects(Deno.stat(staging));

    await Deno.writeTextFile(join(store.artifactDir("s", "k1"), "w.bin"), "weightz");
    assert.deepEqual(await store.verify("s", "k1"), {
      status: "corrupt",
      problem: "file w.bin hash mismatch",
    });
    await Deno.remove(join(store.artifactDir("s", "k1"), "w.bin"));
    assert.deepEqual(await store.verify("s", "k1"), { status: "corrupt", problem: "file w.bin missing" });
    await Deno.remove(join(store.artifactDir("s", "k1"), "manifest.json"));
    assert.deepEqual(await store.verify("s", "k1"), { status: "corrupt", problem: "manifest.json missing" });

    // Rebuild replaces the corrupt artifact.
    const again = await store.createStaging("s", "k1");
    await Deno.writeTextFile(join(again, "w.bin"), "new");
    await store.publish(again, meta("k1"));
    assert.equal((await store.verify("s", "k1")).status, "ok");

    // A staging dir of a dead pid is removed; ours is kept.
    const dead = await new Deno.Command(Deno.execPath(), { args: ["eval", "0"], stdout: "null" }).spawn();
    await dead.status;
    await Deno.mkdir(store.stagingDir("s", "k2", dead.pid), { recursive: true });
    await store.createStaging("s", "k3");
    assert.deepEqual(await store.cleanStaleStaging("s"), [
      `removed stale staging dir ${store.stagingDir("s", "k2", dead.pid)} (its process is gone)`,
    ]);
    await Deno.stat(store.stagingDir("s", "k3"));

    // A replacement interrupted after moving the old artifact aside: the old one is put back.
    await Deno.rename(store.artifactDir("s", "k1"), join(store.stageDir("s"), `.trash-k1-${dead.pid}`));
    assert.equal((await store.verify("s", "k1")).status, "missing");
    assert.deepEqual(await store.cleanStaleStaging("s"), [
      `restored artifact ${store.artifactDir("s", "k1")} (a replacement of it was interrupted)`,
    ]);
    assert.equal((await store.verify("s", "k1")).status, "ok");

    assert.equal(await store.readLast("s", "smoke"), null);
    const rec = { key: "k1", version: "1", params: { x: 1 }, inputs: {}, time: "t" };
    await store.writeLast("s", "smoke", rec);
    assert.deepEqual(await store.readLast("s", "smoke"), rec);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
