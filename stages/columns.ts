/**
 * Column sets that several result tables share, declared once: the ConvNet run and curve tables (written by
 * `baselines-cnn` and `eval-cnn`) and the ImageNet transfer tables.
 *
 * @module
 */
import type { TableSpec } from "../pipeline/stage.ts";

/** The columns of a table declaration. */
export type Columns = TableSpec["columns"];

/** The columns naming one ConvNet run: model, dataset, optimizer, learning rate. */
export const CNN_RUN_KEY_COLUMNS: Columns = [
  { name: "model", type: "VARCHAR", description: "ConvNet name (tasks/convnets.ts)" },
  { name: "dataset", type: "VARCHAR", description: "mnist | fashion-mnist | cifar10" },
  { name: "optimizer", type: "VARCHAR", description: "momentum | rmsprop | adam | learned" },
  { name: "learning_rate", type: "DOUBLE", description: "swept learning rate (NULL for learned)" },
];

/** Columns of the ConvNet run tables (`cnn_baseline_runs`, `cnn_runs`). */
export const CNN_RUN_COLUMNS: Columns = [
  ...CNN_RUN_KEY_COLUMNS,
  { name: "seed", type: "INTEGER", description: "init + minibatch-order seed (NULL when not run)" },
  { name: "steps", type: "INTEGER", description: "steps requested" },
  { name: "steps_run", type: "INTEGER", description: "steps taken (fewer after divergence)" },
  {
    name: "final_train_loss",
    type: "DOUBLE",
    description: "loss on the training-eval subset after the last step",
  },
  { name: "test_loss", type: "DOUBLE", description: "test loss after the last step" },
  { name: "test_accuracy", type: "DOUBLE", description: "test accuracy after the last step" },
  { name: "seconds_per_step", type: "DOUBLE", description: "median wall seconds per training step" },
  { name: "diverged", type: "BOOLEAN", description: "a non-finite loss stopped the run" },
  { name: "status", type: "VARCHAR", description: "ok | not run" },
  { name: "note", type: "VARCHAR", description: "why not run; stand-in weights; etc." },
];

/** Columns of the ConvNet curve tables (`cnn_baseline_curves`, `cnn_curves`). */
export const CNN_CURVE_COLUMNS: Columns = [
  ...CNN_RUN_KEY_COLUMNS,
  { name: "seed", type: "INTEGER", description: "init + minibatch-order seed" },
  { name: "kind", type: "VARCHAR", description: "train: minibatch-loss bin; eval: evaluation point" },
  {
    name: "step",
    type: "INTEGER",
    description: "train: last step of the bin (0-based); eval: updates applied",
  },
  {
    name: "train_loss",
    type: "DOUBLE",
    description: "train: bin mean of minibatch losses; eval: train-eval loss",
  },
  { name: "test_loss", type: "DOUBLE", description: "eval only" },
  { name: "test_accuracy", type: "DOUBLE", description: "eval only" },
];

/** The columns naming one ImageNet run: network, dataset, optimizer, learning rate. */
export const IMAGENET_RUN_KEY_COLUMNS: Columns = [
  { name: "network", type: "VARCHAR", description: "inception_v3 | resnet_v2" },
  { name: "dataset", type: "VARCHAR", description: "imagenet | mnist-rgb (stand-in)" },
  { name: "optimizer", type: "VARCHAR", description: "learned | rmsprop | adam" },
  { name: "learning_rate", type: "DOUBLE", description: "baseline learning rate (NULL: learned)" },
];

/** Columns of `imagenet_runs`. */
export const IMAGENET_RUN_COLUMNS: Columns = [
  ...IMAGENET_RUN_KEY_COLUMNS,
  { name: "hparams", type: "JSON", description: "every optimizer hyperparameter" },
  { name: "seed", type: "INTEGER", description: "init + data-order seed" },
  { name: "width", type: "DOUBLE", description: "channel-depth multiplier" },
  { name: "input_size", type: "INTEGER", description: "input side in px" },
  { name: "batch_size", type: "INTEGER", description: "training batch size" },
  { name: "params", type: "BIGINT", description: "trainable parameters" },
  { name: "steps", type: "INTEGER", description: "steps run (fewer than asked when diverged)" },
  { name: "first_loss", type: "DOUBLE", description: "training loss of the first batch" },
  {
    name: "final_loss",
    type: "DOUBLE",
    description: "mean training loss of the last tenth of the steps",
  },
  {
    name: "seconds_per_step",
    type: "DOUBLE",
    description: "mean step wall time excluding the first step",
  },
  { name: "peak_bytes", type: "BIGINT", description: "largest tf.memory().numBytes seen after a step" },
  {
    name: "peak_rss_bytes",
    type: "BIGINT",
    description: "largest Deno.memoryUsage().rss seen after a step",
  },
  { name: "diverged", type: "BOOLEAN", description: "non-finite loss or loss > 100x the first" },
];

/** Columns of `imagenet_curves`. */
export const IMAGENET_CURVE_COLUMNS: Columns = [
  ...IMAGENET_RUN_KEY_COLUMNS,
  { name: "seed", type: "INTEGER", description: "init + data-order seed" },
  { name: "step", type: "INTEGER", description: "training step (0-based)" },
  {
    name: "loss",
    type: "DOUBLE",
    description: "minibatch loss before the step's update (NULL: not finite)",
  },
  { name: "seconds", type: "DOUBLE", description: "step wall time (forward, backward, update)" },
  { name: "tensor_bytes", type: "BIGINT", description: "tf.memory().numBytes after the step" },
  { name: "rss_bytes", type: "BIGINT", description: "Deno.memoryUsage().rss after the step" },
];

/** Columns of `imagenet_overhead`. */
export const IMAGENET_OVERHEAD_COLUMNS: Columns = [
  { name: "network", type: "VARCHAR", description: "inception_v3 | resnet_v2" },
  { name: "backend", type: "VARCHAR", description: "tfjs backend the update ran on" },
  { name: "optimizer", type: "VARCHAR", description: "learned | rmsprop | adam" },
  { name: "learning_rate", type: "DOUBLE", description: "baseline learning rate (NULL: learned)" },
  { name: "width", type: "DOUBLE", description: "channel-depth multiplier (1 = published network)" },
  { name: "params", type: "BIGINT", description: "trainable parameters (1000 classes)" },
  { name: "update_ms", type: "DOUBLE", description: "one update over all trainable weights" },
  {
    name: "update_ratio_vs_adam",
    type: "DOUBLE",
    description: "update_ms / Adam's update_ms on the same weights",
  },
  {
    name: "state_bytes_per_param",
    type: "DOUBLE",
    description: "optimizer state kept between steps, bytes per parameter",
  },
  { name: "update_peak_bytes_per_param", type: "DOUBLE", description: "transient memory of an update" },
  { name: "update_groups", type: "INTEGER", description: "groups the update ran in (1: one call)" },
  {
    name: "update_method",
    type: "VARCHAR",
    description: "how the update was timed (one call, or groups/slices and why)",
  },
  { name: "step_ms", type: "DOUBLE", description: "forward+backward at step_batch plus this update" },
  { name: "forward_backward_ms", type: "DOUBLE", description: "forward + backward pass at step_batch" },
  { name: "step_batch", type: "INTEGER", description: "batch the step time refers to" },
  { name: "step_input", type: "INTEGER", description: "input px of the step" },
  { name: "step_measured_batch", type: "INTEGER", description: "batch actually run" },
  { name: "step_basis", type: "VARCHAR", description: "measured or EXTRAPOLATED, and from what" },
  { name: "update_share", type: "DOUBLE", description: "update_ms / step_ms" },
];
