/**
 * The params and profiles of stage `imagenet-transfer` (declared here so the stage file is its deps, outs
 * and a call).
 *
 * @module
 */
import type { ParamSpec } from "../pipeline/stage.ts";
import { MAX_SEED } from "../lib/rng.ts";
import {
  type ImagenetTransferParams,
  NETWORKS,
  RESNET_DEPTHS,
  TRANSFER_OPTIMIZERS,
} from "../models/evaluation/imagenet_config.ts";

/** What is wrong with a ResNet depth param, or null. */
function checkResnetDepth(v: unknown): string | null {
  return RESNET_DEPTHS.includes(v as number) ? null : `no ResNet V2 of depth ${v}`;
}

/** What is wrong with an `imagenetDir` param (empty, or an existing folder), or null. */
function checkImagenetDir(v: unknown): string | null {
  if (v === "") return null;
  try {
    if (Deno.statSync(v as string).isDirectory) return null;
    return "not a folder";
  } catch (e) {
    return e instanceof Deno.errors.NotFound
      ? "no such folder (point it, or LOPT_IMAGENET_DIR, at an ILSVRC-2012 folder; empty: the stand-in)"
      : `cannot be read (${(e as Error).message})`;
  }
}

/** Default of `imagenetDir`: env LOPT_IMAGENET_DIR when set (read when the stage module loads). */
function envImagenetDir(): string {
  try {
    return Deno.env.get("LOPT_IMAGENET_DIR") ?? "";
  } catch {
    return "";
  }
}

/** The param schema of `imagenet-transfer`. */
export const IMAGENET_TRANSFER_PARAMS: Record<keyof ImagenetTransferParams & string, ParamSpec> = {
  seed: {
    type: "integer",
    default: 0,
    min: 0,
    max: MAX_SEED,
    description: "seed of the weights, data order and learned-optimizer init",
  },
  networks: {
    type: "string[]",
    default: [...NETWORKS],
    choices: NETWORKS,
    maxItems: NETWORKS.length,
    description: "networks to train and measure",
  },
  optimizers: {
    type: "string[]",
    default: [...TRANSFER_OPTIMIZERS],
    choices: TRANSFER_OPTIMIZERS,
    maxItems: TRANSFER_OPTIMIZERS.length,
    description: "optimizers to compare (learned = the meta-train artifact's hrnn.weights)",
  },
  lrMultipliers: {
    type: "number[]",
    default: [1],
    min: 0.001,
    max: 1000,
    maxItems: 20,
    description: "baselines run at each multiple of their standard rate (RMSProp 0.045, Adam 1e-3)",
  },
  rmspropMomentum: {
    type: "number",
    default: 0.9,
    min: 0,
    max: 0.999,
    description: "RMSProp momentum (TF-slim Inception training: 0.9)",
  },
  steps: { type: "integer", default: 100, min: 1, max: 100_000, description: "training steps per run" },
  batchSize: { type: "integer", default: 16, min: 1, max: 256, description: "training minibatch size" },
  widthMultiplier: {
    type: "number",
    default: 0.25,
    min: 0.01,
    max: 1,
    description: "channel-depth multiplier of the trained networks (1 = published)",
  },
  inceptionInputSize: {
    type: "integer",
    default: 75,
    min: 75,
    max: 299,
    description: "Inception V3 training input size in px (published 299)",
  },
  resnetInputSize: {
    type: "integer",
    default: 32,
    min: 8,
    max: 224,
    description: "ResNet V2 training input size in px (published 224)",
  },
  resnetDepth: {
    type: "integer",
    default: 26,
    min: 14,
    max: 200,
    range: `one of ${RESNET_DEPTHS.join(", ")}`,
    check: checkResnetDepth,
    description: "ResNet V2 depth: 14, 26, 50, 101, 152 or 200 (paper: 50)",
  },
  imagenetDir: {
    type: "string",
    default: envImagenetDir(),
    range: "an existing folder, or empty",
    check: checkImagenetDir,
    description:
      "ILSVRC-2012 folder (train/<wnid>/*.JPEG); empty: the mnist-rgb stand-in (default: env LOPT_IMAGENET_DIR)",
  },
  imagenetLimit: {
    type: "integer",
    default: 0,
    min: 0,
    max: 1_281_167,
    description: "use at most this many ImageNet training images, round-robin over classes (0: all)",
  },
  standInExamples: {
    type: "integer",
    default: 60000,
    min: 1,
    max: 60000,
    description: "MNIST training digits used by the stand-in",
  },
  backend: {
    type: "string",
    default: "wasm",
    choices: ["wasm", "cpu", "tensorflow", "webgpu"],
    description:
      "tfjs backend: wasm, webgpu (the machine's WebGPU adapter), tensorflow (needs tfjs-node / tfjs-node-gpu installed), or cpu",
  },
  overhead: {
    type: "boolean",
    default: true,
    description: "measure the update overhead (imagenet_overhead)",
  },
  overheadWidth: {
    type: "number",
    default: 1,
    min: 0.01,
    max: 1,
    description: "width of the networks for the overhead measurement (1 = published)",
  },
  overheadStepBatch: {
    type: "integer",
    default: 1,
    min: 1,
    max: 256,
    description: "batch of the measured training step (extrapolated to overheadTargetBatch when smaller)",
  },
  overheadTargetBatch: {
    type: "integer",
    default: 32,
    min: 1,
    max: 4096,
    description: "batch of the training step the update is compared with",
  },
  overheadInceptionInput: {
    type: "integer",
    default: 299,
    min: 75,
    max: 299,
    description: "Inception V3 input size for the step time",
  },
  overheadResnetInput: {
    type: "integer",
    default: 224,
    min: 8,
    max: 224,
    description: "ResNet V2 input size for the step time",
  },
  overheadResnetDepth: {
    type: "integer",
    default: 50,
    min: 14,
    max: 200,
    range: `one of ${RESNET_DEPTHS.join(", ")}`,
    check: checkResnetDepth,
    description: "ResNet V2 depth for the overhead measurement (published: 50)",
  },
  overheadRepeats: {
    type: "integer",
    default: 1,
    min: 1,
    max: 100,
    description: "timed training steps (median)",
  },
  overheadGroupBudgetMiB: {
    type: "integer",
    default: 2048,
    min: 1,
    max: 3072,
    description: "wasm: MiB one grouped update may use (state + temporaries; the wasm heap is 4 GiB)",
  },
};

