/**
 * The WGSL source of the vector-Jacobian product of the HRNN per-coordinate pass (the backward of
 * `webgpu_shader.ts`'s forward pass; the GPU counterpart of `kernel/hrnn_vjp_body.h`).
 *
 * @module
 */
import {
  f32,
  featureCode,
  FLAG,
  rowCounts,
  type ShaderConfig,
  sumsWidth,
  weightLayout,
  WORKGROUP,
} from "./webgpu_shader.ts";

/**
 * Floats of the VJP's per-workgroup partial sums: the cotangent of every entry of `W` (see
 * {@link weightLayout}; 0 for the max log LR, a constant) and of μ_ℓ.
 *
 * @example
 * ```ts
 * vjpSumsWidth({ k: 4, n0: 10, f: 12, flags: 0 }); // 741: weightLayout(...).total + 1
 * ```
 */
export function vjpSumsWidth(c: ShaderConfig): number {
  return weightLayout(c).total + 1;
}

/**
 * The user part of the WGSL shader of the pass's vector-Jacobian product: the GPU counterpart of
 * `kernel/hrnn_vjp_body.h`, with the same semantics as the differentiable ops path (straight-through log-LR
 * clip, constant first-step indicators, d√x = dx / (2√x) along the decay chains, [x > 0] for the extreme
 * indicator's max(·, 0)). Bindings: `X`, `H`, `W`, `V` as the forward pass, `DY` the cotangent of its packed
 * output. Per coordinate it recomputes the forward pass and writes into `result`: dX [R_in, n] (the
 * cotangents of g, the decays, ℓ, a_i, ms_i), dH [n, N0], then per workgroup the partial sums of the
 * cotangents of `W` and of μ_ℓ ({@link vjpSumsWidth} floats).
 *
 * @example
 * ```ts
 * const src = hrnnVjpShaderSource({ k: 4, n0: 10, f: 12, flags: 1023 });
 * ```
 */
