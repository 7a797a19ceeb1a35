/**
 * The HRNN weights file: meta-parameters, the config they belong to and their provenance in one binary file
 * (format described in `models/hrnn/README.md`).
 *
 * Layout (all integers and floats little-endian):
 * 1. 8 bytes magic `LOPTHRNN`;
 * 2. uint32 byte length H of the header;
 * 3. H bytes UTF-8 JSON header ({@link WeightsHeader}): format name, format version, config, tensor table
 *    (name, shape, offset and length in floats from the start of the data block), parameter count, provenance;
 * 4. zero padding to a multiple of 4 bytes from the file start;
 * 5. the data block: float32 values of every tensor, row-major, in tensor-table order;
 * 6. (format version 2 and 3) 32 bytes: the SHA-256 of every byte before it.
 *
 * The same file holds any of the learned optimizers meta-training produces ({@link LearnedKind}): HRNN weights
 * are written as version 2 (no `optimizer` field: a version-2 file is always an HRNN); the coordinatewise
 * LSTM (`l2l-lstm`, `models/optimizers/l2l_lstm.ts`) and the coordinatewise RNN (`crnn`, `models/optimizers/crnn.ts`) as
 * version 3, whose header names the optimizer, so that a reader older than them refuses the file by its
 * version instead of misreading it. Version 1 files (no checksum) are still read.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2";
import { type HrnnConfig, validateConfig } from "./config.ts";
import { countMetaParams, type MetaParams, metaParamSpecs, validateMetaParams } from "./meta_params.ts";
import { type L2lLstmConfig, l2lLstmSpecs, validateL2lLstmConfig } from "../optimizers/l2l_lstm.ts";
import { type CrnnConfig, crnnSpecs, validateCrnnConfig } from "../optimizers/crnn.ts";
import { checkAgainstSpecs, countSpecs } from "../optimizers/param_specs.ts";

/** Magic bytes at the start of every weights file. */
export const WEIGHTS_MAGIC = "LOPTHRNN";
/** The `format` field of the header. */
export const WEIGHTS_FORMAT = "lopt-hrnn-weights";
/** The format version this code writes for HRNN weights (it also reads version 1, which has no checksum). */
export const WEIGHTS_VERSION = 2;
/** The format version of the other learned optimizers' weights (the header's `optimizer` names which). */
export const WEIGHTS_VERSION_NAMED = 3;
/** Bytes of the SHA-256 checksum that ends a version-2 or version-3 file. */
export const WEIGHTS_CHECKSUM_BYTES = 32;

// A pure-JavaScript SHA-256 (not node:crypto) so that decoding works in browsers too; it is synchronous, which
// WebCrypto's `digest` is not.
function sha256(bytes: Uint8Array): Uint8Array {
  return nobleSha256(bytes);
}

/** The learned optimizers a weights file can hold. */
export const LEARNED_KINDS = ["hrnn", "l2l-lstm", "crnn"] as const;
/** One of {@link LEARNED_KINDS}. */
export type LearnedKind = (typeof LEARNED_KINDS)[number];
/** The configuration of any {@link LearnedKind}. */
export type LearnedConfig = HrnnConfig | L2lLstmConfig | CrnnConfig;

/** How a weights file checks the config and tensors of one kind of learned optimizer. */
interface KindCheck {
  /** Fills options that a file may leave out with the value that its optimizer ran with. */
  withDefaults?(config: unknown): unknown;
  validateConfig(config: unknown): void;
  validate(params: MetaParams, config: unknown, where: string): void;
  count(config: unknown): number;
  order(config: unknown): { name: string; shape: number[] }[];
}

