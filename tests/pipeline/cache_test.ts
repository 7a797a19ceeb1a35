import assert from "node:assert/strict";
import { canonicalJson, computeKey } from "../../pipeline/cache.ts";

Deno.test("cache: canonical JSON sorts keys at every level", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: undefined } }),
    '{"a":{"d":[{"x":2,"y":1}]},"b":1}',
  );
});

Deno.test("cache: keys depend on stage, version, params and input keys only", () => {
  const base = { stage: "s", version: "1", params: { a: 1, b: [1, 2] }, inputs: { up: "k1" } };
  const k = computeKey(base);
  assert.match(k, /^[0-9a-f]{16}$/);
  assert.equal(computeKey({ ...base, params: { b: [1, 2], a: 1 } }), k);
  for (
    const other of [
      { ...base, stage: "t" },
      { ...base, version: "2" },
      { ...base, params: { a: 2, b: [1, 2] } },
      { ...base, inputs: { up: "k2" } },
    ]
  ) assert.notEqual(computeKey(other), k);
});
