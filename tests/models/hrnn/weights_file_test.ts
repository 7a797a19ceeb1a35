import assert from "node:assert/strict";
import { initBackend } from "../../../lib/backend.ts";
import { type HrnnConfig, makeHrnnConfig } from "../../../models/hrnn/config.ts";
import { createL2lLstmMetaParams, L2L_LSTM_PAPER } from "../../../models/optimizers/l2l_lstm.ts";
import { CRNN_DEFAULTS, crnnSpecs } from "../../../models/optimizers/crnn.ts";
import { createFromSpecs } from "../../../models/optimizers/param_specs.ts";
import { createMetaParams, disposeMetaParams } from "../../../models/hrnn/meta_params.ts";
import {
  decodeWeights,
  encodeWeights,
  loadWeights,
  saveWeights,
  WEIGHTS_CHECKSUM_BYTES,
  WEIGHTS_VERSION,
  type WeightsHeader,
} from "../../../models/hrnn/weights_file.ts";
import { createHash } from "node:crypto";
import { vals } from "./helpers.ts";

await initBackend();

/** Replaces the trailing SHA-256 of version-2 bytes with the checksum of their (edited) contents. */
function reseal(bytes: Uint8Array): Uint8Array {
  const end = bytes.length - WEIGHTS_CHECKSUM_BYTES;
  const out = bytes.slice();
  out.set(createHash("sha256").update(out.subarray(0, end)).digest(), end);
  return out;
}

/**
 * Rewrites the JSON header of encoded weights (keeps the data block intact). Version 2: the checksum is
 * recomputed (`seal`, default true), so the edit reaches the structural checks.
 */
function patchHeader(bytes: Uint8Array, edit: (h: WeightsHeader) => void, seal = true): Uint8Array {
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
  return seal ? reseal(out) : out;
}

