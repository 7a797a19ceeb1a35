/*
 * lopt: the vector-Jacobian product (VJP) of the fused per-coordinate HRNN pass (hrnn_coords_body.h), included
 * by hrnn_coords.c once per specialisation like that body: define VJP_NAME, COORDS_K, COORDS_N0, COORDS_F and
 * UNROLL before including.
 *
 * For each block of LANES coordinates it recomputes the forward pass (no activations are saved) and then runs
 * the chain rule backwards through it, given the cotangents of every output of the pass: the new level-0 state
 * h', the new decays, the new log learning rate, the (un-normalised) step, the new accumulators and mean
 * squares, and the per-tensor sums Σh', Σfeatures, Σd² (one cotangent per sum, applied to every coordinate).
 * It writes the cotangent of every per-coordinate input (g, h, inp_decay, scl_decay, log LR, a_i, ms_i) and
 * accumulates the cotangents of the float block's scalars and weights (sums over coordinates: SIMD partial sums
 * in a scratch block, added into doubles every VJP_FLUSH blocks).
 *
 * Semantics follow the differentiable ops path (hrnn.ts): the log-LR clip is straight-through (gradient 1),
 * the first-step indicators nz_i are constants, √ chains of decays differentiate as d√x = dx / (2√x), the
 * extreme indicator's max(·, 0) has derivative [· > 0], and the lrMean cotangent (−Σ of the relative-LR
 * feature's cotangent) is accumulated for the driver, which spreads it over the coordinates the mean covers.
 */
#define VCAT_(x, y) x##y
#define VCAT(x, y) VCAT_(x, y)
#define VBLOCK VCAT(VJP_NAME, _block)

/* part[idx] += v (the SIMD partial sum of float-block entry idx). */
#define PACC(idx, v) st(part + (int64_t)(idx) * LANES, ld(part + (int64_t)(idx) * LANES) + (v))

