/**
 * The WGSL source of the HRNN per-coordinate pass (§4.7 steps 1–6 and 8–10) for the tfjs `webgpu` backend:
 * the GPU counterpart of `kernel/hrnn_coords_body.h`, computing the same thing per coordinate, one invocation
 * per coordinate. Generated per configuration (K, N0, F and the feature / readout flags are constants, so
 * every loop has a constant bound). Pure string building; `webgpu.ts` registers and runs it.
 *
 * Bindings (tfjs WebGPUProgram convention: `result`, then the inputs in order, then `uniforms`):
 * - `X` [R_in, n] the per-coordinate rows: g, inp_decay, scl_decay, (log LR with dynamicOutputScale),
 *   accumulators a_1..a_K, mean squares ms_1..ms_K;
 * - `H` [n, N0] the level-0 state;
 * - `W` the meta-parameter block (see {@link weightLayout});
 * - `V` the per-call block: μ_ℓ, the first-step indicators nz[K], the external bias [3·N0];
 * - `result` the packed output: h' [n·N0], then rows of n: scl', inp', η·d, a'_1..K, ms'_1..K, (ℓ'), then
 *   per workgroup of 64 coordinates the partial sums Σh' [N0], Σfeatures [F], Σd².
 *
 * @module
 */

/** Coordinates per workgroup (one invocation each); the partial sums are per workgroup. */
export const WORKGROUP = 64;

/** Compile-time shape of one pass: timescales, level-0 size, features and the `hrnn_coords.c` flag word. */
export interface ShaderConfig {
  k: number;
  n0: number;
  f: number;
  flags: number;
}

/** Flag bits, as `F_*` in `kernel/hrnn_coords.c` (`fused_abi.ts` `kernelFlags` builds the word). */
export const FLAG = {
  gradProducts: 1,
  logMs: 2,
  relativeLr: 4,
  extreme: 8,
  lrShortcut: 16,
  multiScaleDecays: 32,
  learnedScl: 64,
  learnedInp: 128,
  gradShortcut: 256,
  dos: 512,
} as const;

/**
 * Offsets (in floats) of the parts of the meta-parameter block `W`: 6 scalars (max log LR, step offset,
 * LR momentum σ(logit), readout biases of scl / inp / LR), the gate weights [D, 2N0] and biases, the
 * candidate weights [D, N0] and biases, the readouts wU, wS, wI, wL [N0] and the gradient shortcut [K].
 *
 * @example
 * ```ts
 * const at = weightLayout({ k: 4, n0: 10, f: 12, flags: 0 });
 * console.log(at.total); // 6 + 22·20 + 20 + 22·10 + 10 + 40 + 4
 * ```
 */
export function weightLayout(c: ShaderConfig) {
  const d = c.f + c.n0;
  const gatesW = 6;
  const gatesB = gatesW + d * 2 * c.n0;
  const candW = gatesB + 2 * c.n0;
  const candB = candW + d * c.n0;
  const wU = candB + c.n0;
  const wS = wU + c.n0;
  const wI = wS + c.n0;
  const wL = wI + c.n0;
  const wGs = wL + c.n0;
  return { gatesW, gatesB, candW, candB, wU, wS, wI, wL, wGs, total: wGs + c.k };
}

/**
 * Number of input rows of `X` and output rows of the packed result.
 *
 * @example
 * ```ts
 * rowCounts({ k: 4, n0: 10, f: 12, flags: FLAG.dos }); // { inRows: 12, outRows: 12 }
 * ```
 */
export function rowCounts(c: ShaderConfig): { inRows: number; outRows: number } {
  const dos = (c.flags & FLAG.dos) !== 0;
  return { inRows: 3 + (dos ? 1 : 0) + 2 * c.k, outRows: 3 + 2 * c.k + (dos ? 1 : 0) };
}

/**
 * Floats of the partial sums per workgroup: Σh' [N0], Σfeatures [F], Σd².
 *
 * @example
 * ```ts
 * sumsWidth({ k: 4, n0: 10, f: 12, flags: 0 }); // 23
 * ```
 */
export function sumsWidth(c: ShaderConfig): number {
  return c.n0 + c.f + 1;
}

