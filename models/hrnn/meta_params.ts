/**
 * Meta-parameters of the hierarchical RNN optimizer (README.md §4.3): names, shapes, seeded
 * initialisation and validation.
 *
 * The meta-parameters are a flat map name → tensor ({@link MetaParams}), so a meta-optimizer can
 * differentiate w.r.t. `Object.values(...)` in the order of {@link metaParamSpecs}. Parameters of switched-off
 * features are absent; the optimizer then uses the reference's constant fallbacks (see `ops_update.ts`). Names and
 * their reference scopes:
 *
 * | name | reference | shape (paper config) |
 * |---|---|---|
 * | `init/level{0,1,2}` | init_vector L0/L1/L2 | [1,10] [1,20] [1,20] |
 * | `gru{l}/gates_w`, `gru{l}/gates_b` | level-l BiasGRUCell gate affine | [D+N, 2N], [2N] |
 * | `gru{l}/cand_w`, `gru{l}/cand_b` | level-l BiasGRUCell candidate affine | [D+N, N], [N] |
 * | `bias0/from_level1_w`, `_b` | "Param/Affine" (tensor state → L0 bias) | [20,30], [30] |
 * | `bias0/from_level2_w`, `_b` | "Global/Affine" (global state → L0 bias) | [20,30], [30] |
 * | `bias1/from_level2_w`, `_b` | L1 bias affine (global state → L1 bias) | [20,60], [60] |
 * | `readout/update_w` | update_weights w_u | [10,1] |
 * | `readout/attention_w` | attention_weights w_a (attention only) | [10,1] |
 * | `readout/scl_decay_w`, `_b` | scl_decay_weights / bias | [10,1], [1] |
 * | `readout/inp_decay_w`, `_b` | inp_decay_weights / bias | [10,1], [1] |
 * | `readout/lr_w`, `readout/lr_b` | learning_rate_weights / bias | [10,1], [1] |
 * | `lr_momentum_logit` | learning_rate_momentum_logit c_m | [] |
 * | `step_offset` | param_stepsize_offset c_off | [] |
 * | `shortcut/update` | "GradsToDelta" W_gs | [K,1] |
 * | `shortcut/attention` | "GradsToAttnDelta" (attention + shortcut only) | [K,1] |
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../lib/rng.ts";
import { type HrnnConfig, inpDecayLearned, level1InputSize, numFeatures, validateConfig } from "./config.ts";

/** The learned weights of the optimizer: a flat map from name to tensor. */
export type MetaParams = Record<string, tf.Tensor>;

/** How one meta-parameter is initialised. */
export type MetaParamInit =
  | { kind: "normal"; mean: number; std: number }
  | { kind: "uniform"; lo: number; hi: number }
  | { kind: "constant"; value: number }
  | { kind: "copy"; of: string };

/** Name, shape and initialisation of one meta-parameter. */
export interface MetaParamSpec {
  /** Name in the {@link MetaParams} map. */
  name: string;
  /** Tensor shape. */
  shape: number[];
  /** Initial distribution. */
  init: MetaParamInit;
}

function gruSpecs(prefix: string, inputSize: number, units: number, config: HrnnConfig): MetaParamSpec[] {
  const std = config.gruScale / Math.sqrt(inputSize + units);
  return [
    {
      name: `${prefix}/gates_w`,
      shape: [inputSize + units, 2 * units],
      init: { kind: "normal", mean: 0, std },
    },
    {
      name: `${prefix}/gates_b`,
      shape: [2 * units],
      init: { kind: "constant", value: config.gruGateBiasInit },
    },
    { name: `${prefix}/cand_w`, shape: [inputSize + units, units], init: { kind: "normal", mean: 0, std } },
    { name: `${prefix}/cand_b`, shape: [units], init: { kind: "constant", value: 0 } },
  ];
}

function affineSpecs(prefix: string, inSize: number, outSize: number, config: HrnnConfig): MetaParamSpec[] {
  return [
    {
      name: `${prefix}_w`,
      shape: [inSize, outSize],
      init: { kind: "normal", mean: 0, std: config.affineScale / Math.sqrt(inSize) },
    },
    { name: `${prefix}_b`, shape: [outSize], init: { kind: "constant", value: 0 } },
  ];
}

