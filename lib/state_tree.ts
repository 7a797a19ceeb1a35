/**
 * The one module of helpers over optimizer-state trees ({@link OptState}: nested arrays/objects of tensors and
 * numbers): walking, flattening with paths, keeping, disposing, zeroing, and a bit-exact JSON encoding for
 * checkpoints. It sits on the floor (`lib/`), so both `models/` and `tasks/` may use it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { OptState } from "./optimizer.ts";

/**
 * Applies `fn` to every tensor leaf of a state tree; numbers pass through `num` (identity by default).
 *
 * @example
 * ```ts
 * const halved = mapTree(state, (t) => tf.mul(t, 0.5));
 * ```
 */
export function mapTree(
  tree: OptState,
  fn: (t: tf.Tensor) => tf.Tensor,
  num: (n: number) => number = (n) => n,
): OptState {
  if (tree instanceof tf.Tensor) return fn(tree);
  if (typeof tree === "number") return num(tree);
  if (tree === null || tree === undefined) return tree; // an absent optional part of a state
  if (Array.isArray(tree)) return tree.map((x) => mapTree(x, fn, num));
  const out: { [key: string]: OptState } = {};
  for (const k of Object.keys(tree)) out[k] = mapTree(tree[k], fn, num);
  return out;
}

/**
 * All tensor leaves of a state tree, in a deterministic order.
 *
 * @example
 * ```ts
 * const n = treeTensors(state).length;
 * ```
 */
export function treeTensors(tree: OptState): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  mapTree(tree, (t) => {
    out.push(t);
    return t;
  });
  return out;
}

/**
 * Disposes the tensors of `old` (a state tree or tensor list) that do not also appear in any of `keep` (each
 * once), so a new state or parameter list that reuses some old tensors stays valid.
 *
 * @example
 * ```ts
 * disposeReplaced(state, next); // frees what `next` no longer holds
 * state = next;
 * ```
 */
export function disposeReplaced(old: OptState, ...keep: OptState[]): void {
  const kept = new Set<number>();
  for (const k of keep) for (const t of treeTensors(k)) kept.add(t.id);
  for (const t of treeTensors(old)) {
    if (!kept.has(t.id) && !t.isDisposed) {
      kept.add(t.id); // a tensor listed twice is disposed once
      t.dispose();
    }
  }
}

/**
 * Every leaf (tensor or number) of a state tree with its path: keys and indices joined by `/`, in the same
 * order as {@link treeTensors}.
 *
 * @example
 * ```ts
 * treeLeaves({ m: [t0, t1], step: 3 }); // [["m/0", t0], ["m/1", t1], ["step", 3]]
 * ```
 */
export function treeLeaves(tree: OptState, prefix = ""): [string, tf.Tensor | number][] {
  if (tree instanceof tf.Tensor || typeof tree === "number") return [[prefix, tree]];
  const sep = prefix === "" ? "" : "/";
  const entries: [string, OptState][] = Array.isArray(tree)
    ? tree.map((v, i) => [String(i), v])
    : Object.entries(tree);
  return entries.flatMap(([k, v]) => treeLeaves(v, `${prefix}${sep}${k}`));
}

/**
 * A copy of the tree whose tensors are fresh clones marked `tf.keep` (they survive the enclosing tidy).
 *
 * @example
 * ```ts
 * const carry = keepTree(state); // survives the enclosing tf.tidy
 * ```
 */
export function keepTree(tree: OptState): OptState {
  return mapTree(tree, (t) => tf.keep(t.clone()));
}

/**
 * Disposes every tensor of the tree.
 *
 * @example
 * ```ts
 * disposeTree(oldState);
 * ```
 */
export function disposeTree(tree: OptState | null | undefined): void {
  if (tree == null) return;
  for (const t of treeTensors(tree)) t.dispose();
}

/**
 * The same tree with every tensor replaced by zeros and every number by 0 (the "zero-filled local variables").
 *
 * @example
 * ```ts
 * const zeros = zeroTree(state);
 * ```
 */