const KIND_CHECKS: Record<LearnedKind, KindCheck> = {
  hrnn: {
    // A config without `lazyZeroGradients` describes an optimizer that updates every coordinate every step.
    withDefaults: (c) =>
      c !== null && typeof c === "object" && !Array.isArray(c) && !("lazyZeroGradients" in c)
        ? { ...c, lazyZeroGradients: false }
        : c,
    validateConfig: (c) => validateConfig(c as HrnnConfig),
    validate: (mp, c, where) => validateMetaParams(mp, c as HrnnConfig, where),
    count: (c) => countMetaParams(c as HrnnConfig),
    order: (c) => metaParamSpecs(c as HrnnConfig),
  },
  "l2l-lstm": {
    validateConfig: (c) => validateL2lLstmConfig(c as L2lLstmConfig),
    validate: (mp, c, where) => checkAgainstSpecs(mp, l2lLstmSpecs(c as L2lLstmConfig), `L2L LSTM ${where}`),
    count: (c) => countSpecs(l2lLstmSpecs(c as L2lLstmConfig)),
    order: (c) => l2lLstmSpecs(c as L2lLstmConfig),
  },
  crnn: {
    validateConfig: (c) => validateCrnnConfig(c as CrnnConfig),
    validate: (mp, c, where) => checkAgainstSpecs(mp, crnnSpecs(c as CrnnConfig), `cRNN ${where}`),
    count: (c) => countSpecs(crnnSpecs(c as CrnnConfig)),
    order: (c) => crnnSpecs(c as CrnnConfig),
  },
};

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Where a set of weights came from. All fields but `createdAt` are optional. */
export interface WeightsProvenance {
  /** ISO-8601 creation time (filled in by {@link encodeWeights} when absent). */
  createdAt?: string;
  /** Pipeline profile that produced the weights (e.g. `smoke`, `paper`). */
  profile?: string;
  /** Resolved params of the producing stage. */
  params?: { [key: string]: JsonValue };
  /** Cache key of the producing stage run. */
  cacheKey?: string;
  /** Git commit of the code that produced them. */
  gitCommit?: string;
  /**
   * Summary of the meta-training curve, e.g. `{ metaSteps, problems, metaLossFirst, metaLossLast, metaLossMin,
   * wallSeconds, curve: [[step, loss], …] (downsampled) }`.
   */
  metaTraining?: { [key: string]: JsonValue };
  /** True when produced from stand-in data or a stand-in procedure; say which in `notes`. */
  standIn?: boolean;
  /** Free text. */
  notes?: string;
}

/** One entry of the tensor table. */
export interface WeightsTensorEntry {
  /** Meta-parameter name. */
  name: string;
  /** Shape. */
  shape: number[];
  /** Offset in float32 elements from the start of the data block. */
  offset: number;
  /** Number of float32 elements. */
  length: number;
}

/** The JSON header of a weights file. */
export interface WeightsHeader {
  /** Always {@link WEIGHTS_FORMAT}. */
  format: string;
  /** Format version ({@link WEIGHTS_VERSION}, or {@link WEIGHTS_VERSION_NAMED} for other optimizers). */
  version: number;
  /** Which learned optimizer (version 3 only; versions 1 and 2 are HRNN weights). */
  optimizer?: LearnedKind;
  /** Optimizer configuration the weights belong to. */
  config: LearnedConfig;
  /** Tensor table. */
  tensors: WeightsTensorEntry[];
  /** Total number of scalar meta-parameters. */
  paramCount: number;
  /** Provenance. */
  provenance: WeightsProvenance;
}

/** The optimizer kind and its config, as a file holds them. */
export type KindAndConfig =
  | { optimizer: "hrnn"; config: HrnnConfig }
  | { optimizer: "l2l-lstm"; config: L2lLstmConfig }
  | { optimizer: "crnn"; config: CrnnConfig };

/** What {@link loadWeights} / {@link decodeWeights} return. The caller owns the tensors. */
export type LoadedWeights = KindAndConfig & {
  /** Meta-parameters by name. */
  metaParams: MetaParams;
  /** Their provenance. */
  provenance: WeightsProvenance;
  /** The whole header as read. */
  header: WeightsHeader;
};

/**
 * Serialises meta-parameters, config and provenance to the weights-file bytes. Validates shapes first.
 * `optimizer` says which learned optimizer they belong to (default `hrnn`).
 *
 * @example
 * ```ts
 * const bytes = encodeWeights(mp, makeHrnnConfig(), { profile: "smoke" });
 * const lstm = encodeWeights(lstmMp, L2L_LSTM_PAPER, {}, "l2l-lstm");
 * ```
 */
