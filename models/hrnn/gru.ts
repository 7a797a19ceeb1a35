/**
 * The BiasGRUCell of the reference (README.md §3) as pure functions of (weights, input, state,
 * external bias).
 *
 * r = σ([x, h]·W_g[:, :N] + c_g[:N] + b_r), u = σ([x, h]·W_g[:, N:] + c_g[N:] + b_u),
 * c̃ = tanh([x, r⊙h]·W_c + c_c + b_c), h' = u⊙h + (1 − u)⊙c̃ (u weighs the OLD state).
 *
 * Two formulations compute the same cell (rows = batch items, as in the reference):
 * - {@link biasGruCell}: literal transcription (concat [x, h], one gate matmul, slice); used for the tiny
 *   tensor and global RNNs.
 * - {@link biasGruCellBatched}: for the per-coordinate RNN over n rows. The stored matrices are split once per
 *   step by {@link prepareBatchedGru} into per-gate input and state blocks, so each parameter tensor costs six
 *   plain matmuls whose large operand is on the left (fast on wasm; a large right operand is re-packed on
 *   every call), with no axis-1 concat/slice over n rows (a per-row JavaScript loop on wasm) and no `Tanh`
 *   kernel (10× slower than `Sigmoid` on wasm).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matMul, matMulBias } from "./ops.ts";

/** Stored weights of one BiasGRUCell, shapes as in the paper's code (design §3, §4.3). */
export interface GruWeights {
  /** Gate matrix W_g, [D + N, 2N]: reset-gate columns first, update-gate columns second. */
  gatesW: tf.Tensor;
  /** Gate bias c_g, [2N]. */
  gatesB: tf.Tensor;
  /** Candidate matrix W_c, [D + N, N]. */
  candW: tf.Tensor;
  /** Candidate bias c_c, [N]. */
  candB: tf.Tensor;
}

/**
 * Number of units N of a cell.
 *
 * @example
 * ```ts
 * gruUnits(levelGruWeights(createMetaParams(makeHrnnConfig(), 0), 1)); // 20: the paper's tensor RNN
 * ```
 */
export function gruUnits(w: GruWeights): number {
  return w.candW.shape[1] as number;
}

/**
 * One BiasGRUCell step in the reference's row layout. x: [B, D], h: [B, N], bias: [1, 3N] (b_r, b_u, b_c
 * blocks, broadcast over rows) or null for none. Returns h' [B, N].
 *
 * @example
 * ```ts
 * const h1 = biasGruCell(levelGruWeights(metaParams, 2), x, h0, null); // [B, 20]
 * ```
 */
export function biasGruCell(
  w: GruWeights,
  x: tf.Tensor2D,
  h: tf.Tensor2D,
  bias: tf.Tensor2D | null,
): tf.Tensor2D {
  const n = gruUnits(w);
  let gates = tf.add(tf.matMul(tf.concat([x, h], 1), w.gatesW as tf.Tensor2D), w.gatesB) as tf.Tensor2D;
  let candBias: tf.Tensor = w.candB;
  if (bias) {
    gates = tf.add(gates, tf.slice(bias, [0, 0], [1, 2 * n]));
    candBias = tf.add(candBias, tf.slice(bias, [0, 2 * n], [1, n]));
  }
  const b = x.shape[0];
  const r = tf.sigmoid(tf.slice(gates, [0, 0], [b, n]));
  const u = tf.sigmoid(tf.slice(gates, [0, n], [b, n]));
  const cand = tf.tanh(tf.add(tf.matMul(tf.concat([x, tf.mul(r, h)], 1), w.candW as tf.Tensor2D), candBias));
  return tf.add(tf.mul(u, h), tf.mul(tf.sub(1, u), cand)) as tf.Tensor2D;
}

/** A cell's weights split per gate for {@link biasGruCellBatched} (see {@link prepareBatchedGru}). */
export interface BatchedGru {
  /** Units N. */
  units: number;
  /** Input width D. */
  inputSize: number;
  /** Reset gate: input block [D, N] and state block [N, N] of W_g[:, :N]. */
  wrx: tf.Tensor2D;
  /** Reset gate, state block [N, N]. */
  wrh: tf.Tensor2D;
  /** Update gate: input block [D, N] of W_g[:, N:]. */
  wux: tf.Tensor2D;
  /** Update gate, state block [N, N]. */
  wuh: tf.Tensor2D;
  /** 2 × candidate input block [D, N] (the 2 feeds tanh(x) = 2σ(2x) − 1). */
  wcx2: tf.Tensor2D;
  /** 2 × candidate state block [N, N]. */
  wch2: tf.Tensor2D;
  /** Reset-gate learned bias c_g[:N], [N]. */
  br: tf.Tensor1D;
  /** Update-gate learned bias c_g[N:], [N]. */
  bu: tf.Tensor1D;
  /** 2 × candidate learned bias, [N]. */
  bc2: tf.Tensor1D;
}

/**
 * Splits a cell's stored weights into per-gate input and state blocks for {@link biasGruCellBatched}. Cheap
 * (weights are tiny) and differentiable, so call it inside the differentiated computation (once per step).
 *
 * @example
 * ```ts
 * const p = prepareBatchedGru(levelGruWeights(metaParams, 0)); // p.inputSize: F, p.units: N0
 * ```
 */
