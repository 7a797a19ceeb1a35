import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { createMetaParams, disposeMetaParams } from "../../../models/hrnn/meta_params.ts";
import {
  decodeWeights,
  encodeWeights,
  loadWeights,
  saveWeights,
  WEIGHTS_VERSION,
  type WeightsHeader,
} from "../../../models/hrnn/weights_file.ts";
import { vals } from "./helpers.ts";

await initBackend();

/** Rewrites the JSON header of encoded weights (keeps the data block intact). */
function patchHeader(bytes: Uint8Array, edit: (h: WeightsHeader) => void): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len))) as WeightsHeader;
  const oldStart = Math.ceil((12 + len) / 4) * 4;
  edit(header);
  const hb = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((12 + hb.length) / 4) * 4;
  const out = new Uint8Array(start + bytes.length - oldStart);
  out.set(bytes.subarray(0, 8));
  new DataView(out.buffer).setUint32(8, hb.length, true);
  out.set(hb, 12);
  out.set(bytes.subarray(oldStart), start);
  return out;
}

Deno.test("weights file round trip (file on disk): tensors, config and provenance", async () => {
  const config = makeHrnnConfig({ useAttention: true, globalInput: "mean" });
  const mp = createMetaParams(config, 21);
  const dir = await Deno.makeTempDir();
  const path = `${dir}/weights.bin`;
  try {
    await saveWeights(path, mp, config, {
      profile: "smoke",
      params: { seed: 1, steps: 10 },
      cacheKey: "abc123",
      gitCommit: "deadbeef",
      metaTraining: { metaSteps: 3, metaLossFirst: 0.5, metaLossLast: 0.25, curve: [[0, 0.5], [2, 0.25]] },
      standIn: true,
      notes: "test",
    });
    const bytes = await Deno.readFile(path);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "LOPTHRNN");
    const loaded = await loadWeights(path);
    assert.deepEqual(loaded.config, config);
    assert.equal(loaded.header.version, WEIGHTS_VERSION);
    assert.equal(loaded.header.paramCount, Object.values(mp).reduce((a, t) => a + t.size, 0));
    assert.equal(loaded.provenance.cacheKey, "abc123");
    assert.equal(loaded.provenance.profile, "smoke");
    assert.deepEqual(loaded.provenance.metaTraining?.curve, [[0, 0.5], [2, 0.25]]);
    assert.ok(!Number.isNaN(Date.parse(loaded.provenance.createdAt!)));
    assert.deepEqual(Object.keys(loaded.metaParams), Object.keys(mp));
    for (const k of Object.keys(mp)) {
      assert.deepEqual(loaded.metaParams[k].shape, mp[k].shape, k);
      assert.deepEqual(vals(loaded.metaParams[k]), vals(mp[k]), k); // bit-exact float32
    }
    disposeMetaParams(loaded.metaParams);
  } finally {
    disposeMetaParams(mp);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weights file errors: format, version, config, shapes, missing tensors, truncation", async () => {
  const config = makeHrnnConfig({ levelSizes: [10, 20] });
  const mp = createMetaParams(config, 2);
  const good = encodeWeights(mp, config, { createdAt: "2024-01-01T00:00:00Z" });
  try {
    decodeWeights(good); // sanity
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('{"json": true}'), /not an HRNN weights file/],
      [good.subarray(0, 20), /truncated/],
      [good.subarray(0, good.length - 8), /truncated: tensor/],
      [patchHeader(good, (h) => (h.version = 2)), /format version 2; this lopt reads version 1/],
      [patchHeader(good, (h) => (h.format = "other")), /format "other"/],
      [patchHeader(good, (h) => (h.config.levelSizes = [10, 20, 20])), /missing tensor\(s\):.*gru2/],
      [patchHeader(good, (h) => (h.config.numGradientScales = 0)), /invalid config.*numGradientScales/],
      [
        patchHeader(good, (h) => (h.tensors = h.tensors.filter((t) => t.name !== "readout/lr_b"))),
        /missing tensor\(s\): readout\/lr_b/,
      ],
      [
        patchHeader(good, (h) => {
          const t = h.tensors.find((e) => e.name === "gru0/cand_b")!;
          t.shape = [2, 5];
        }),
        /gru0\/cand_b is \[2,5\], expected \[10\]/,
      ],
      [patchHeader(good, (h) => (h.tensors[0].length = 3)), /malformed tensor-table entry/],
    ];
    for (const [bytes, re] of cases) assert.throws(() => decodeWeights(bytes, "test.bin"), re, String(re));
    const nan = good.slice();
    new DataView(nan.buffer).setFloat32(nan.length - 4, Number.NaN, true);
    assert.throws(() => decodeWeights(nan), /NaN or infinite/);
    await assert.rejects(() => loadWeights("/nonexistent/w.bin"), /does not exist/);
    // Saving checks shapes against the config too.
    assert.throws(() => encodeWeights(mp, makeHrnnConfig()), /do not match the config/);
  } finally {
    disposeMetaParams(mp);
  }
});