static inline __attribute__((always_inline)) void VBLOCK(const int32_t* a, const VPtrs* P, int j0, int valid,
                                                       float* part, const float* dsum) {
  const int K = COORDS_K, N0 = COORDS_N0, F = COORDS_F;
  const int flags = a[A_FLAGS];
  const int D = F + N0;
  const int dos = flags & F_DOS;
  const float* fl = (const float*)&a[A_FLOATS];
  const float lrMean = fl[0], maxLogLr = fl[1], stepOffset = fl[2], lrMom = fl[3];
  const float bScl = fl[4], bInp = fl[5], bLr = fl[6];
  const float* nz = fl + 7;
  const int oWg = 7 + K;
  const int ocg = oWg + D * 2 * N0;
  const int oWc = ocg + 2 * N0;
  const int occ = oWc + D * N0;
  const int owU = occ + N0;
  const int owS = owU + N0;
  const int owI = owS + N0;
  const int owL = owI + N0;
  const int owGs = owL + N0;
  const float* Wg = fl + oWg;
  const float* cg = fl + ocg;
  const float* Wc = fl + oWc;
  const float* cc = fl + occ;
  const float* wU = fl + owU;
  const float* wS = fl + owS;
  const float* wI = fl + owI;
  const float* wL = fl + owL;
  const float* wGs = fl + owGs;
  const fv zero = splat(0.0f), one = splat(1.0f);
  const int j = j0;
  /* 1 in the valid lanes: the sums' cotangents apply to real coordinates only. */
  const fv mask = valid == LANES ? one : vsel(LANE_IDS < valid, one, zero);

  /* ---- Forward (recomputed) ---- */
  const fv gv = ldn(P->g + j, valid);
  const fv l = dos ? ldn(P->lr + j, valid) : zero;
  fv dI[MAX_K], dS[MAX_K], aold[MAX_K], mold[MAX_K], av[MAX_K], dd[MAX_K], q[MAX_K], M[MAX_K], ia[MAX_K];
  fv x[MAX_K], lms[MAX_K];
  fv feat[MAX_F], xin[MAX_F + MAX_N], xin2[MAX_F + MAX_N], hv[MAX_N], r[MAX_N], u[MAX_N], c[MAX_N], hn[MAX_N];
  fv logMsSum = zero;
  UNROLL
  for (int i = 0; i < K; i++) {
    if (i == 0) {
      dI[0] = ldn(P->inpD + j, valid);
      dS[0] = ldn(P->sclD + j, valid);
    } else {
      dI[i] = vsqrt(dI[i - 1]);
      dS[i] = (flags & F_MULTI_SCALE_DECAYS) ? vsqrt(dS[i - 1]) : dS[i - 1];
    }
    aold[i] = K == 1 ? zero : ldn(P->acc[i] + j, valid);
    mold[i] = ldn(P->ms[i] + j, valid);
    av[i] = K == 1 ? gv : (1.0f - dI[i]) * gv + dI[i] * aold[i];
    dd[i] = dS[i] * nz[i];
    q[i] = av[i] * av[i] + 1e-12f;
    const fv m = (1.0f - dd[i]) * q[i] + dd[i] * mold[i];
    M[i] = m + 1e-16f;
    const fv logM = vlog(M[i]);
    const fv sq = vsqrt(av[i] * av[i] + M[i]);
    ia[i] = 1.0f / sq;
    x[i] = vlog(av[i] + sq) - 0.5f * logM;
    lms[i] = logM;
    logMsSum += logM;
  }
  int f = 0;
  UNROLL
  for (int i = 0; i < K; i++) feat[f++] = x[i];
  const int fProd = f;
  if (flags & F_GRAD_PRODUCTS) {
    UNROLL
    for (int i = 0; i + 1 < K; i++) feat[f++] = x[i] * x[i + 1];
  }
  const int fLms = f;
  if (flags & F_LOG_MS) {
    const fv mean = K == 1 ? zero : logMsSum / (float)K;
    UNROLL
    for (int i = 0; i < K; i++) feat[f++] = K == 1 ? lms[i] - lms[i] : lms[i] - mean;
  }
  const int fRel = f;
  if (flags & F_RELATIVE_LR) feat[f++] = l - lrMean;
  const int fExt = f;
  const fv extArg = -13.815510557964274f - l;
  if (flags & F_EXTREME) feat[f++] = vmax(l, zero) - vmax(extArg, zero);
  const int fLrs = f;
  if (flags & F_LR_SHORTCUT) feat[f++] = l - -6.907755278982137f;
  UNROLL
  for (int i = 0; i < F; i++) {
    xin[i] = feat[i];
    xin2[i] = feat[i];
  }
  UNROLL
  for (int o = 0; o < N0; o++) {
    hv[o] = gathern(P->h + (int64_t)j * N0 + o, N0, valid);
    xin[F + o] = hv[o];
  }
  UNROLL
  for (int o = 0; o < 2 * N0; o++) {
    fv s = splat(cg[o]);
    for (int i = 0; i < D; i++) s = madd(xin[i], splat(Wg[i * 2 * N0 + o]), s);
    if (o < N0) {
      r[o] = vsigmoid(s);
      xin2[F + o] = r[o] * hv[o];
    } else {
      u[o - N0] = vsigmoid(s);
    }
  }
  UNROLL
  for (int o = 0; o < N0; o++) {
    fv s = splat(cc[o]);
    for (int i = 0; i < D; i++) s = madd(xin2[i], splat(Wc[i * N0 + o]), s);
    c[o] = vtanh(s);
    hn[o] = u[o] * (hv[o] - c[o]) + c[o];
  }
  fv du = zero, rs = splat(bScl), ri = splat(bInp), rl = splat(bLr);
  UNROLL
  for (int o = 0; o < N0; o++) {
    du = madd(hn[o], splat(wU[o]), du);
    rs = madd(hn[o], splat(wS[o]), rs);
    ri = madd(hn[o], splat(wI[o]), ri);
    rl = madd(hn[o], splat(wL[o]), rl);
  }
  if (flags & F_GRAD_SHORTCUT) {
    UNROLL
    for (int i = 0; i < K; i++) du += x[i] * wGs[i];
  }

  /* ---- Backward ---- */
  fv Dhn[MAX_N], Dx[MAX_K], Dfeat[MAX_F];
  fv Dl = zero;
  UNROLL
  for (int o = 0; o < N0; o++) Dhn[o] = gathern(P->dOh + (int64_t)j * N0 + o, N0, valid) + mask * dsum[o];
  UNROLL
  for (int i = 0; i < F; i++) Dfeat[i] = mask * dsum[N0 + i];
  UNROLL
  for (int i = 0; i < K; i++) Dx[i] = zero;
  const fv dStep = ldn(P->dOstep + j, valid);
  fv Ddu = (mask * dsum[N0 + F]) * 2.0f * du;
  if (dos) {
    const fv clipped = vmin(vmax(l + rl, splat(-33.0f)), splat(maxLogLr));
    const fv eta = vexp(clipped + stepOffset);
    const fv step = eta * du;
    const fv dLrNew = ldn(P->dOlr + j, valid);
    Ddu += dStep * eta;
    PACC(2, dStep * step);
    PACC(3, dLrNew * (l - clipped));
    // Straight-through clip: the proposed l + h'·wL + bLr gets the clipped value's cotangent unchanged.
    const fv Dclip = dStep * step + (1.0f - lrMom) * dLrNew;
    Dl += lrMom * dLrNew + Dclip;
    PACC(6, Dclip);
    UNROLL
    for (int o = 0; o < N0; o++) {
      PACC(owL + o, Dclip * hn[o]);
      Dhn[o] = madd(Dclip, splat(wL[o]), Dhn[o]);
    }
  } else {
    Ddu += dStep;
  }
  if (flags & F_LEARNED_SCL) {
    const fv s = vsigmoid(rs);
    const fv Drs = ldn(P->dOscl + j, valid) * s * (1.0f - s);
    PACC(4, Drs);
    UNROLL
    for (int o = 0; o < N0; o++) {
      PACC(owS + o, Drs * hn[o]);
      Dhn[o] = madd(Drs, splat(wS[o]), Dhn[o]);
    }
  }
  if (flags & F_LEARNED_INP) {
    const fv s = vsigmoid(ri);
    const fv Dri = ldn(P->dOinp + j, valid) * s * (1.0f - s);
    PACC(5, Dri);
    UNROLL
    for (int o = 0; o < N0; o++) {
      PACC(owI + o, Dri * hn[o]);
      Dhn[o] = madd(Dri, splat(wI[o]), Dhn[o]);
    }
  }
  UNROLL
  for (int o = 0; o < N0; o++) {
    PACC(owU + o, Ddu * hn[o]);
    Dhn[o] = madd(Ddu, splat(wU[o]), Dhn[o]);
  }
  if (flags & F_GRAD_SHORTCUT) {
    UNROLL
    for (int i = 0; i < K; i++) {
      PACC(owGs + i, Ddu * x[i]);
      Dx[i] = Ddu * wGs[i];
    }
  }
  // GRU: h' = u⊙h + (1 − u)⊙c, c = tanh(xin2·Wc + cc), r, u = σ(xin·Wg + cg).
  fv Dh[MAX_N], Dzc[MAX_N], Dg2[2 * MAX_N];
  UNROLL
  for (int o = 0; o < N0; o++) {
    Dh[o] = Dhn[o] * u[o];
    const fv Du = Dhn[o] * (hv[o] - c[o]);
    Dzc[o] = Dhn[o] * (1.0f - u[o]) * (1.0f - c[o] * c[o]);
    Dg2[N0 + o] = Du * u[o] * (1.0f - u[o]);
    PACC(occ + o, Dzc[o]);
  }
  for (int i = 0; i < D; i++) {
    float* pp = part + (int64_t)(oWc + i * N0) * LANES;
    const float* wr = Wc + i * N0;
    const fv xi = xin2[i];
    fv s = zero;
    UNROLL
    for (int o = 0; o < N0; o++) {
      st(pp + o * LANES, madd(xi, Dzc[o], ld(pp + o * LANES)));
      s = madd(Dzc[o], splat(wr[o]), s);
    }
    if (i < F) {
      Dfeat[i] += s;
    } else {
      const int o = i - F;
      Dh[o] = madd(s, r[o], Dh[o]);
      Dg2[o] = s * hv[o] * r[o] * (1.0f - r[o]);
    }
  }
  UNROLL
  for (int o = 0; o < 2 * N0; o++) PACC(ocg + o, Dg2[o]);
  for (int i = 0; i < D; i++) {
    float* pp = part + (int64_t)(oWg + i * 2 * N0) * LANES;
    const float* wr = Wg + i * 2 * N0;
    const fv xi = xin[i];
    fv s = zero;
    UNROLL
    for (int o = 0; o < 2 * N0; o++) {
      st(pp + o * LANES, madd(xi, Dg2[o], ld(pp + o * LANES)));
      s = madd(Dg2[o], splat(wr[o]), s);
    }
    if (i < F) {
      Dfeat[i] += s;
    } else {
      Dh[i - F] += s;
    }
  }
  // Features (§4.6 order).
  UNROLL
  for (int i = 0; i < K; i++) Dx[i] += Dfeat[i];
  if (flags & F_GRAD_PRODUCTS) {
    UNROLL
    for (int i = 0; i + 1 < K; i++) {
      Dx[i] = madd(Dfeat[fProd + i], x[i + 1], Dx[i]);
      Dx[i + 1] = madd(Dfeat[fProd + i], x[i], Dx[i + 1]);
    }
  }
  fv DlogM[MAX_K];
  UNROLL
  for (int i = 0; i < K; i++) DlogM[i] = zero;
  if ((flags & F_LOG_MS) && K > 1) {
    fv tot = zero;
    UNROLL
    for (int i = 0; i < K; i++) tot += Dfeat[fLms + i];
    tot = tot / (float)K;
    UNROLL
    for (int i = 0; i < K; i++) DlogM[i] = Dfeat[fLms + i] - tot;
  }
  if (flags & F_RELATIVE_LR) {
    Dl += Dfeat[fRel];
    PACC(0, zero - Dfeat[fRel]);
  }
  if (flags & F_EXTREME) {
    const fv slope = vsel(l > 0.0f, one, zero) + vsel(extArg > 0.0f, one, zero);
    Dl = madd(Dfeat[fExt], slope, Dl);
  }
  if (flags & F_LR_SHORTCUT) Dl += Dfeat[fLrs];
  // Timescales: x_i = asinh(a'_i / √M_i), M_i = ms'_i + 1e-16, ms'_i = (1 − d̃_i)(a'² + 1e-12) + d̃_i·ms_i.
  fv Dg = zero, DdI[MAX_K], DdS[MAX_K];
  UNROLL
  for (int i = 0; i < K; i++) {
    const fv DM = Dx[i] * (-0.5f) * av[i] * ia[i] / M[i] + DlogM[i] / M[i];
    const fv Dm = ldn(P->dOms[i] + j, valid) + DM;
    const fv Da = ldn(P->dOacc[i] + j, valid) + Dx[i] * ia[i] + Dm * (1.0f - dd[i]) * 2.0f * av[i];
    stn(P->dMs[i] + j, Dm * dd[i], valid);
    DdS[i] = Dm * (mold[i] - q[i]) * nz[i];
    if (K == 1) {
      Dg += Da;
      DdI[i] = zero;
      stn(P->dAcc[i] + j, zero, valid);
    } else {
      Dg = madd(Da, 1.0f - dI[i], Dg);
      stn(P->dAcc[i] + j, Da * dI[i], valid);
      DdI[i] = Da * (aold[i] - gv);
    }
  }
  UNROLL
  for (int i = K - 1; i > 0; i--) {
    DdI[i - 1] += DdI[i] * 0.5f / dI[i];
    DdS[i - 1] += (flags & F_MULTI_SCALE_DECAYS) ? DdS[i] * 0.5f / dS[i] : DdS[i];
  }
  stn(P->dG + j, Dg, valid);
  stn(P->dInp + j, DdI[0], valid);
  stn(P->dScl + j, DdS[0], valid);
  if (dos) stn(P->dLr + j, Dl, valid);
  UNROLL
  for (int o = 0; o < N0; o++) scattern(P->dH + (int64_t)j * N0 + o, N0, Dh[o], valid);
}