export function zeroTree(tree: OptState): OptState {
  return mapTree(tree, (t) => tf.zerosLike(t), () => 0);
}

/** JSON-safe encoding of a tensor: shape, dtype and the raw little-endian bytes in base64 (bit-exact). */
export interface EncodedTensor {
  /** Tensor shape. */
  shape: number[];
  /** Tensor dtype (`float32` or `int32`). */
  dtype: "float32" | "int32";
  /** Base64 of the element buffer. */
  b64: string;
}

/**
 * Encodes a tensor bit-exactly (synchronous read).
 *
 * @example
 * ```ts
 * const e = encodeTensor(tf.tensor1d([1, 2])); // { shape: [2], dtype: "float32", b64: "..." }
 * ```
 */
export function encodeTensor(t: tf.Tensor): EncodedTensor {
  if (t.dtype !== "float32" && t.dtype !== "int32") {
    throw new Error(`cannot checkpoint a tensor of dtype ${t.dtype}; only float32 and int32 are supported`);
  }
  const data = t.dataSync() as Float32Array | Int32Array;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return { shape: [...t.shape], dtype: t.dtype, b64: btoa(s) };
}

/**
 * Decodes an {@link EncodedTensor} into a new tensor.
 *
 * @example
 * ```ts
 * const t = decodeTensor(encodeTensor(x)); // the same bits as x
 * ```
 */
export function decodeTensor(e: EncodedTensor): tf.Tensor {
  const bin = atob(e.b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const data = e.dtype === "int32" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
  return tf.tensor(data, e.shape, e.dtype);
}

/** JSON form of an {@link OptState} tree. */
export type EncodedTree =
  | { t: EncodedTensor }
  | { n: number | string }
  | { a: EncodedTree[] }
  | { o: { [key: string]: EncodedTree } };

/**
 * Encodes a state tree (tensors bit-exact, non-finite numbers as strings).
 *
 * @example
 * ```ts
 * const json = JSON.stringify(encodeTree(state));
 * ```
 */
export function encodeTree(tree: OptState): EncodedTree {
  if (tree instanceof tf.Tensor) return { t: encodeTensor(tree) };
  if (typeof tree === "number") return { n: Number.isFinite(tree) ? tree : String(tree) };
  if (Array.isArray(tree)) return { a: tree.map(encodeTree) };
  const o: { [key: string]: EncodedTree } = {};
  for (const k of Object.keys(tree)) o[k] = encodeTree(tree[k]);
  return { o };
}

/**
 * Decodes {@link encodeTree} output into new tensors.
 *
 * @example
 * ```ts
 * const state = decodeTree(JSON.parse(json));
 * ```
 */
export function decodeTree(e: EncodedTree): OptState {
  if ("t" in e) return decodeTensor(e.t);
  if ("n" in e) return typeof e.n === "number" ? e.n : Number(e.n);
  if ("a" in e) return e.a.map(decodeTree);
  const out: { [key: string]: OptState } = {};
  for (const k of Object.keys(e.o)) out[k] = decodeTree(e.o[k]);
  return out;
}

/**
 * Encodes a name → tensor map.
 *
 * @example
 * ```ts
 * const json = JSON.stringify(encodeTensorMap(metaParams));
 * ```
 */
export function encodeTensorMap(m: Record<string, tf.Tensor>): Record<string, EncodedTensor> {
  const out: Record<string, EncodedTensor> = {};
  for (const k of Object.keys(m).sort()) out[k] = encodeTensor(m[k]);
  return out;
}

/**
 * Decodes {@link encodeTensorMap} output.
 *
 * @example
 * ```ts
 * const metaParams = decodeTensorMap(JSON.parse(json));
 * ```
 */
export function decodeTensorMap(m: Record<string, EncodedTensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const k of Object.keys(m).sort()) out[k] = decodeTensor(m[k]);
  return out;
}
