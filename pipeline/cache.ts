/**
 * Cache keys: a stage's artifact key is the sha256 of the canonical JSON of its name, version, resolved
 * params, the keys of its inputs and the content hashes of its code dependencies, so equal inputs give equal keys on every machine.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Params } from "./stage.ts";

/**
 * JSON with object keys sorted at every level (undefined members dropped), so equal values serialize equally.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }); // '{"a":[2,{"c":4,"d":3}],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * Hex sha256 of a string or bytes.
 *
 * @example
 * ```ts
 * sha256Hex("abc"); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What determines a stage's artifact. */
export interface KeyInput {
  stage: string;
  version: string;
  params: Params;
  /** Artifact keys of the stage's deps, by dep name. */
  inputs: Record<string, string>;
  /** Content hashes of the stage's code dependencies by path (absent when it declares none). */
  code?: Record<string, string>;
}

/**
 * The artifact key: first 16 hex chars of sha256(canonicalJson({stage, version, params, inputs, code})); a
 * stage without code dependencies has no `code` member, so its key does not depend on them.
 *
 * @example
 * ```ts
 * computeKey({ stage: "meta-train", version: "3", params: { seed: 0 }, inputs: {} }); // "823d3d9a0b2614c6"
 * ```
 */
export function computeKey(k: KeyInput): string {
  const { stage, version, params, inputs, code } = k;
  return sha256Hex(canonicalJson({ stage, version, params, inputs, code })).slice(0, 16);
}
