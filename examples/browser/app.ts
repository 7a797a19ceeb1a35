/// <reference lib="dom" />
/**
 * The browser demo's script (bundled into `app.js` by `serve.ts`): trains two identical small networks on a
 * synthetic two-circles task, one with the pretrained learned optimizer and one with Adam, one minibatch step
 * each in turn, and draws both training-loss curves as they come. The outcome is also left in
 * `window.loptDemo` (`{ done, learned, adam, backend, updateEngine, error }`) for the test that drives the page.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { loadPretrained, toTfOptimizer } from "../../mod.ts";

/** What the page reports on `window.loptDemo`. */
interface DemoState {
  done: boolean;
  learned: number[];
  adam: number[];
  backend?: string;
  updateEngine?: string;
  error?: string;
}

const state: DemoState = { done: false, learned: [], adam: [] };
(globalThis as unknown as { loptDemo: DemoState }).loptDemo = state;

const params = new URLSearchParams(location.search);
const STEPS = Number(params.get("steps") ?? 300);
const BATCH = 64;
const ADAM_LR = 0.01;
const W = 720, H = 360, PAD = 56;
const status = document.getElementById("status")!;

/** Two noisy concentric circles (radius 0.5: class 0, radius 1: class 1), `n` points each (deterministic). */
function circles(n: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const pts: number[] = [], labels: number[] = [];
  let s = 12345;
  const noise = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.3;
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < n; i++) {
      const r = 0.5 + 0.5 * c, a = (2 * Math.PI * i) / n;
      pts.push(r * Math.cos(a) + noise(), r * Math.sin(a) + noise());
      labels.push(c);
    }
  }
  return { x: tf.tensor2d(pts, [2 * n, 2]), y: tf.tensor2d(labels, [2 * n, 1]) };
}

function makeModel(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        units: 32,
        inputShape: [2],
        activation: "tanh",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({
        units: 32,
        activation: "tanh",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
      }),
      tf.layers.dense({
        units: 1,
        activation: "sigmoid",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      }),
    ],
  });
}

/** Draws the axes for losses in [lo, hi] (log scale) over STEPS steps. */
function drawAxes(lo: number, hi: number): void {
  const g = document.getElementById("axes")!;
  const lines: string[] = [
    `<line x1="${PAD}" y1="${H - PAD}" x2="${W - 10}" y2="${H - PAD}" stroke="#999"/>`,
    `<line x1="${PAD}" y1="10" x2="${PAD}" y2="${H - PAD}" stroke="#999"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-size="12">step (0 … ${STEPS})</text>`,
  ];
  for (const v of [lo * 1.5, Math.sqrt(lo * hi), hi / 1.5]) {
    const y = yOf(v, lo, hi);
    lines.push(
      `<text x="${PAD - 4}" y="${y + 4}" text-anchor="end" font-size="11">${v.toPrecision(2)}</text>`,
    );
  }
  g.innerHTML = lines.join("");
}

function yOf(loss: number, lo: number, hi: number): number {
  const t = (Math.log(loss) - Math.log(lo)) / (Math.log(hi) - Math.log(lo));
  return H - PAD - Math.min(1, Math.max(0, t)) * (H - PAD - 10);
}

function drawCurve(id: string, losses: number[], lo: number, hi: number): void {
  const pts = losses.map((l, i) =>
    `${(PAD + (i / STEPS) * (W - PAD - 10)).toFixed(1)},${yOf(l, lo, hi).toFixed(1)}`
  );
  document.getElementById(id)!.setAttribute("points", pts.join(" "));
}

async function main(): Promise<void> {
  // The tfjs wasm backend's .wasm files are served next to the page (see serve.ts).
  const learned = await loadPretrained({ wasmPaths: new URL("./wasm/", location.href).href });
  state.backend = learned.backend.backend;
  state.updateEngine = learned.updateEngine;
  status.textContent = `${learned.backend.message}\n${learned.updateEngine}`;

  const { x, y } = circles(256);
  const n = x.shape[0];
  const models = { learned: makeModel(), adam: makeModel() };
  const tfLearned = toTfOptimizer(learned.optimizer);
  models.learned.compile({ optimizer: tfLearned, loss: "binaryCrossentropy" });
  models.adam.compile({ optimizer: tf.train.adam(ADAM_LR), loss: "binaryCrossentropy" });
  for (let step = 0; step < STEPS; step++) {
    // The same minibatch for both: a fixed permutation per step.
    const idx = tf.tidy(() => tf.cast(tf.mul(tf.randomUniform([BATCH], 0, 1, "float32", step), n), "int32"));
    const xb = tf.gather(x, idx), yb = tf.gather(y, idx);
    for (const name of ["learned", "adam"] as const) {
      const loss = await models[name].trainOnBatch(xb, yb) as number;
      state[name].push(loss);
    }
    tf.dispose([idx, xb, yb]);
    if (step % 5 === 4 || step === STEPS - 1) {
      const all = [...state.learned, ...state.adam].filter((l) => l > 0 && Number.isFinite(l));
      const lo = Math.min(...all) / 1.5, hi = Math.max(...all) * 1.5;
      drawAxes(lo, hi);
      drawCurve("curve-learned", state.learned, lo, hi);
      drawCurve("curve-adam", state.adam, lo, hi);
      status.textContent =
        `${learned.backend.message}\n${learned.updateEngine}\nstep ${step + 1}/${STEPS}: ` +
        `learned ${state.learned[step].toFixed(4)}, adam ${state.adam[step].toFixed(4)}`;
      await new Promise((r) => setTimeout(r, 0)); // let the page paint
    }
  }
  tfLearned.dispose();
  state.done = true;
}

main().catch((e) => {
  state.error = String(e?.stack ?? e);
  state.done = true;
  status.textContent = `error: ${e}`;
  console.error(e);
});