export function prepareBatchedGru(w: GruWeights): BatchedGru {
  const n = gruUnits(w);
  const d = (w.gatesW.shape[0] as number) - n;
  const gw = w.gatesW as tf.Tensor2D;
  const cw = w.candW as tf.Tensor2D;
  const gb = w.gatesB as tf.Tensor1D;
  return {
    units: n,
    inputSize: d,
    wrx: tf.slice(gw, [0, 0], [d, n]),
    wrh: tf.slice(gw, [d, 0], [n, n]),
    wux: tf.slice(gw, [0, n], [d, n]),
    wuh: tf.slice(gw, [d, n], [n, n]),
    wcx2: tf.mul(tf.slice(cw, [0, 0], [d, n]), 2),
    wch2: tf.mul(tf.slice(cw, [d, 0], [n, n]), 2),
    br: tf.slice(gb, [0], [n]),
    bu: tf.slice(gb, [n], [n]),
    bc2: tf.mul(w.candB, 2) as tf.Tensor1D,
  };
}

/**
 * One BiasGRUCell step over many rows (one per coordinate) at once: x [n, D], h [n, N], bias [1, 3N] shared by
 * all rows, or null. Returns h' [n, N]; equals {@link biasGruCell} up to float32 rounding. Each gate is two
 * plain matmuls (input block and state block) with the combined bias fused into the first, so no [n, ·]
 * matrix is ever concatenated or sliced along axis 1 (slow on wasm), and tanh is 2σ(2x) − 1.
 *
 * @example
 * ```ts
 * const h1 = biasGruCellBatched(prepareBatchedGru(levelGruWeights(metaParams, 0)), features, h0, bias0); // [n, N0]
 * ```
 */
export function biasGruCellBatched(
  p: BatchedGru,
  x: tf.Tensor2D,
  h: tf.Tensor2D,
  bias: tf.Tensor2D | null,
): tf.Tensor2D {
  const n = p.units;
  let br: tf.Tensor1D = p.br, bu: tf.Tensor1D = p.bu, bc2: tf.Tensor1D = p.bc2;
  if (bias) {
    const flat = bias.reshape([3 * n]) as tf.Tensor1D;
    br = tf.add(br, tf.slice(flat, [0], [n]));
    bu = tf.add(bu, tf.slice(flat, [n], [n]));
    bc2 = tf.add(bc2, tf.mul(tf.slice(flat, [2 * n], [n]), 2));
  }
  const r = tf.sigmoid(tf.add(matMulBias(x, p.wrx, br), matMul(h, p.wrh)));
  const u = tf.sigmoid(tf.add(matMulBias(x, p.wux, bu), matMul(h, p.wuh)));
  const pre = tf.add(matMulBias(x, p.wcx2, bc2), matMul(tf.mul(r, h) as tf.Tensor2D, p.wch2));
  const cand = tf.sub(tf.mul(tf.sigmoid(pre), 2), 1);
  // u⊙h + (1 − u)⊙c̃, written with one fewer full-size op.
  return tf.add(tf.mul(u, tf.sub(h, cand)), cand) as tf.Tensor2D;
}

/**
 * {@link biasGruCell} (the reference row form: one gate matmul on [x, h], one candidate matmul) with a
 * different external bias per group of rows: `member` [B, T] holds one-hot group-membership columns and
 * `rowBias` [T, 3N] the groups' biases (b_r, b_u, b_c blocks). The biases ride on the two matmuls as T extra
 * weight rows ([x, h, member]·[W_g; b_ru] and [x, r⊙h, member]·[W_c; b_c]). Few ops, but it concatenates
 * along axis 1 and slices the gate matrix, which is slow on wasm for many rows: used for blocks of small
 * tensors (≤ 8,192 rows). Equals {@link biasGruCell} on each group up to float32 rounding.
 *
 * @example
 * ```ts
 * const h1 = biasGruCellGroups(levelGruWeights(metaParams, 0), features, h0, seg.oneHot(), tensorBias); // [N, N0]
 * ```
 */
export function biasGruCellGroups(
  w: GruWeights,
  x: tf.Tensor2D,
  h: tf.Tensor2D,
  member: tf.Tensor2D,
  rowBias: tf.Tensor2D,
): tf.Tensor2D {
  const n = gruUnits(w);
  const t = rowBias.shape[0];
  const b = x.shape[0];
  const gatesW = tf.concat([w.gatesW as tf.Tensor2D, tf.slice(rowBias, [0, 0], [t, 2 * n])], 0);
  const candW = tf.concat([w.candW as tf.Tensor2D, tf.slice(rowBias, [0, 2 * n], [t, n])], 0);
  const gates = tf.add(tf.matMul(tf.concat([x, h, member], 1), gatesW), w.gatesB) as tf.Tensor2D;
  const r = tf.sigmoid(tf.slice(gates, [0, 0], [b, n]));
  const u = tf.sigmoid(tf.slice(gates, [0, n], [b, n]));
  const cand = tf.tanh(
    tf.add(tf.matMul(tf.concat([x, tf.mul(r, h) as tf.Tensor2D, member], 1), candW), w.candB),
  );
  return tf.add(tf.mul(u, h), tf.mul(tf.sub(1, u), cand)) as tf.Tensor2D;
}

/**
 * The weights of level `level`'s GRU (0 parameter, 1 tensor, 2 global) from a map of meta-parameters named
 * `gru<level>/gates_w`, `…/gates_b`, `…/cand_w`, `…/cand_b` (as `meta_params.ts` creates them).
 *
 * @example
 * ```ts
 * const w1 = levelGruWeights(metaParams, 1);
 * ```
 */
export function levelGruWeights(mp: Record<string, tf.Tensor>, level: number): GruWeights {
  return {
    gatesW: mp[`gru${level}/gates_w`],
    gatesB: mp[`gru${level}/gates_b`],
    candW: mp[`gru${level}/cand_w`],
    candB: mp[`gru${level}/cand_b`],
  };
}
