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
 * 6. (format version 2) 32 bytes: the SHA-256 of every byte before it.
 *
 * Version 1 files (no checksum) are still read; {@link saveWeights} writes version 2.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2";
import { type HrnnConfig, validateConfig } from "./config.ts";
import { countMetaParams, type MetaParams, metaParamSpecs, validateMetaParams } from "./meta_params.ts";

/** Magic bytes at the start of every weights file. */
export const WEIGHTS_MAGIC = "LOPTHRNN";
/** The `format` field of the header. */
export const WEIGHTS_FORMAT = "lopt-hrnn-weights";
/** The format version this code writes (it also reads version 1, which has no checksum). */
export const WEIGHTS_VERSION = 2;
/** Bytes of the SHA-256 checksum that ends a version-2 file. */
export const WEIGHTS_CHECKSUM_BYTES = 32;

// A pure-JavaScript SHA-256 (not node:crypto) so that decoding works in browsers too; it is synchronous, which
// WebCrypto's `digest` is not.
function sha256(bytes: Uint8Array): Uint8Array {
  return nobleSha256(bytes);
}

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
  /** Format version ({@link WEIGHTS_VERSION}). */
  version: number;
  /** Optimizer configuration the weights belong to. */
  config: HrnnConfig;
  /** Tensor table. */
  tensors: WeightsTensorEntry[];
  /** Total number of scalar meta-parameters. */
  paramCount: number;
  /** Provenance. */
  provenance: WeightsProvenance;
}

/** What {@link loadWeights} / {@link decodeWeights} return. The caller owns the tensors. */
export interface LoadedWeights {
  /** Meta-parameters by name. */
  metaParams: MetaParams;
  /** Their config. */
  config: HrnnConfig;
  /** Their provenance. */
  provenance: WeightsProvenance;
  /** The whole header as read. */
  header: WeightsHeader;
}

/** Serialises meta-parameters, config and provenance to the weights-file bytes. Validates shapes first. */
export function encodeWeights(
  metaParams: MetaParams,
  config: HrnnConfig,
  provenance: WeightsProvenance = {},
): Uint8Array {
  validateConfig(config);
  validateMetaParams(metaParams, config);
  const specs = metaParamSpecs(config);
  const tensors: WeightsTensorEntry[] = [];
  let offset = 0;
  for (const s of specs) {
    const length = s.shape.reduce((a, b) => a * b, 1);
    tensors.push({ name: s.name, shape: [...s.shape], offset, length });
    offset += length;
  }
  const header: WeightsHeader = {
    format: WEIGHTS_FORMAT,
    version: WEIGHTS_VERSION,
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
        `refusing to write HRNN weights: tensor ${e.name} contains NaN or infinite values (the training that ` +
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
  if (header.version !== 1 && header.version !== WEIGHTS_VERSION) {
    throw new Error(
      `${source} uses weights format version ${JSON.stringify(header.version)}; this lopt reads versions 1 ` +
        `and ${WEIGHTS_VERSION}. Use the lopt version that wrote it, or re-run meta-training to produce a new file.`,
    );
  }
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  let dataEnd = bytes.length;
  if (header.version >= 2) {
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
  try {
    validateConfig(header.config);
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
    validateMetaParams(metaParams, header.config, `weights in ${source}`);
    if (header.paramCount !== countMetaParams(header.config)) {
      throw new Error(
        `${source} claims ${header.paramCount} parameters; its config has ${countMetaParams(header.config)}.`,
      );
    }
  } catch (e) {
    tf.dispose(Object.values(metaParams));
    throw e;
  }
  return { metaParams, config: header.config, provenance: header.provenance ?? {}, header };
}

/**
 * Writes a weights file (atomically: a temporary file in the same folder, then a rename). Needs
 * `--allow-write`.
 */
export async function saveWeights(
  path: string,
  metaParams: MetaParams,
  config: HrnnConfig,
  provenance: WeightsProvenance = {},
): Promise<void> {
  const bytes = encodeWeights(metaParams, config, provenance);
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/**
 * Reads a weights file written by {@link saveWeights}; errors as {@link decodeWeights}, and one line for a
 * path that is missing, a directory or unreadable. Needs `--allow-read`.
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