/**
 * The meta-parameters of a configuration in a fixed order (the order of {@link createMetaParams}' map).
 *
 * @example
 * ```ts
 * metaParamSpecs(makeHrnnConfig())[0]; // { name: "init/level0", shape: [1, 10], init: { kind: "uniform", ... } }
 * ```
 */
export function metaParamSpecs(config: HrnnConfig): MetaParamSpec[] {
  validateConfig(config);
  const sizes = config.levelSizes;
  const levels = sizes.length;
  const n0 = sizes[0];
  const k = config.numGradientScales;
  const specs: MetaParamSpec[] = [];
  if (config.learnableRnnInit) {
    sizes.forEach((s, i) =>
      specs.push({ name: `init/level${i}`, shape: [1, s], init: { kind: "uniform", lo: -1, hi: 1 } })
    );
  }
  specs.push(...gruSpecs("gru0", numFeatures(config), n0, config));
  if (levels >= 2) specs.push(...gruSpecs("gru1", level1InputSize(config), sizes[1], config));
  if (levels >= 3) specs.push(...gruSpecs("gru2", sizes[1], sizes[2], config));
  if (levels >= 2) specs.push(...affineSpecs("bias0/from_level1", sizes[1], 3 * n0, config));
  if (levels >= 3) {
    specs.push(...affineSpecs("bias0/from_level2", sizes[2], 3 * n0, config));
    specs.push(...affineSpecs("bias1/from_level2", sizes[2], 3 * sizes[1], config));
  }
  const readout: MetaParamInit = { kind: "normal", mean: 0, std: config.readoutScale / Math.sqrt(n0) };
  specs.push({ name: "readout/update_w", shape: [n0, 1], init: readout });
  if (config.useAttention) {
    specs.push({
      name: "readout/attention_w",
      shape: [n0, 1],
      init: { kind: "copy", of: "readout/update_w" },
    });
  }
  if (config.learnableDecay) {
    specs.push({ name: "readout/scl_decay_w", shape: [n0, 1], init: readout });
    specs.push({
      name: "readout/scl_decay_b",
      shape: [1],
      init: { kind: "constant", value: config.sclDecayBiasInit },
    });
  }
  if (inpDecayLearned(config)) {
    specs.push({ name: "readout/inp_decay_w", shape: [n0, 1], init: readout });
    specs.push({
      name: "readout/inp_decay_b",
      shape: [1],
      init: { kind: "constant", value: config.inpDecayBiasInit },
    });
  }
  if (config.dynamicOutputScale) {
    specs.push({
      name: "readout/lr_w",
      shape: [n0, 1],
      init: config.zeroInitLrWeights ? { kind: "constant", value: 0 } : readout,
    });
    specs.push({ name: "readout/lr_b", shape: [1], init: { kind: "constant", value: 0 } });
    specs.push({
      name: "lr_momentum_logit",
      shape: [],
      init: { kind: "constant", value: config.lrMomentumLogitInit },
    });
    specs.push({ name: "step_offset", shape: [], init: { kind: "constant", value: config.stepOffsetInit } });
  }
  if (config.useGradientShortcut) {
    const sc: MetaParamInit = { kind: "normal", mean: 1 / k, std: config.gradShortcutScale / Math.sqrt(k) };
    specs.push({ name: "shortcut/update", shape: [k, 1], init: sc });
    if (config.useAttention) specs.push({ name: "shortcut/attention", shape: [k, 1], init: sc });
  }
  return specs;
}

/**
 * Expected shape of every meta-parameter of a configuration.
 *
 * @example
 * ```ts
 * metaParamShapes(makeHrnnConfig())["readout/update_w"]; // [10, 1]
 * ```
 */
export function metaParamShapes(config: HrnnConfig): Record<string, number[]> {
  return Object.fromEntries(metaParamSpecs(config).map((s) => [s.name, s.shape]));
}

/**
 * Number of scalar meta-parameters of a configuration (8,349 for the paper config).
 *
 * @example
 * ```ts
 * countMetaParams(makeHrnnConfig()); // 8349
 * ```
 */