export function encodeWeights(
  metaParams: MetaParams,
  config: LearnedConfig,
  provenance: WeightsProvenance = {},
  optimizer: LearnedKind = "hrnn",
): Uint8Array {
  const kind = KIND_CHECKS[optimizer];
  if (!kind) {
    throw new Error(
      `unknown learned optimizer ${JSON.stringify(optimizer)}; known: ${LEARNED_KINDS.join(", ")}`,
    );
  }
  kind.validateConfig(config);
  kind.validate(metaParams, config, "meta-parameters");
  const specs = kind.order(config);
  const tensors: WeightsTensorEntry[] = [];
  let offset = 0;
  for (const s of specs) {
    const length = s.shape.reduce((a, b) => a * b, 1);
    tensors.push({ name: s.name, shape: [...s.shape], offset, length });
    offset += length;
  }
  const header: WeightsHeader = {
    format: WEIGHTS_FORMAT,
    version: optimizer === "hrnn" ? WEIGHTS_VERSION : WEIGHTS_VERSION_NAMED,
    ...(optimizer === "hrnn" ? {} : { optimizer }),
    config,
    tensors,
    paramCount: offset,
    provenance: { ...provenance, createdAt: provenance.createdAt ?? new Date().toISOString() },
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = Math.ceil((12 + headerBytes.length) / 4) * 4;
  const out = new Uint8Array(dataStart + 4 * offset + WEIGHTS_CHECKSUM_BYTES);
  out.set(new TextEncoder().encode(WEIGHTS_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  for (const e of tensors) {
    const values = metaParams[e.name].dataSync();
    if (!values.every(Number.isFinite)) {
      throw new Error(
        `refusing to write ${
          optimizer === "hrnn" ? "HRNN" : optimizer
        } weights: tensor ${e.name} contains NaN or infinite values (the training that ` +
          "produced them diverged).",
      );
    }
    for (let i = 0; i < e.length; i++) view.setFloat32(dataStart + 4 * (e.offset + i), values[i], true);
  }
  const end = out.length - WEIGHTS_CHECKSUM_BYTES;
  out.set(sha256(out.subarray(0, end)), end);
  return out;
}

/**
 * Parses weights-file bytes. Throws an Error naming `source` for: wrong magic, unreadable header, an unknown
 * format version, a wrong length, a checksum that does not match (version 2: any changed byte), an invalid
 * config, missing/unexpected/mis-shaped tensors, a truncated data block and non-finite values.
 *
 * @example
 * ```ts
 * const loaded = decodeWeights(await Deno.readFile("out/hrnn.weights"), "hrnn.weights");
 * loaded.optimizer; // "hrnn"; loaded.metaParams holds the tensors (the caller disposes them)
 * ```
 */
export function decodeWeights(bytes: Uint8Array, source = "weights file"): LoadedWeights {
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (bytes.length < 12 || magic !== WEIGHTS_MAGIC) {
    throw new Error(
      `${source} is not an HRNN weights file (it does not start with "${WEIGHTS_MAGIC}"). ` +
        `Pass a file written by saveWeights() (the meta-train artifact's hrnn.weights).`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) {
    throw new Error(
      `${source} is truncated: its header claims ${headerLength} bytes but the file has ${bytes.length}.`,
    );
  }
  let header: WeightsHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch (e) {
    throw new Error(`${source} has a corrupt JSON header (${(e as Error).message}).`);
  }
  if (header === null || typeof header !== "object" || header.format !== WEIGHTS_FORMAT) {
    throw new Error(`${source} has format ${JSON.stringify(header?.format)}, expected "${WEIGHTS_FORMAT}".`);
  }
  if (
    header.version !== 1 && header.version !== WEIGHTS_VERSION && header.version !== WEIGHTS_VERSION_NAMED
  ) {
    throw new Error(
      `${source} uses weights format version ${JSON.stringify(header.version)}; this lopt reads versions 1 ` +
        `to ${WEIGHTS_VERSION_NAMED}. Use the lopt version that wrote it, or re-run meta-training to produce a new file.`,
    );
  }
  const optimizer: LearnedKind = header.version === WEIGHTS_VERSION_NAMED
    ? header.optimizer as LearnedKind
    : "hrnn";
  const kind = KIND_CHECKS[optimizer];
  if (
    !LEARNED_KINDS.includes(optimizer) || !kind ||
    (header.version !== WEIGHTS_VERSION_NAMED && header.optimizer !== undefined)
  ) {
    throw new Error(
      `${source} names learned optimizer ${
        JSON.stringify(header.optimizer)
      } (format version ${header.version}); ` +
        `this lopt knows ${
          LEARNED_KINDS.join(", ")
        } (version 3 files name one, older ones are HRNN weights).`,
    );
  }
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  let dataEnd = bytes.length;
  if (header.version >= WEIGHTS_VERSION) {
    if (!Number.isSafeInteger(header.paramCount) || header.paramCount < 0) {
      throw new Error(`${source} has a malformed header: paramCount ${JSON.stringify(header.paramCount)}.`);
    }
    const expected = dataStart + 4 * Number(header.paramCount) + WEIGHTS_CHECKSUM_BYTES;
    if (bytes.length !== expected) {
      throw new Error(
        `${source} is ${
          bytes.length < expected ? "truncated" : "too long"
        }: its header describes ${expected} ` +
          `bytes, the file has ${bytes.length}. Re-run meta-training (--force meta-train) to rebuild it.`,
      );
    }
    dataEnd = bytes.length - WEIGHTS_CHECKSUM_BYTES;
    const stored = bytes.subarray(dataEnd);
    const actual = sha256(bytes.subarray(0, dataEnd));
    if (!actual.every((b, i) => b === stored[i])) {
      throw new Error(
        `${source} is damaged or was edited: the SHA-256 of its contents does not match the checksum at its ` +
          "end. Re-run meta-training (--force meta-train) to rebuild it.",
      );
    }
  }
  if (kind.withDefaults) header.config = kind.withDefaults(header.config) as LearnedConfig;
  try {
    kind.validateConfig(header.config);
  } catch (e) {
    throw new Error(`${source} holds an invalid config: ${(e as Error).message}`);
  }
  if (!Array.isArray(header.tensors)) throw new Error(`${source} has no tensor table in its header.`);
  const available = Math.max(0, Math.floor((dataEnd - dataStart) / 4));
  const metaParams: MetaParams = {};
  try {
    for (const e of header.tensors) {
      const size = Array.isArray(e.shape) ? e.shape.reduce((a, b) => a * b, 1) : NaN;
      if (typeof e.name !== "string" || size !== e.length || !Number.isInteger(e.offset) || e.offset < 0) {
        throw new Error(`${source} has a malformed tensor-table entry ${JSON.stringify(e)}.`);
      }
      if (e.offset + e.length > available) {
        throw new Error(
          `${source} is truncated: tensor ${e.name} needs floats up to ${
            e.offset + e.length
          }, the data block has ${available}.`,
        );
      }
      const values = new Float32Array(e.length);
      for (let i = 0; i < e.length; i++) values[i] = view.getFloat32(dataStart + 4 * (e.offset + i), true);
      if (!values.every(Number.isFinite)) {
        throw new Error(`${source}: tensor ${e.name} contains NaN or infinite values.`);
      }
      if (e.name in metaParams) throw new Error(`${source} lists tensor ${e.name} twice.`);
      metaParams[e.name] = tf.tensor(values, e.shape, "float32");
    }
    kind.validate(metaParams, header.config, `weights in ${source}`);
    if (header.paramCount !== kind.count(header.config)) {
      throw new Error(
        `${source} claims ${header.paramCount} parameters; its config has ${kind.count(header.config)}.`,
      );
    }
  } catch (e) {
    tf.dispose(Object.values(metaParams));
    throw e;
  }
  return {
    optimizer,
    config: header.config,
    metaParams,
    provenance: header.provenance ?? {},
    header,
  } as LoadedWeights;
}

/**
 * Writes a weights file (atomically: a temporary file in the same folder, then a rename). Needs
 * `--allow-write`.
 *
 * @example
 * ```ts
 * await saveWeights("out/hrnn.weights", metaParams, makeHrnnConfig(), { profile: "paper" });
 * ```
 */
export async function saveWeights(
  path: string,
  metaParams: MetaParams,
  config: LearnedConfig,
  provenance: WeightsProvenance = {},
  optimizer: LearnedKind = "hrnn",
): Promise<void> {
  const bytes = encodeWeights(metaParams, config, provenance, optimizer);
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/**
 * Reads a weights file written by {@link saveWeights}; errors as {@link decodeWeights}, and one line for a
 * path that is missing, a directory or unreadable. Needs `--allow-read`.
 *
 * @example
 * ```ts
 * const { metaParams, config, provenance } = await loadWeights("out/hrnn.weights");
 * ```
 */
export async function loadWeights(path: string): Promise<LoadedWeights> {
  let bytes: Uint8Array;
  try {
    if ((await Deno.stat(path)).isDirectory) {
      throw new Error(
        `HRNN weights file ${path} is a directory, not a file. Pass the weights file itself (the meta-train ` +
          "artifact's hrnn.weights).",
      );
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `HRNN weights file ${path} does not exist. Run meta-training first (deno task pipeline meta-train), ` +
          "or pass the path of a meta-train artifact's hrnn.weights.",
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new Error(`HRNN weights file ${path} cannot be read (${e.message}); check its permissions.`);
    }
    throw e;
  }
  return decodeWeights(bytes, `weights file ${path}`);
}
