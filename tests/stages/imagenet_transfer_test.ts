/**
 * End-to-end tests of the `imagenet-transfer` stage through the pipeline CLI, on the fixture entry
 * (`fixtures/imagenet_entry.ts`: a test-only `meta-train` that writes UNTRAINED HRNN weights, then the real
 * stage): the smoke profile on the offline stand-in, and the ImageNet loader path on generated JPEG files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import jpeg from "jpeg-js";
import { dbRows, FLAGS, REPO_ROOT } from "../pipeline/fixtures/harness.ts";

const ENTRY = fileURLToPath(new URL("./fixtures/imagenet_entry.ts", import.meta.url));

async function runEntry(results: string, args: string[]): Promise<{ code: number; out: string }> {
  const env: Record<string, string> = { RUST_BACKTRACE: "0", NO_COLOR: "1" };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, ENTRY, "--results", results, ...args],
    cwd: REPO_ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

async function stageLog(results: string): Promise<string> {
  for await (const e of Deno.readDir(join(results, "logs"))) {
    if (e.name.startsWith("imagenet-transfer-")) {
      return await Deno.readTextFile(join(results, "logs", e.name));
    }
  }
  throw new Error("no imagenet-transfer log");
}

async function summary(results: string): Promise<Record<string, unknown>> {
  const dir = join(results, "artifacts", "imagenet-transfer");
  for await (const e of Deno.readDir(dir)) {
    if (/^[0-9a-f]{16}$/.test(e.name)) {
      return JSON.parse(await Deno.readTextFile(join(dir, e.name, "summary.json")));
    }
  }
  throw new Error("no published imagenet-transfer artifact");
}

/** Writes a tiny ILSVRC-style folder: train/<wnid>/*.JPEG, `classes` classes of `perClass` JPEGs. */
function writeFakeImageNet(root: string, classes: number, perClass: number): void {
  for (let c = 0; c < classes; c++) {
    const wnid = `n0000000${c + 1}`;
    Deno.mkdirSync(join(root, "train", wnid), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const width = 48 + 8 * i, height = 40;
      const data = new Uint8Array(width * height * 4);
      for (let p = 0; p < width * height; p++) {
        data[4 * p] = (c * 90 + p) % 256;
        data[4 * p + 1] = (i * 60 + 3 * p) % 256;
        data[4 * p + 2] = c * 100;
        data[4 * p + 3] = 255;
      }
      const { data: bytes } = jpeg.encode({ data, width, height }, 90);
      Deno.writeFileSync(join(root, "train", wnid, `${wnid}_${i}.JPEG`), bytes);
    }
  }
}