export function countMetaParams(config: HrnnConfig): number {
  return metaParamSpecs(config).reduce((acc, s) => acc + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Creates freshly initialised meta-parameters (§4.3). Each tensor is drawn from its own stream
 * `rng.fork(name)`, so a seed fixes every value and adding a parameter does not shift the others.
 * `readout/attention_w` starts as a copy of `readout/update_w`. The caller owns the returned tensors.
 *
 * @example
 * ```ts
 * const meta = createMetaParams(makeHrnnConfig(), 0); // the same values for the same seed
 * ```
 */
export function createMetaParams(config: HrnnConfig, seed: number | Rng): MetaParams {
  const rng = typeof seed === "number" ? new Rng(seed) : seed;
  const specs = metaParamSpecs(config);
  const values = new Map<string, Float32Array>();
  const out: MetaParams = {};
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    const init = s.init;
    if (init.kind === "normal") data = rng.fork(s.name).normalArray(size, init.mean, init.std);
    else if (init.kind === "uniform") data = rng.fork(s.name).uniformArray(size, init.lo, init.hi);
    else if (init.kind === "constant") data = new Float32Array(size).fill(init.value);
    else {
      const src = values.get(init.of);
      if (!src) {
        throw new Error(`HRNN meta-parameter ${s.name} copies ${init.of}, which is not defined before it.`);
      }
      data = src.slice();
    }
    values.set(s.name, data);
    out[s.name] = tf.tensor(data, s.shape, "float32");
  }
  return out;
}

/**
 * Checks that `params` holds exactly the meta-parameters of `config` with the right shapes; throws an Error
 * listing missing, unexpected and mis-shaped tensors. `where` names the source in the message.
 *
 * @example
 * ```ts
 * validateMetaParams(meta, makeHrnnConfig(), "weights file hrnn.weights"); // throws on a mismatch
 * ```
 */
export function validateMetaParams(params: MetaParams, config: HrnnConfig, where = "meta-parameters"): void {
  const shapes = metaParamShapes(config);
  const missing = Object.keys(shapes).filter((n) => !(n in params));
  const extra = Object.keys(params).filter((n) => !(n in shapes));
  const wrong = Object.keys(shapes).filter((n) =>
    n in params &&
    (params[n].shape.length !== shapes[n].length || params[n].shape.some((d, i) => d !== shapes[n][i]))
  );
  const problems: string[] = [];
  if (missing.length) problems.push(`missing tensor(s): ${missing.join(", ")}`);
  if (extra.length) problems.push(`tensor(s) not used by this config: ${extra.join(", ")}`);
  if (wrong.length) {
    problems.push(
      `wrong shape(s): ${
        wrong.map((n) => `${n} is [${params[n].shape.join(",")}], expected [${shapes[n].join(",")}]`).join(
          "; ",
        )
      }`,
    );
  }
  if (problems.length) {
    throw new Error(
      `HRNN ${where} do not match the config: ${problems.join("; ")}. ` +
        `Use the config the weights were trained with, or create weights for this config with createMetaParams().`,
    );
  }
  for (const n of Object.keys(shapes)) {
    if (params[n].dtype !== "float32") {
      throw new Error(`HRNN ${where}: ${n} has dtype ${params[n].dtype}, expected float32.`);
    }
  }
}

/**
 * The meta-parameter tensors in {@link metaParamSpecs} order (for `tf.grads` over a list).
 *
 * @example
 * ```ts
 * const list = metaParamList(meta, config);
 * const grads = tf.grads((...xs: tf.Tensor[]) => loss(metaParamsFromList(xs, config)))(list);
 * ```
 */
export function metaParamList(params: MetaParams, config: HrnnConfig): tf.Tensor[] {
  return metaParamSpecs(config).map((s) => params[s.name]);
}

/**
 * Rebuilds a {@link MetaParams} map from tensors in {@link metaParamSpecs} order.
 *
 * @example
 * ```ts
 * const gradMap = metaParamsFromList(grads, config); // name → gradient of that meta-parameter
 * ```
 */
export function metaParamsFromList(list: tf.Tensor[], config: HrnnConfig): MetaParams {
  const specs = metaParamSpecs(config);
  if (list.length !== specs.length) {
    throw new Error(
      `HRNN expects ${specs.length} meta-parameter tensors for this config, got ${list.length}.`,
    );
  }
  return Object.fromEntries(specs.map((s, i) => [s.name, list[i]]));
}

/**
 * Disposes every tensor of a {@link MetaParams} map.
 *
 * @example
 * ```ts
 * disposeMetaParams(meta);
 * ```
 */
export function disposeMetaParams(params: MetaParams): void {
  for (const t of Object.values(params)) t.dispose();
}