export function hrnnVjpShaderSource(c: ShaderConfig): string {
  const { k, n0, f, flags } = c;
  const has = (bit: number) => (flags & bit) !== 0;
  const dos = has(FLAG.dos);
  const w = weightLayout(c);
  const { inRows, outRows } = rowCounts(c);
  const S = sumsWidth(c);
  const CW = vjpSumsWidth(c);
  const rowAcc = dos ? 4 : 3;
  const fc = featureCode(c);
  const back: string[] = [];
  for (let i = 0; i < k; i++) back.push(`Dx[${i}] += Dfeat[${i}];`);
  if (has(FLAG.gradProducts)) {
    for (let i = 0; i + 1 < k; i++) {
      back.push(`Dx[${i}] += Dfeat[${fc.fProd + i}] * x[${i + 1}];`);
      back.push(`Dx[${i + 1}] += Dfeat[${fc.fProd + i}] * x[${i}];`);
    }
  }
  if (has(FLAG.logMs) && k > 1) {
    back.push(`var tot = 0.0;`);
    for (let i = 0; i < k; i++) back.push(`tot += Dfeat[${fc.fLms + i}];`);
    back.push(`tot = tot / ${f32(k)};`);
    for (let i = 0; i < k; i++) back.push(`DlogM[${i}] = Dfeat[${fc.fLms + i}] - tot;`);
  }
  if (has(FLAG.relativeLr)) back.push(`Dl += Dfeat[${fc.fRel}];`, `cLrMean = -Dfeat[${fc.fRel}];`);
  if (has(FLAG.extreme)) {
    back.push(
      `Dl += Dfeat[${fc.fExt}] * (select(0.0, 1.0, l > 0.0) + select(0.0, 1.0, -13.815510557964274 - l > 0.0));`,
    );
  }
  if (has(FLAG.lrShortcut)) back.push(`Dl += Dfeat[${fc.fLrs}];`);
  return `
const K : i32 = ${k};
const N0 : i32 = ${n0};
const F : i32 = ${f};
const D : i32 = ${f + n0};
const S : i32 = ${S};
const CW : i32 = ${CW};
const WG : i32 = ${WORKGROUP};
var<workgroup> red : array<f32, ${WORKGROUP}>;

fn sigm(v : f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
fn tanh2(v : f32) -> f32 { return 2.0 * sigm(2.0 * v) - 1.0; }

// Adds v over the workgroup's invocations into result[at] (called in uniform control flow only).
fn reduceTo(v : f32, at : i32, write : bool) {
  let lid = i32(localIndex);
  red[lid] = v;
  workgroupBarrier();
  for (var h = WG / 2; h > 0; h = h / 2) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0 && write) { result[at] = red[0]; }
  workgroupBarrier();
}

fn main(index : i32) {
  let n = uniforms.n;
  let valid = index < n;
  let j = select(n - 1, index, valid);
  let msk = select(0.0, 1.0, valid);
  let groups = (n + WG - 1) / WG;
  let wgi = index / WG;
  let rowsBase = n * N0;
  let sumsAt = rowsBase + ${outRows} * n + min(wgi, groups - 1) * S;
  // ---- Forward (recomputed) ----
  let gv = X[j];
  let l = ${dos ? "X[3 * n + j]" : "0.0"};
  var dI : array<f32, ${k}>;
  var dS : array<f32, ${k}>;
  var aold : array<f32, ${k}>;
  var mold : array<f32, ${k}>;
  var av : array<f32, ${k}>;
  var dd : array<f32, ${k}>;
  var q : array<f32, ${k}>;
  var M : array<f32, ${k}>;
  var ia : array<f32, ${k}>;
  var x : array<f32, ${k}>;
  var lms : array<f32, ${k}>;
  var logMsSum = 0.0;
  for (var i = 0; i < K; i++) {
    if (i == 0) {
      dI[0] = X[n + j];
      dS[0] = X[2 * n + j];
    } else {
      dI[i] = sqrt(dI[i - 1]);
      dS[i] = ${has(FLAG.multiScaleDecays) ? "sqrt(dS[i - 1])" : "dS[i - 1]"};
    }
    aold[i] = ${k === 1 ? "0.0" : `X[(${rowAcc} + i) * n + j]`};
    mold[i] = X[(${rowAcc} + K + i) * n + j];
    av[i] = ${k === 1 ? "gv" : "(1.0 - dI[i]) * gv + dI[i] * aold[i]"};
    dd[i] = dS[i] * V[1 + i];
    q[i] = av[i] * av[i] + 1e-12;
    let m = (1.0 - dd[i]) * q[i] + dd[i] * mold[i];
    M[i] = m + 1e-16;
    let logM = log(M[i]);
    let sq = sqrt(av[i] * av[i] + M[i]);
    ia[i] = 1.0 / sq;
    x[i] = log(av[i] + sq) - 0.5 * logM;
    lms[i] = logM;
    logMsSum += logM;
  }
  var feat : array<f32, ${f}>;
  ${fc.lines.join("\n  ")}
  var xin : array<f32, ${f + n0}>;
  var xin2 : array<f32, ${f + n0}>;
  var hv : array<f32, ${n0}>;
  for (var i = 0; i < F; i++) {
    xin[i] = feat[i];
    xin2[i] = feat[i];
  }
  for (var o = 0; o < N0; o++) {
    hv[o] = H[j * N0 + o];
    xin[F + o] = hv[o];
  }
  var r : array<f32, ${n0}>;
  var u : array<f32, ${n0}>;
  for (var o = 0; o < 2 * N0; o++) {
    var s = W[${w.gatesB} + o] + V[1 + K + o];
    for (var i = 0; i < D; i++) { s += xin[i] * W[${w.gatesW} + i * 2 * N0 + o]; }
    if (o < N0) {
      r[o] = sigm(s);
      xin2[F + o] = r[o] * hv[o];
    } else {
      u[o - N0] = sigm(s);
    }
  }
  var cv : array<f32, ${n0}>;
  var hn : array<f32, ${n0}>;
  var du = 0.0;
  var rs = W[3];
  var ri = W[4];
  var rl = W[5];
  for (var o = 0; o < N0; o++) {
    var s = W[${w.candB} + o] + V[1 + K + 2 * N0 + o];
    for (var i = 0; i < D; i++) { s += xin2[i] * W[${w.candW} + i * N0 + o]; }
    cv[o] = tanh2(s);
    hn[o] = u[o] * (hv[o] - cv[o]) + cv[o];
    du += hn[o] * W[${w.wU} + o];
    rs += hn[o] * W[${w.wS} + o];
    ri += hn[o] * W[${w.wI} + o];
    rl += hn[o] * W[${w.wL} + o];
  }
  ${has(FLAG.gradShortcut) ? `for (var i = 0; i < K; i++) { du += x[i] * W[${w.wGs} + i]; }` : ""}
  // ---- Backward ----
  var Dhn : array<f32, ${n0}>;
  var Dfeat : array<f32, ${f}>;
  var Dx : array<f32, ${k}>;
  var DlogM : array<f32, ${k}>;
  for (var o = 0; o < N0; o++) { Dhn[o] = DY[j * N0 + o] + msk * DY[sumsAt + o]; }
  for (var i = 0; i < F; i++) { Dfeat[i] = msk * DY[sumsAt + N0 + i]; }
  let dStep = DY[rowsBase + 2 * n + j];
  var Ddu = msk * DY[sumsAt + N0 + F] * 2.0 * du;
  var Dl = 0.0;
  var cStepOffset = 0.0;
  var cLrMom = 0.0;
  var Dclip = 0.0;
  var Drs = 0.0;
  var Dri = 0.0;
  var cLrMean = 0.0;
  ${
    dos
      ? `{
    let clipped = min(max(l + rl, -33.0), W[0]);
    let eta = exp(clipped + W[1]);
    let step = eta * du;
    let dLrNew = DY[rowsBase + (3 + 2 * K) * n + j];
    Ddu += dStep * eta;
    cStepOffset = dStep * step;
    cLrMom = dLrNew * (l - clipped);
    // Straight-through clip: the proposed l + h'·wL + bLr gets the clipped value's cotangent unchanged.
    Dclip = dStep * step + (1.0 - W[2]) * dLrNew;
    Dl += W[2] * dLrNew + Dclip;
  }`
      : "Ddu += dStep;"
  }
  ${has(FLAG.learnedScl) ? `{ let s = sigm(rs); Drs = DY[rowsBase + j] * s * (1.0 - s); }` : ""}
  ${has(FLAG.learnedInp) ? `{ let s = sigm(ri); Dri = DY[rowsBase + n + j] * s * (1.0 - s); }` : ""}
  for (var o = 0; o < N0; o++) {
    Dhn[o] += Dclip * W[${w.wL} + o] + Drs * W[${w.wS} + o] + Dri * W[${w.wI} + o] + Ddu * W[${w.wU} + o];
  }
  ${has(FLAG.gradShortcut) ? `for (var i = 0; i < K; i++) { Dx[i] = Ddu * W[${w.wGs} + i]; }` : ""}
  // GRU: h' = u⊙h + (1 − u)⊙c, c = tanh(xin2·Wc + cc), r, u = σ(xin·Wg + cg).
  var Dh : array<f32, ${n0}>;
  var Dzc : array<f32, ${n0}>;
  var Dg2 : array<f32, ${2 * n0}>;
  for (var o = 0; o < N0; o++) {
    Dh[o] = Dhn[o] * u[o];
    let Du = Dhn[o] * (hv[o] - cv[o]);
    Dzc[o] = Dhn[o] * (1.0 - u[o]) * (1.0 - cv[o] * cv[o]);
    Dg2[N0 + o] = Du * u[o] * (1.0 - u[o]);
  }
  for (var i = 0; i < D; i++) {
    var s = 0.0;
    for (var o = 0; o < N0; o++) { s += Dzc[o] * W[${w.candW} + i * N0 + o]; }
    if (i < F) {
      Dfeat[i] += s;
    } else {
      let o = i - F;
      Dh[o] += s * r[o];
      Dg2[o] = s * hv[o] * r[o] * (1.0 - r[o]);
    }
  }
  for (var i = 0; i < D; i++) {
    var s = 0.0;
    for (var o = 0; o < 2 * N0; o++) { s += Dg2[o] * W[${w.gatesW} + i * 2 * N0 + o]; }
    if (i < F) { Dfeat[i] += s; } else { Dh[i - F] += s; }
  }
  // Features (§4.6 order).
  ${back.join("\n  ")}
  // Timescales: x_i = asinh(a'_i / √M_i), M_i = ms'_i + 1e-16, ms'_i = (1 − d̃_i)(a'² + 1e-12) + d̃_i·ms_i.
  var Dg = 0.0;
  var DdI : array<f32, ${k}>;
  var DdS : array<f32, ${k}>;
  var dAcc : array<f32, ${k}>;
  var dMs : array<f32, ${k}>;
  for (var i = 0; i < K; i++) {
    let DM = Dx[i] * (-0.5) * av[i] * ia[i] / M[i] + DlogM[i] / M[i];
    let Dm = DY[rowsBase + (3 + K + i) * n + j] + DM;
    let Da = DY[rowsBase + (3 + i) * n + j] + Dx[i] * ia[i] + Dm * (1.0 - dd[i]) * 2.0 * av[i];
    dMs[i] = Dm * dd[i];
    DdS[i] = Dm * (mold[i] - q[i]) * V[1 + i];
    ${
    k === 1
      ? "Dg += Da;\n    DdI[i] = 0.0;\n    dAcc[i] = 0.0;"
      : "Dg += Da * (1.0 - dI[i]);\n    dAcc[i] = Da * dI[i];\n    DdI[i] = Da * (aold[i] - gv);"
  }
  }
  for (var i = K - 1; i > 0; i--) {
    DdI[i - 1] += DdI[i] * 0.5 / dI[i];
    DdS[i - 1] += ${has(FLAG.multiScaleDecays) ? "DdS[i] * 0.5 / dS[i]" : "DdS[i]"};
  }
  if (valid) {
    result[j] = Dg;
    result[n + j] = DdI[0];
    result[2 * n + j] = DdS[0];
    ${dos ? "result[3 * n + j] = Dl;" : ""}
    for (var i = 0; i < K; i++) {
      result[(${rowAcc} + i) * n + j] = dAcc[i];
      result[(${rowAcc} + K + i) * n + j] = dMs[i];
    }
    for (var o = 0; o < N0; o++) { result[${inRows} * n + j * N0 + o] = Dh[o]; }
  }
  // Cotangents of W and μ_ℓ: sums over coordinates, per workgroup (invalid invocations add 0).
  let write = wgi < groups;
  let at = ${inRows} * n + n * N0 + wgi * CW;
  reduceTo(0.0, at + 0, write);
  reduceTo(select(0.0, cStepOffset, valid), at + 1, write);
  reduceTo(select(0.0, cLrMom, valid), at + 2, write);
  reduceTo(select(0.0, Drs, valid), at + 3, write);
  reduceTo(select(0.0, Dri, valid), at + 4, write);
  reduceTo(select(0.0, Dclip, valid), at + 5, write);
  for (var i = 0; i < D; i++) {
    for (var o = 0; o < 2 * N0; o++) {
      reduceTo(select(0.0, xin[i] * Dg2[o], valid), at + ${w.gatesW} + i * 2 * N0 + o, write);
    }
  }
  for (var o = 0; o < 2 * N0; o++) { reduceTo(select(0.0, Dg2[o], valid), at + ${w.gatesB} + o, write); }
  for (var i = 0; i < D; i++) {
    for (var o = 0; o < N0; o++) {
      reduceTo(select(0.0, xin2[i] * Dzc[o], valid), at + ${w.candW} + i * N0 + o, write);
    }
  }
  for (var o = 0; o < N0; o++) {
    reduceTo(select(0.0, Dzc[o], valid), at + ${w.candB} + o, write);
    reduceTo(select(0.0, Ddu * hn[o], valid), at + ${w.wU} + o, write);
    reduceTo(select(0.0, Drs * hn[o], valid), at + ${w.wS} + o, write);
    reduceTo(select(0.0, Dri * hn[o], valid), at + ${w.wI} + o, write);
    reduceTo(select(0.0, Dclip * hn[o], valid), at + ${w.wL} + o, write);
  }
  for (var i = 0; i < K; i++) {
    reduceTo(select(0.0, ${has(FLAG.gradShortcut) ? "Ddu * x[i]" : "0.0"}, valid), at + ${w.wGs} + i, write);
  }
  reduceTo(select(0.0, cLrMean, valid), at + ${w.total}, write);
}
`;
}