Deno.test("imagenet-transfer smoke on the mnist-rgb stand-in fills runs, curves and overhead", async () => {
  const R = Deno.makeTempDirSync({ prefix: "lopt-imagenet-test-" });
  try {
    const r = await runEntry(R, [
      "--profile",
      "smoke",
      "--set",
      "imagenet-transfer.imagenetDir=",
      "imagenet-transfer",
    ]);
    assert.equal(r.code, 0, r.out + (await stageLog(R).catch(() => "")));
    const runs = await dbRows(
      R,
      "SELECT network, dataset, optimizer, learning_rate, steps, final_loss, " +
        "seconds_per_step, peak_bytes, diverged FROM imagenet_runs ORDER BY network, optimizer",
    );
    assert.equal(runs.length, 6);
    assert.deepEqual(runs.map((x) => `${x[0]}/${x[2]}`), [
      "inception_v3/adam",
      "inception_v3/learned",
      "inception_v3/rmsprop",
      "resnet_v2/adam",
      "resnet_v2/learned",
      "resnet_v2/rmsprop",
    ]);
    for (const x of runs) {
      assert.equal(x[1], "mnist-rgb (stand-in)");
      assert.equal(Number(x[4]), 2);
      assert.ok(Number.isFinite(Number(x[5])));
      assert.ok(Number(x[6]) > 0 && Number(x[7]) > 0);
    }
    assert.equal(runs.find((x) => x[2] === "learned")![3], null);
    assert.equal(Number(runs.find((x) => x[2] === "rmsprop")![3]), 0.045);
    assert.equal(Number(runs.find((x) => x[2] === "adam")![3]), 0.001);
    const curves = await dbRows(R, "SELECT DISTINCT dataset, count(*) OVER () FROM imagenet_curves");
    assert.deepEqual(curves.map((x) => [x[0], Number(x[1])]), [["mnist-rgb (stand-in)", 12]]);
    // Same init and data: every optimizer sees the same first loss on a network.
    const first = await dbRows(
      R,
      "SELECT network, count(DISTINCT loss) FROM imagenet_curves WHERE step = 0 GROUP BY 1",
    );
    for (const x of first) assert.equal(Number(x[1]), 1, `first losses differ on ${x[0]}`);

    const over = await dbRows(
      R,
      "SELECT network, optimizer, params, update_ms, update_ratio_vs_adam, " +
        "state_bytes_per_param, step_ms, update_share, step_basis, update_groups FROM imagenet_overhead",
    );
    assert.equal(over.length, 6);
    for (const x of over) {
      for (const i of [2, 3, 4, 5, 6, 7]) assert.ok(Number(x[i]) > 0, `${x[0]}/${x[1]} column ${i}: ${x[i]}`);
      assert.ok(Number(x[7]) < 1);
      assert.match(String(x[8]), /EXTRAPOLATED to batch 32/);
      assert.ok(Number(x[9]) > 1, "smoke uses a tiny group budget to exercise grouped updates");
    }
    const learned = over.filter((x) => x[1] === "learned");
    for (const x of learned) assert.ok(Number(x[5]) <= 100, `learned state ${x[5]} bytes/param`);
    for (const x of over.filter((x) => x[1] === "adam")) assert.equal(Number(x[4]), 1);

    const s = await summary(R);
    assert.equal(s.standIn, true);
    assert.equal(s.dataset, "mnist-rgb (stand-in)");
    assert.match(await stageLog(R), /mnist-rgb \(stand-in\) — NOT ImageNet/);
  } finally {
    await Deno.remove(R, { recursive: true });
  }
});

Deno.test("imagenet-transfer reads an ILSVRC folder of JPEGs and records dataset imagenet", async () => {
  const R = Deno.makeTempDirSync({ prefix: "lopt-imagenet-test-" });
  const data = Deno.makeTempDirSync({ prefix: "lopt-fake-ilsvrc-" });
  try {
    writeFakeImageNet(data, 3, 4);
    const r = await runEntry(R, [
      "--profile",
      "smoke",
      "--set",
      `imagenet-transfer.imagenetDir=${data}`,
      "--set",
      "imagenet-transfer.networks=resnet_v2",
      "--set",
      "imagenet-transfer.optimizers=learned,adam",
      "--set",
      "imagenet-transfer.overhead=false",
      "imagenet-transfer",
    ]);
    assert.equal(r.code, 0, r.out + (await stageLog(R).catch(() => "")));
    const runs = await dbRows(R, "SELECT dataset, optimizer, steps FROM imagenet_runs ORDER BY optimizer");
    assert.deepEqual(runs.map((x) => [x[0], x[1], Number(x[2])]), [["imagenet", "adam", 2], [
      "imagenet",
      "learned",
      2,
    ]]);
    const curves = await dbRows(R, "SELECT DISTINCT dataset FROM imagenet_curves");
    assert.deepEqual(curves, [["imagenet"]]);
    assert.equal(Number((await dbRows(R, "SELECT count(*) FROM imagenet_overhead"))[0][0]), 0);
    const s = await summary(R);
    assert.equal(s.standIn, false);
    assert.equal(s.dataset, "imagenet");
    assert.match(await stageLog(R), /dataset: imagenet from .* \(12 training images, 3 classes\)/);
  } finally {
    await Deno.remove(R, { recursive: true });
    await Deno.remove(data, { recursive: true });
  }
});
