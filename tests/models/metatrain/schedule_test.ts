import assert from "node:assert/strict";
import { Rng } from "../../../lib/rng.ts";
import {
  MetaSchedule,
  PAPER_SCHEDULE,
  sampleNumUnrolls,
  sampleUnrollLength,
  type SlotCursor,
  type UnrollPlan,
} from "../../../models/metatrain/schedule.ts";
import type { ProblemSpec } from "../../../tasks/problem.ts";

const specs: ProblemSpec[] = ["a", "b", "c", "d"].map((f) => ({ family: f, params: {}, seed: 0 }));

Deno.test("heavy-tailed draws have the paper's means (1 + Exp(40) unrolls, 50 + Exp(200) steps)", () => {
  const rng = new Rng(1);
  const n = 20000;
  let su = 0, sl = 0, minU = Infinity, minL = Infinity, maxL = 0;
  for (let i = 0; i < n; i++) {
    const u = sampleNumUnrolls(rng, PAPER_SCHEDULE), l = sampleUnrollLength(rng, PAPER_SCHEDULE);
    assert.ok(Number.isInteger(u) && Number.isInteger(l));
    su += u;
    sl += l;
    minU = Math.min(minU, u);
    minL = Math.min(minL, l);
    maxL = Math.max(maxL, l);
  }
  assert.ok(Math.abs(su / n - 41) < 1.2, `mean unrolls ${su / n}`);
  assert.ok(Math.abs(sl / n - 250) < 6, `mean length ${sl / n}`);
  assert.equal(minU, 1);
  assert.equal(minL, 50);
  assert.ok(maxL > 1500, "heavy tail");
  const capped = { ...PAPER_SCHEDULE, maxUnrollLength: 100 };
  for (let i = 0; i < 1000; i++) assert.ok(sampleUnrollLength(rng, capped) <= 100);
});

Deno.test("problem choice is uniform over the ensemble; plans are pure functions of the cursor", () => {
  const s = new MetaSchedule(specs, { numMetaIterations: 1, numUnrollScale: 0 }, 5);
  const counts = new Map<string, number>();
  let c = s.newCursor(0);
  for (let i = 0; i < 4000; i++) {
    const p = s.plan(c);
    assert.deepEqual(s.plan(c), p, "same cursor, same plan");
    assert.ok(p.newProblem, "one meta-iteration of one unroll: every plan starts a problem");
    counts.set(p.spec.family, (counts.get(p.spec.family) ?? 0) + 1);
    c = s.advance(c, p, false);
  }
  for (const f of ["a", "b", "c", "d"]) {
    assert.ok(Math.abs(counts.get(f)! / 4000 - 0.25) < 0.03, `${f}: ${counts.get(f)}`);
  }
  // JSON round trip of a cursor changes nothing.
  assert.deepEqual(s.plan(JSON.parse(JSON.stringify(c))), s.plan(c));
  // Different slots follow different streams.
  assert.notDeepEqual(s.plan(s.newCursor(0)).unrollSeed, s.plan(s.newCursor(1)).unrollSeed);
});

/** Walks a slot through `n` plans with the given early-stop pattern, returning the plans. */
function walk(s: MetaSchedule, n: number, stopWhen: (p: UnrollPlan) => boolean = () => false): UnrollPlan[] {
  const out: UnrollPlan[] = [];
  let c: SlotCursor = s.newCursor(0);
  for (let i = 0; i < n; i++) {
    const p = s.plan(c);
    out.push(p);
    c = s.advance(c, p, stopWhen(p));
  }
  return out;
}

Deno.test("reset_rnn_params semantics: reset once per problem, saved state at later meta-iterations", () => {
  const cfg = { numMetaIterations: 5, numUnrollScale: 0.8, unrollLengthScale: 3, minUnrollLength: 2 };
  for (const missing of ["fresh", "zero"] as const) {
    const s = new MetaSchedule(specs, { ...cfg, missingSavedState: missing }, 9);
    const plans = walk(s, 600);
    let savedSinceProblem = false;
    let sawMissing = false, sawSaved = false;
    for (let i = 0; i < plans.length; i++) {
      const p = plans[i];
      if (p.newProblem) savedSinceProblem = false;
      assert.equal(p.freshParams, p.unroll === 0, "params re-initialised at every meta-iteration start");
      assert.ok(p.length >= 2);
      if (p.unroll > 0) assert.equal(p.stateSource, "carry");
      else if (p.metaIteration === 0) {
        assert.equal(p.stateSource, "reset");
        assert.ok(p.newProblem, "meta-iteration 0 starts a new problem");
      } else if (savedSinceProblem) {
        assert.equal(p.stateSource, "saved");
        sawSaved = true;
      } else {
        // The reference's quirk would start from all-zero state; by default we reset to a fresh state.
        assert.equal(p.stateSource, missing === "zero" ? "zero" : "reset");
        sawMissing = true;
      }
      if (!p.isLast) savedSinceProblem = true;
      if (i + 1 < plans.length) {
        const q = plans[i + 1];
        if (p.isLast) {
          if (p.metaIteration === 4) assert.ok(q.newProblem && q.problem === p.problem + 1);
          else assert.deepEqual([q.problem, q.metaIteration, q.unroll], [p.problem, p.metaIteration + 1, 0]);
        } else {assert.deepEqual([q.problem, q.metaIteration, q.unroll], [
            p.problem,
            p.metaIteration,
            p.unroll + 1,
          ]);}
      }
    }
    assert.ok(sawMissing && sawSaved, "both cases occur with these settings");
  }
  // resetRnnParams false: a fresh state at every meta-iteration.
  const plans = walk(new MetaSchedule(specs, { ...cfg, resetRnnParams: false }, 9), 200);
  for (const p of plans) assert.equal(p.stateSource, p.unroll > 0 ? "carry" : "reset");
});

Deno.test("an early stop ends the meta-iteration and saves nothing", () => {
  const s = new MetaSchedule(specs, { numMetaIterations: 3, numUnrollScale: 20, minNumUnrolls: 3 }, 2);
  // Stop every unroll early: nothing is ever saved, so later meta-iterations reset.
  const plans = walk(s, 30, () => true);
  for (const p of plans) {
    assert.equal(p.unroll, 0);
    assert.equal(p.stateSource, "reset");
  }
  assert.deepEqual(plans.slice(0, 4).map((p) => [p.problem, p.metaIteration]), [[0, 0], [0, 1], [0, 2], [
    1,
    0,
  ]]);
});