Deno.test("weights file round trip (file on disk): tensors, config and provenance", async () => {
  const config = makeHrnnConfig({ useAttention: true, globalInput: "mean" });
  const mp = createMetaParams(config, 21);
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hrnn.weights`;
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
      [
        good.subarray(0, good.length - 8),
        /test.bin is truncated: its header describes \d+ bytes, the file has/,
      ],
      [patchHeader(good, (h) => (h.version = 4)), /format version 4; this lopt reads versions 1 to 3/],
      [patchHeader(good, (h) => (h.version = 3)), /names learned optimizer undefined \(format version 3\)/],
      [
        patchHeader(good, (h) => (h.optimizer = "crnn")),
        /names learned optimizer "crnn" \(format version 2\)/,
      ],
      [patchHeader(good, (h) => (h.format = "other")), /format "other"/],
      [
        patchHeader(good, (h) => ((h.config as HrnnConfig).levelSizes = [10, 20, 20])),
        /missing tensor\(s\):.*gru2/,
      ],
      [
        patchHeader(good, (h) => ((h.config as HrnnConfig).numGradientScales = 0)),
        /invalid config.*numGradientScales/,
      ],
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
    new DataView(nan.buffer).setFloat32(nan.length - WEIGHTS_CHECKSUM_BYTES - 4, Number.NaN, true);
    assert.throws(() => decodeWeights(reseal(nan)), /NaN or infinite/);
    await assert.rejects(() => loadWeights("/nonexistent/w.bin"), /does not exist/);
    // Saving checks shapes against the config too.
    assert.throws(() => encodeWeights(mp, makeHrnnConfig()), /do not match the config/);
  } finally {
    disposeMetaParams(mp);
  }
});

Deno.test("weights file checksum: a flipped data or header byte is refused; version 1 files still load", () => {
  const config = makeHrnnConfig({ levelSizes: [10, 20] });
  const mp = createMetaParams(config, 3);
  const good = encodeWeights(mp, config, { createdAt: "2024-01-01T00:00:00Z", notes: "abc" });
  try {
    const header = decodeWeights(good).header;
    assert.equal(header.version, 2);
    disposeMetaParams(decodeWeights(good).metaParams);
    const headerEnd = 12 + new DataView(good.buffer).getUint32(8, true);
    // One byte in the middle of the data block, the last data byte, a provenance byte, the checksum itself.
    const dataMiddle = Math.floor((headerEnd + good.length - WEIGHTS_CHECKSUM_BYTES) / 2);
    const notes = new TextDecoder().decode(good.subarray(0, headerEnd)).indexOf('"abc"') + 1;
    for (const at of [dataMiddle, good.length - WEIGHTS_CHECKSUM_BYTES - 1, notes, good.length - 1]) {
      const bad = good.slice();
      bad[at] ^= 0x01; // a flipped bit: the values (or the text) stay perfectly valid
      assert.throws(
        () => decodeWeights(bad, "w.weights"),
        /^Error: w\.weights is damaged or was edited: the SHA-256 of its contents does not match/,
        `byte ${at}`,
      );
    }
    // A version-1 file (the same layout without the checksum) is read as before.
    const v1 = patchHeader(
      good.subarray(0, good.length - WEIGHTS_CHECKSUM_BYTES),
      (h) => (h.version = 1),
      false,
    );
    const loaded = decodeWeights(v1);
    assert.equal(loaded.header.version, 1);
    for (const k of Object.keys(mp)) assert.deepEqual(vals(loaded.metaParams[k]), vals(mp[k]), k);
    disposeMetaParams(loaded.metaParams);
  } finally {
    disposeMetaParams(mp);
  }
});

Deno.test("weights file: non-finite values are never written; a directory or a missing file is one line", async () => {
  const config = makeHrnnConfig({ levelSizes: [10, 20] });
  const mp = createMetaParams(config, 4);
  const dir = await Deno.makeTempDir();
  try {
    const name = Object.keys(mp)[0];
    const broken = { ...mp, [name]: mp[name].mul(Number.POSITIVE_INFINITY) };
    await assert.rejects(
      () => saveWeights(`${dir}/hrnn.weights`, broken, config),
      new RegExp(`refusing to write HRNN weights: tensor ${name} contains NaN or infinite values`),
    );
    broken[name].dispose();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
    const failure = (path: string) => loadWeights(path).then(() => new Error("loaded"), (e) => e as Error);
    const err = await failure(dir);
    assert.equal(err.message.split("\n").length, 1);
    assert.match(err.message, /is a directory, not a file/);
    const missing = await failure(`${dir}/nope`);
    for (const e of [err, missing]) {
      assert.doesNotMatch(e.message, /weights\.bin|--weights|os error/, e.message);
    }
    assert.match(missing.message, /does not exist.*hrnn\.weights/);
  } finally {
    disposeMetaParams(mp);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weights file: l2l-lstm and crnn round-trip as version 3 naming their optimizer; mixed-up kinds are refused", () => {
  const lstm = createL2lLstmMetaParams(L2L_LSTM_PAPER, 3);
  const crnn = createFromSpecs(crnnSpecs(CRNN_DEFAULTS), 4);
  try {
    for (
      const [kind, mp, cfg] of [["l2l-lstm", lstm, L2L_LSTM_PAPER], ["crnn", crnn, CRNN_DEFAULTS]] as const
    ) {
      const bytes = encodeWeights(mp, cfg, { profile: "smoke" }, kind);
      const loaded = decodeWeights(bytes, `${kind}.weights`);
      assert.equal(loaded.optimizer, kind);
      assert.equal(loaded.header.version, 3);
      assert.deepEqual(loaded.config, cfg);
      for (const k of Object.keys(mp)) assert.deepEqual(vals(loaded.metaParams[k]), vals(mp[k]), k);
      disposeMetaParams(loaded.metaParams);
      // Header says HRNN-shaped kind of the other optimizer: the tensors do not match.
      assert.throws(
        () => decodeWeights(patchHeader(bytes, (h) => (h.optimizer = kind === "crnn" ? "l2l-lstm" : "crnn"))),
        /do not match|invalid config/,
      );
      assert.throws(
        () => decodeWeights(patchHeader(bytes, (h) => (h.optimizer = "adam" as never))),
        /names learned optimizer "adam"/,
      );
    }
    assert.throws(() => encodeWeights(lstm, L2L_LSTM_PAPER, {}, "crnn"), /invalid|cRNN config/);
    assert.throws(() => encodeWeights(crnn, L2L_LSTM_PAPER, {}, "l2l-lstm"), /do not match the config/);
    // HRNN weights are still version 2 without an optimizer field.
    const config = makeHrnnConfig();
    const hrnn = createMetaParams(config, 0);
    const h = decodeWeights(encodeWeights(hrnn, config));
    assert.equal(h.optimizer, "hrnn");
    assert.equal(h.header.version, WEIGHTS_VERSION);
    assert.equal("optimizer" in h.header, false);
    disposeMetaParams(h.metaParams);
    disposeMetaParams(hrnn);
  } finally {
    disposeMetaParams(lstm);
    disposeMetaParams(crnn);
  }
});