/** A number as a WGSL f32 literal. */
export const f32 = (x: number): string => {
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
};

/**
 * The WGSL lines that fill `feat` from `x`, `lms`, `logMsSum` and `l` (§4.6 order), and where each feature
 * group starts (for the backward pass).
 *
 * @example
 * ```ts
 * const { lines, fLms } = featureCode({ k: 3, n0: 10, f: 8, flags: FLAG.gradProducts | FLAG.logMs });
 * fLms; // 5: the log mean squares follow 3 gradients and 2 products
 * ```
 */
export function featureCode(c: ShaderConfig) {
  const { k, f, flags } = c;
  const has = (bit: number) => (flags & bit) !== 0;
  const lines: string[] = [];
  let fi = 0;
  for (let i = 0; i < k; i++) lines.push(`feat[${fi++}] = x[${i}];`);
  const fProd = fi;
  if (has(FLAG.gradProducts)) {
    for (let i = 0; i + 1 < k; i++) lines.push(`feat[${fi++}] = x[${i}] * x[${i + 1}];`);
  }
  const fLms = fi;
  if (has(FLAG.logMs)) {
    // K = 1: lms − lms (0, or NaN for a NaN input), as the C body.
    lines.push(k === 1 ? "let lmsMean = lms[0];" : `let lmsMean = logMsSum / ${f32(k)};`);
    for (let i = 0; i < k; i++) lines.push(`feat[${fi++}] = lms[${i}] - lmsMean;`);
  }
  const fRel = fi;
  if (has(FLAG.relativeLr)) lines.push(`feat[${fi++}] = l - V[0];`);
  const fExt = fi;
  if (has(FLAG.extreme)) lines.push(`feat[${fi++}] = max(l, 0.0) - max(-13.815510557964274 - l, 0.0);`);
  const fLrs = fi;
  if (has(FLAG.lrShortcut)) lines.push(`feat[${fi++}] = l - -6.907755278982137;`);
  if (fi !== f) throw new Error(`HRNN WGSL shader: ${fi} features built, config has ${f}`);
  return { lines, fProd, fLms, fRel, fExt, fLrs };
}

/**
 * The user part of the WGSL shader for one configuration (tfjs adds the bindings, the uniforms struct with
 * `n`, and the entry point that calls `main(index)` with the flat invocation index).
 *
 * @example
 * ```ts
 * const src = hrnnShaderSource({ k: 4, n0: 10, f: 12, flags: 1 | 2 | 4 | 8 | 16 | 64 | 128 | 256 | 512 });
 * ```
 */