static void VJP_NAME(const int32_t* a, const int32_t* v, uint8_t* base) {
  const int K = COORDS_K;
  const int n = a[A_N];
  const int count = v[V_COUNT];
  VPtrs P;
  P.g = fptr(a, A_G, base);
  P.h = fptr(a, A_H, base);
  P.inpD = fptr(a, A_INP, base);
  P.sclD = fptr(a, A_SCL, base);
  P.lr = fptr(a, A_LR, base);
  P.dOh = fptr(v, V_DOH, base);
  P.dOscl = fptr(v, V_DOSCL, base);
  P.dOinp = fptr(v, V_DOINP, base);
  P.dOlr = fptr(v, V_DOLR, base);
  P.dOstep = fptr(v, V_DOSTEP, base);
  P.dG = optr(v, V_DG, base);
  P.dH = optr(v, V_DH, base);
  P.dInp = optr(v, V_DINP, base);
  P.dScl = optr(v, V_DSCL, base);
  P.dLr = optr(v, V_DLR, base);
  UNROLL
  for (int i = 0; i < K; i++) {
    P.acc[i] = fptr(a, A_ACC + i, base);
    P.ms[i] = fptr(a, A_ACC + K + i, base);
    P.dOacc[i] = fptr(v, V_PTRS + i, base);
    P.dOms[i] = fptr(v, V_PTRS + K + i, base);
    P.dAcc[i] = optr(v, V_PTRS + 2 * K + i, base);
    P.dMs[i] = optr(v, V_PTRS + 3 * K + i, base);
  }
  double* cot = (double*)(base + (uint32_t)v[V_COT]);
  float* part = (float*)(base + (uint32_t)v[V_PART]);
  const float* dsum = (const float*)&v[V_FLOATS];
  for (int i = 0; i < count * LANES; i++) part[i] = 0.0f;
  for (int i = 0; i < count; i++) cot[i] = 0.0;
  const int full = n - n % LANES;
  int blocks = 0;
  for (int j0 = 0; j0 < full; j0 += LANES) {
    VBLOCK(a, &P, j0, LANES, part, dsum);
    if (++blocks == VJP_FLUSH) {
      blocks = 0;
      vjp_flush(part, cot, count);
    }
  }
  if (n > full) VBLOCK(a, &P, full, n - full, part, dsum);
  vjp_flush(part, cot, count);
}

#undef PACC
#undef VBLOCK
#undef VCAT
#undef VCAT_