/** The training settings of the `paper` and `gpu` profiles: the published networks, batch 32, 5000 steps. */
const PUBLISHED_NETWORKS: Partial<ImagenetTransferParams> = {
  steps: 5000,
  batchSize: 32,
  widthMultiplier: 1,
  inceptionInputSize: 299,
  resnetInputSize: 224,
  resnetDepth: 50,
};

/** The profiles of `imagenet-transfer`. */
export const IMAGENET_TRANSFER_PROFILES: Record<string, Partial<ImagenetTransferParams>> = {
  smoke: {
    steps: 2,
    batchSize: 2,
    widthMultiplier: 0.05,
    resnetDepth: 14,
    resnetInputSize: 16,
    standInExamples: 64,
    overheadWidth: 0.05,
    overheadInceptionInput: 75,
    overheadResnetInput: 16,
    overheadResnetDepth: 14,
    // Tiny, so that the smoke run exercises grouped updates (the fused learned update needs little memory).
    overheadGroupBudgetMiB: 2,
  },
  // A few hundred steps at reduced width: about 14 minutes on one core of the 2-core machines.
  default: { steps: 200 },
  paper: {
    ...PUBLISHED_NETWORKS,
    lrMultipliers: [0.3, 1, 3],
    overheadStepBatch: 32,
    overheadRepeats: 3,
    backend: "tensorflow",
  },
  // The GPU profile: the published networks at full width and input size, batch 32, thousands of steps, on
  // the machine's WebGPU adapter; the step time is measured at batch 32 (step_basis says "measured").
  gpu: {
    ...PUBLISHED_NETWORKS,
    overheadStepBatch: 32,
    overheadRepeats: 3,
    backend: "webgpu",
  },
};