export function hrnnShaderSource(c: ShaderConfig): string {
  const { k, n0, f, flags } = c;
  const has = (bit: number) => (flags & bit) !== 0;
  const dos = has(FLAG.dos);
  const w = weightLayout(c);
  const { outRows } = rowCounts(c);
  const S = sumsWidth(c);
  const rowLr = 3;
  const rowAcc = dos ? 4 : 3;
  const { lines: featLines } = featureCode(c);
  return `
const K : i32 = ${k};
const N0 : i32 = ${n0};
const F : i32 = ${f};
const D : i32 = ${f + n0};
const S : i32 = ${S};
const WG : i32 = ${WORKGROUP};
var<workgroup> red : array<f32, ${WORKGROUP}>;

fn sigm(v : f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
// tanh as 2σ(2x) − 1, as the ops path and the C body.
fn tanh2(v : f32) -> f32 { return 2.0 * sigm(2.0 * v) - 1.0; }

fn main(index : i32) {
  let n = uniforms.n;
  let valid = index < n;
  let j = select(n - 1, index, valid);
  let groups = (n + WG - 1) / WG;
  let gv = X[j];
  let l = ${dos ? `X[${rowLr} * n + j]` : "0.0"};
  var dI = X[n + j];
  var dS = X[2 * n + j];
  var x : array<f32, ${k}>;
  var lms : array<f32, ${k}>;
  var logMsSum = 0.0;
  let rowsBase = n * N0;
  for (var i = 0; i < K; i++) {
    if (i > 0) {
      dI = sqrt(dI);
      ${has(FLAG.multiScaleDecays) ? "dS = sqrt(dS);" : ""}
    }
    let av = ${k === 1 ? "gv" : `(1.0 - dI) * gv + dI * X[(${rowAcc} + i) * n + j]`};
    let d = dS * V[1 + i];
    let m = (1.0 - d) * (av * av + 1e-12) + d * X[(${rowAcc} + K + i) * n + j];
    if (valid) {
      result[rowsBase + (3 + i) * n + j] = av;
      result[rowsBase + (3 + K + i) * n + j] = m;
    }
    let mm = m + 1e-16;
    let logM = log(mm);
    x[i] = log(av + sqrt(av * av + mm)) - 0.5 * logM;
    lms[i] = logM;
    logMsSum += logM;
  }
  var feat : array<f32, ${f}>;
  ${featLines.join("\n  ")}
  var xin : array<f32, ${f + n0}>;
  var hv : array<f32, ${n0}>;
  for (var i = 0; i < F; i++) { xin[i] = feat[i]; }
  for (var i = 0; i < N0; i++) {
    hv[i] = H[j * N0 + i];
    xin[F + i] = hv[i];
  }
  // Step 6: the parameter GRU; the external bias V[1 + K ..] is added to the gate and candidate biases.
  var u : array<f32, ${n0}>;
  var rh : array<f32, ${n0}>;
  for (var o = 0; o < 2 * N0; o++) {
    var s = W[${w.gatesB} + o] + V[1 + K + o];
    for (var i = 0; i < D; i++) { s += xin[i] * W[${w.gatesW} + i * 2 * N0 + o]; }
    if (o < N0) { rh[o] = sigm(s) * hv[o]; } else { u[o - N0] = sigm(s); }
  }
  for (var i = 0; i < N0; i++) { xin[F + i] = rh[i]; }
  var hn : array<f32, ${n0}>;
  var du = 0.0;
  var rs = W[3];
  var ri = W[4];
  var rl = W[5];
  for (var o = 0; o < N0; o++) {
    var s = W[${w.candB} + o] + V[1 + K + 2 * N0 + o];
    for (var i = 0; i < D; i++) { s += xin[i] * W[${w.candW} + i * N0 + o]; }
    let cand = tanh2(s);
    hn[o] = u[o] * (hv[o] - cand) + cand;
    if (valid) { result[j * N0 + o] = hn[o]; }
    // Steps 8-10: readouts.
    du += hn[o] * W[${w.wU} + o];
    rs += hn[o] * W[${w.wS} + o];
    ri += hn[o] * W[${w.wI} + o];
    rl += hn[o] * W[${w.wL} + o];
  }
  ${has(FLAG.gradShortcut) ? `for (var i = 0; i < K; i++) { du += x[i] * W[${w.wGs} + i]; }` : ""}
  var step = du;
  if (valid) {
    result[rowsBase + j] = ${has(FLAG.learnedScl) ? "sigm(rs)" : "0.93"};
    result[rowsBase + n + j] = ${has(FLAG.learnedInp) ? "sigm(ri)" : "0.89"};
    ${
    dos
      ? `let clipped = min(max(l + rl, -33.0), W[0]);
    result[rowsBase + (3 + 2 * K) * n + j] = W[2] * l + (1.0 - W[2]) * clipped;
    step = exp(clipped + W[1]) * du;`
      : ""
  }
    result[rowsBase + 2 * n + j] = step;
  }
  // Per-workgroup sums of h', the features and d² (padding invocations add 0).
  var vals : array<f32, ${S}>;
  for (var i = 0; i < N0; i++) { vals[i] = hn[i]; }
  for (var i = 0; i < F; i++) { vals[N0 + i] = feat[i]; }
  vals[N0 + F] = du * du;
  let lid = i32(localIndex);
  let wgi = index / WG;
  let sumsBase = rowsBase + ${outRows} * n;
  for (var q = 0; q < S; q++) {
    red[lid] = select(0.0, vals[q], valid);
    workgroupBarrier();
    for (var h = WG / 2; h > 0; h = h / 2) {
      if (lid < h) { red[lid] += red[lid + h]; }
      workgroupBarrier();
    }
    if (lid == 0 && wgi < groups) { result[sumsBase + wgi * S + q] = red[0]; }
    workgroupBarrier();
  }
}
`;
}
