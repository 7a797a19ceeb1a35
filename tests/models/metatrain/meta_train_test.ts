import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../../../lib/backend.ts";
import { makeToyLearnedOptimizer } from "../../../models/optimizers/learned.ts";
import { type CurveRow, metaTrain, type MetaTrainArgs } from "../../../models/metatrain/meta_train.ts";
import { NonFiniteMetaParamsError } from "../../../models/metatrain/outer_trainer.ts";
import { META_CHECKPOINT_VERSION } from "../../../models/metatrain/config.ts";
import { listCheckpoints, loadLatestCheckpoint } from "../../../models/metatrain/checkpoint.ts";
import { deriveSeed, MetaSchedule } from "../../../models/metatrain/schedule.ts";
import { tinyQuadratic, tinySpec } from "./fixtures.ts";

await initBackend();

const learned = makeToyLearnedOptimizer({ numLogLrs: 2, initLogLr: Math.log(0.05) });
const problems = {
  specs: [tinySpec(1), tinySpec(2, { noise: 0.05, minibatch: true })],
  build: tinyQuadratic,
};
const smallSchedule = { numMetaIterations: 2, numUnrollScale: 1.5, unrollLengthScale: 2, minUnrollLength: 3 };

function args(extra: Partial<MetaTrainArgs> = {}): MetaTrainArgs {
  return {
    learned,
    problems,
    seed: 42,
    maxMetaSteps: 9,
    metaBatch: 2,
    config: { schedule: smallSchedule, metaOptimizer: { kind: "adam", lr: 0.02 } },
    ...extra,
  };
}

function values(mp: Record<string, tf.Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.keys(mp).sort().map((k) => [k, Array.from(mp[k].dataSync())]));
}

class Killed extends Error {}

for (const estimator of [{ kind: "tbptt" as const }, { kind: "pes" as const, pesPairs: 2, pesSigma: 0.05 }]) {
  Deno.test(`checkpoint → kill → resume gives the uninterrupted run's meta-params (${estimator.kind})`, async () => {
    const before = tf.memory().numTensors;
    const cfg = { schedule: smallSchedule, metaOptimizer: { kind: "adam" as const, lr: 0.02 }, estimator };
    const full = await metaTrain(args({ config: cfg }));
    assert.equal(full.metaSteps, 9);
    assert.equal(full.curve.length, 18, "one row per slot per meta-step");
    const dir = await Deno.makeTempDir({ prefix: "lopt-meta-ckpt-" });
    try {
      // Run until meta-step 5 and die (an exception from a callback, like a kill: no final checkpoint).
      await assert.rejects(
        metaTrain(args({
          config: cfg,
          checkpointDir: dir,
          checkpointEvery: 2,
          onCurve: (r) => {
            if (r.meta_step === 6) throw new Killed("simulated kill");
          },
        })),
        Killed,
      );
      assert.deepEqual(await listCheckpoints(dir), ["ckpt-000000002.json", "ckpt-000000004.json"]);
      const ck = JSON.parse(await Deno.readTextFile(join(dir, "ckpt-000000004.json")));
      assert.ok(
        ck.slots.some((s: { carry: unknown; saved: unknown }) => s.carry !== null || s.saved !== null),
        "the checkpoint holds carried inner state (resume mid-problem)",
      );
      // A torn newer file and another configuration's checkpoint are skipped.
      await Deno.writeTextFile(join(dir, "ckpt-000000005.json"), '{"version": 1, "configH');
      const skipped: string[] = [];
      const rows: CurveRow[] = [];
      const resumed = await metaTrain(args({
        config: cfg,
        checkpointDir: dir,
        checkpointEvery: 2,
        onCurve: (r) => rows.push(r),
        onLog: (m) => skipped.push(m),
      }));
      assert.equal(resumed.resumedFrom, 4);
      assert.ok(skipped.some((m) => m.includes("ckpt-000000005.json")), skipped.join("\n"));
      assert.equal(resumed.metaSteps, 9);
      assert.deepEqual(values(resumed.metaParams), values(full.metaParams), "bit-identical meta-params");
      assert.deepEqual(
        resumed.curve.map((r) => [r.meta_step, r.slot, r.family, r.unroll_len, r.meta_loss]),
        full.curve.map((r) => [r.meta_step, r.slot, r.family, r.unroll_len, r.meta_loss]),
      );
      assert.equal(rows.length, 18, "restored rows are replayed, then new ones follow");
      assert.equal(resumed.innerSteps, full.innerSteps);
      // A finished run resumed with a larger budget continues; a different seed ignores the checkpoints.
      const other = await metaTrain(args({ config: cfg, checkpointDir: dir, seed: 7, maxMetaSteps: 1 }));
      assert.equal(other.resumedFrom, null);
      for (const r of [full, resumed, other]) tf.dispose(Object.values(r.metaParams));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal(tf.memory().numTensors, before, "meta-training frees everything it does not return");
  });
}

Deno.test("an edited but valid checkpoint is refused: the run resumes from an intact one, same meta-params", async () => {
  const cfg = { schedule: smallSchedule, metaOptimizer: { kind: "adam" as const, lr: 0.02 } };
  const full = await metaTrain(args({ config: cfg }));
  const dir = await Deno.makeTempDir({ prefix: "lopt-meta-ckpt-edit-" });
  try {
    await assert.rejects(
      metaTrain(args({
        config: cfg,
        checkpointDir: dir,
        checkpointEvery: 2,
        onCurve: (r) => {
          if (r.meta_step === 6) throw new Killed("simulated kill");
        },
      })),
      Killed,
    );
    /** Changes one base64 digit of the first meta-parameter: still valid JSON, different weights. */
    const edit = async (name: string) => {
      const ck = JSON.parse(await Deno.readTextFile(join(dir, name)));
      const first = Object.keys(ck.metaParams).sort()[0];
      const b64: string = ck.metaParams[first].b64;
      ck.metaParams[first].b64 = (b64[0] === "A" ? "B" : "A") + b64.slice(1);
      await Deno.writeTextFile(join(dir, name), JSON.stringify(ck));
    };
    await edit("ckpt-000000004.json");
    const hash = JSON.parse(await Deno.readTextFile(join(dir, "ckpt-000000002.json"))).configHash;
    const skips: string[] = [];
    const latest = await loadLatestCheckpoint(
      dir,
      hash,
      META_CHECKPOINT_VERSION,
      (n, why) => skips.push(`${n}: ${why}`),
    );
    assert.equal(latest?.metaStep, 2);
    assert.deepEqual(skips, [
      "ckpt-000000004.json: unusable: its contents do not match its checksum (damaged or edited)",
    ]);
    const logs: string[] = [];
    const resumed = await metaTrain(
      args({ config: cfg, checkpointDir: dir, checkpointEvery: 2, onLog: (m) => logs.push(m) }),
    );
    assert.equal(resumed.resumedFrom, 2, logs.join("\n"));
    assert.deepEqual(values(resumed.metaParams), values(full.metaParams));
    // Every checkpoint edited: the run starts from scratch, and still ends with the same meta-params.
    for (const n of await listCheckpoints(dir)) await edit(n);
    const fresh = await metaTrain(args({ config: cfg, checkpointDir: dir, checkpointEvery: 2 }));
    assert.equal(fresh.resumedFrom, null);
    assert.deepEqual(values(fresh.metaParams), values(full.metaParams));
    for (const r of [full, resumed, fresh]) tf.dispose(Object.values(r.metaParams));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a meta-step that makes the meta-params non-finite fails the run; no checkpoint holds it", async () => {
  const before = tf.memory().numTensors;
  const dir = await Deno.makeTempDir({ prefix: "lopt-meta-nonfinite-" });
  try {
    await assert.rejects(
      metaTrain(args({
        config: { schedule: smallSchedule, metaOptimizer: { kind: "adam", lr: 1e308 } },
        checkpointDir: dir,
        checkpointEvery: 1,
      })),
      (e: unknown) =>
        e instanceof NonFiniteMetaParamsError &&
        /^meta-step 1: the adam update with learning rate 1e\+308 made \d+ meta-parameter tensor\(s\) non-finite .*nothing was checkpointed or published\. Lower metaLr/
          .test(e.message),
    );
    assert.deepEqual(await listCheckpoints(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(tf.memory().numTensors, before, "the failed run frees its tensors");
});

Deno.test("meta-training lowers the meta-loss of a too-small learning rate; budgets and signal stop it", async () => {
  const slow = makeToyLearnedOptimizer({ initLogLr: Math.log(0.003) });
  const res = await metaTrain({
    learned: slow,
    problems: { specs: [tinySpec(3)], build: tinyQuadratic },
    seed: 1,
    maxMetaSteps: 25,
    config: {
      schedule: { numMetaIterations: 5, numUnrollScale: 2, unrollLengthScale: 3, minUnrollLength: 5 },
      metaOptimizer: { kind: "adam", lr: 0.1 },
    },
  });
  const lr0 = Math.log(0.003), lr1 = res.metaParams.log_lr.dataSync()[0];
  assert.ok(lr1 > lr0 + 0.5, `log LR should grow: ${lr0} → ${lr1}`);
  tf.dispose(Object.values(res.metaParams));
  const timed = await metaTrain(args({ maxMetaSteps: 1000, maxSeconds: 0.3 }));
  assert.equal(timed.stoppedBy, "time");
  assert.ok(timed.metaSteps > 0 && timed.metaSteps < 1000);
  tf.dispose(Object.values(timed.metaParams));
  const ac = new AbortController();
  const aborted = await metaTrain(args({
    maxMetaSteps: 1000,
    signal: ac.signal,
    onProgress: (p) => {
      if (p.metaStep === 3) ac.abort();
    },
  }));
  assert.equal(aborted.stoppedBy, "signal");
  assert.equal(aborted.metaSteps, 3);
  tf.dispose(Object.values(aborted.metaParams));
});

Deno.test("every state source (reset, carry, saved, zero) runs without leaking", async () => {
  const before = tf.memory().numTensors;
  const schedule = { ...smallSchedule, numMetaIterations: 4, numUnrollScale: 0.7 };
  // The plans this run will follow (the trainer's schedule seed is derived from its seed).
  const sched = new MetaSchedule(
    problems.specs,
    { ...schedule, missingSavedState: "zero" },
    deriveSeed(42, "schedule"),
  );
  const sources = new Set<string>();
  let c = sched.newCursor(0);
  for (let i = 0; i < 12; i++) {
    const p = sched.plan(c);
    sources.add(p.stateSource);
    c = sched.advance(c, p, false);
  }
  assert.deepEqual([...sources].sort(), ["carry", "reset", "saved", "zero"]);
  for (const missingSavedState of ["fresh", "zero"] as const) {
    const res = await metaTrain(args({
      maxMetaSteps: 12,
      metaBatch: 1,
      config: {
        schedule: { ...schedule, missingSavedState },
        estimator: { kind: "pes", pesPairs: 1 },
      },
    }));
    assert.ok(res.curve.every((r) => Number.isFinite(r.meta_loss)));
    tf.dispose(Object.values(res.metaParams));
  }
  assert.equal(tf.memory().numTensors, before);
});
