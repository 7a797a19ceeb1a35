/*
 * lopt: the body of the fused per-coordinate HRNN pass, included by hrnn_coords.c once per specialisation
 * (a C "template"). Before including, define COORDS_NAME (the function name), COORDS_K, COORDS_N0, COORDS_F
 * (compile-time constants, or reads of the argument block `a` for the generic copy) and UNROLL (a full-unroll
 * pragma, or nothing).
 *
 * Layout of the work: the coordinates are processed LANES·GROUPS at a time (16 with four lanes, 32 with eight),
 * as GROUPS groups of one SIMD vector that share every weight broadcast of the GRU. The main loop only sees
 * full blocks (no lane-count branches); the last partial block is copied into zero-padded local buffers, run through the same code and
 * copied back. Every pointer is read once into a local: stores through v128 intrinsics may alias anything, so
 * pointers kept in memory would be reloaded after every store.
 */
#define CAT_(x, y) x##y
#define CAT(x, y) CAT_(x, y)
#define BLOCK8 CAT(COORDS_NAME, _block8)

/*
 * out[s][o] = b[o] + Σ_i xin[s][i]·W[i·M + o] for each of the GROUPS groups s and o < M over the D inputs:
 * the groups share every weight broadcast (a bounds-checked linear-memory load on V8), OB outputs at a time
 * (GROUPS·OB accumulators + GROUPS inputs + 1 weight within the 16 SIMD registers of x64).
 */
#define AFFINE_G(out, xin, W, M, b)                                                         \
  do {                                                                                    \
    int o_ = 0;                                                                           \
    _Pragma("nounroll") for (; o_ + OB <= (M); o_ += OB) {                               \
      const float* w_ = (W) + o_;                                                         \
      fv ac_[GROUPS][OB];                                                                 \
      _Pragma("clang loop unroll(full)") for (int s_ = 0; s_ < GROUPS; s_++) {            \
        _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < OB; q_++) ac_[s_][q_] = splat((b)[o_ + q_]); \
      }                                                                                   \
      UNROLL for (int i_ = 0; i_ < D; i_++) {                                             \
        const float* wr_ = w_ + i_ * (M);                                                 \
        _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < OB; q_++) {              \
          const fv wv_ = splat(wr_[q_]);                                                  \
          _Pragma("clang loop unroll(full)") for (int s_ = 0; s_ < GROUPS; s_++)          \
            ac_[s_][q_] = madd((xin)[s_][i_], wv_, ac_[s_][q_]);                          \
        }                                                                                 \
      }                                                                                   \
      _Pragma("clang loop unroll(full)") for (int s_ = 0; s_ < GROUPS; s_++) {            \
        _Pragma("clang loop unroll(full)") for (int q_ = 0; q_ < OB; q_++) (out)[s_][o_ + q_] = ac_[s_][q_]; \
      }                                                                                   \
    }                                                                                     \
    for (; o_ < (M); o_++) {                                                              \
      fv e_[GROUPS];                                                                      \
      _Pragma("clang loop unroll(full)") for (int s_ = 0; s_ < GROUPS; s_++) e_[s_] = splat((b)[o_]); \
      for (int i_ = 0; i_ < D; i_++) {                                                    \
        const fv wv_ = splat((W)[i_ * (M) + o_]);                                         \
        _Pragma("clang loop unroll(full)") for (int s_ = 0; s_ < GROUPS; s_++)            \
          e_[s_] = madd((xin)[s_][i_], wv_, e_[s_]);                                      \
      }                                                                                   \
      _Pragma("clang loop unroll(full)") for (int s_ = 0; s_ < GROUPS; s_++) (out)[s_][o_] = e_[s_]; \
    }                                                                                     \
  } while (0)

/*
 * Coordinates j0 .. j0+LANES·GROUPS−1 (all present in P's arrays); `valid` (1..LANES·GROUPS) of them count in the per-tensor sums
 * (the rest are zero padding of a partial last block).
 */
static inline __attribute__((always_inline)) void BLOCK8(int32_t* a, const Ptrs* P, int j0, int valid,
                                                        Sums* S) {
  const int K = COORDS_K, N0 = COORDS_N0, F = COORDS_F;
  const int flags = a[A_FLAGS];
  const int D = F + N0;
  const float* g = P->g;
  const float* h = P->h;
  const float* inpD = P->inpD;
  const float* sclD = P->sclD;
  const float* lr = P->lr;
  float* oh = P->oh;
  float* oscl = P->oscl;
  float* oinp = P->oinp;
  float* olr = P->olr;
  float* ostep = P->ostep;
  const float* acc[MAX_K];
  const float* ms[MAX_K];
  float* oacc[MAX_K];
  float* oms[MAX_K];
  UNROLL
  for (int i = 0; i < K; i++) {
    acc[i] = P->acc[i];
    ms[i] = P->ms[i];
    oacc[i] = P->oacc[i];
    oms[i] = P->oms[i];
  }
  const float* fl = (const float*)&a[A_FLOATS];
  const float lrMean = fl[0], maxLogLr = fl[1], stepOffset = fl[2], lrMom = fl[3];
  const float bScl = fl[4], bInp = fl[5], bLr = fl[6];
  const float* nz = fl + 7;
  const float* Wg = nz + K;
  const float* cg = Wg + D * 2 * N0;
  const float* Wc = cg + 2 * N0;
  const float* cc = Wc + D * N0;
  const float* wU = cc + N0;
  const float* wS = wU + N0;
  const float* wI = wS + N0;
  const float* wL = wI + N0;
  const float* wGs = wL + N0;
  const int dos = flags & F_DOS;
  const fv zero = splat(0.0f);

  fv feat[GROUPS][MAX_F], hv[GROUPS][MAX_N], uv[GROUPS][MAX_N], x[GROUPS][MAX_K], lms[MAX_K], l[GROUPS];
  fv xin[GROUPS][MAX_F + MAX_N], gates[GROUPS][2 * MAX_N];
  UNROLL
  for (int s = 0; s < GROUPS; s++) {
    const int j = j0 + LANES * s;
    const fv gv = ld(g + j);
    l[s] = dos ? ld(lr + j) : zero;
    // Steps 1-4: decays, accumulators, mean squares, scaled inputs.
    fv dI = ld(inpD + j);
    fv dS = ld(sclD + j);
    fv logMsSum = zero;
    UNROLL
    for (int i = 0; i < K; i++) {
      if (i > 0) {
        dI = vsqrt(dI);
        if (flags & F_MULTI_SCALE_DECAYS) dS = vsqrt(dS);
      }
      fv av = K == 1 ? gv : (1.0f - dI) * gv + dI * ld(acc[i] + j);
      fv d = dS * nz[i];
      fv m = (1.0f - d) * (av * av + 1e-12f) + d * ld(ms[i] + j);
      st(oacc[i] + j, av);
      st(oms[i] + j, m);
      // x = asinh(a / √M) with M = ms' + 1e-16, written as ln(a + √(a² + M)) − ½·ln M: the same value (and the
      // same cancellation for large negative x as the reference's ln(x + √(x² + 1))), with ln M shared with the
      // log-mean-square feature and one square root and one division fewer.
      const fv mm = m + 1e-16f;
      const fv logM = vlog(mm);
      x[s][i] = vlog(av + vsqrt(av * av + mm)) - 0.5f * logM;
      if (flags & F_LOG_MS) {
        lms[i] = logM;
        logMsSum += logM;
      }
    }
    // Step 5: feature rows in §4.6 order.
    int f = 0;
    UNROLL
    for (int i = 0; i < K; i++) feat[s][f++] = x[s][i];
    if (flags & F_GRAD_PRODUCTS) {
      UNROLL
      for (int i = 0; i + 1 < K; i++) feat[s][f++] = x[s][i] * x[s][i + 1];
    }
    if (flags & F_LOG_MS) {
      fv mean = K == 1 ? zero : logMsSum / (float)K;
      UNROLL
      for (int i = 0; i < K; i++) feat[s][f++] = K == 1 ? lms[i] - lms[i] : lms[i] - mean;
    }
    if (flags & F_RELATIVE_LR) feat[s][f++] = l[s] - lrMean;
    if (flags & F_EXTREME) feat[s][f++] = vmax(l[s], zero) - vmax(-13.815510557964274f - l[s], zero);
    if (flags & F_LR_SHORTCUT) feat[s][f++] = l[s] - -6.907755278982137f;
    // Step 6 input: xin = [features, h].
    UNROLL
    for (int i = 0; i < F; i++) xin[s][i] = feat[s][i];
    UNROLL
    for (int i = 0; i < N0; i++) {
      hv[s][i] = gatherv(h + (int64_t)j * N0 + i, N0);
      xin[s][F + i] = hv[s][i];
    }
  }
  // Step 6: the parameter GRU (biases already include the tensor and global RNN contributions).
  AFFINE_G(gates, xin, Wg, 2 * N0, cg);
  UNROLL
  for (int s = 0; s < GROUPS; s++) {
    UNROLL
    for (int o = 0; o < N0; o++) {
      xin[s][F + o] = vsigmoid(gates[s][o]) * hv[s][o];
      uv[s][o] = vsigmoid(gates[s][N0 + o]);
    }
  }
  AFFINE_G(gates, xin, Wc, N0, cc);
  // This block's sums, kept in registers and added to S once per block.
  fv bH[MAX_N], bF[MAX_F], bD2 = zero;
  UNROLL
  for (int i = 0; i < N0; i++) bH[i] = zero;
  UNROLL
  for (int i = 0; i < F; i++) bF[i] = zero;
  UNROLL
  for (int s = 0; s < GROUPS; s++) {
    const int j = j0 + LANES * s;
    fv hn[MAX_N];
    UNROLL
    for (int o = 0; o < N0; o++) {
      fv cand = vtanh(gates[s][o]);
      hn[o] = uv[s][o] * (hv[s][o] - cand) + cand;
      scatterv(oh + (int64_t)j * N0 + o, N0, hn[o]);
    }
    // Steps 8-10: readouts.
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
      for (int i = 0; i < K; i++) du += x[s][i] * wGs[i];
    }
    st(oscl + j, (flags & F_LEARNED_SCL) ? vsigmoid(rs) : splat(0.93f));
    st(oinp + j, (flags & F_LEARNED_INP) ? vsigmoid(ri) : splat(0.89f));
    fv step = du;
    if (dos) {
      fv clipped = vmin(vmax(l[s] + rl, splat(-33.0f)), splat(maxLogLr));
      st(olr + j, lrMom * l[s] + (1.0f - lrMom) * clipped);
      step = vexp(clipped + stepOffset) * du;
    }
    st(ostep + j, step);
    // Per-tensor sums (zero-padding lanes of a partial last block masked out).
    if (valid >= LANES * s + LANES) {
      UNROLL
      for (int i = 0; i < N0; i++) bH[i] += hn[i];
      UNROLL
      for (int i = 0; i < F; i++) bF[i] += feat[s][i];
      bD2 += du * du;
    } else {
      iv in = LANE_IDS < valid - LANES * s;
      UNROLL
      for (int i = 0; i < N0; i++) bH[i] += vsel(in, hn[i], zero);
      UNROLL
      for (int i = 0; i < F; i++) bF[i] += vsel(in, feat[s][i], zero);
      bD2 += vsel(in, du * du, zero);
    }
  }
  UNROLL
  for (int i = 0; i < N0; i++) S->accH[i] += bH[i];
  UNROLL
  for (int i = 0; i < F; i++) S->accF[i] += bF[i];
  S->accD2 += bD2;
}

/* Adds the SIMD partial sums into the double sums block and clears them. */
static inline __attribute__((always_inline)) void CAT(COORDS_NAME, _flush)(int32_t* a, Sums* S, double* sums) {
  const int N0 = COORDS_N0, F = COORDS_F;
  UNROLL
  for (int i = 0; i < N0; i++) {
    sums[i] += hsum(S->accH[i]);
    S->accH[i] = splat(0.0f);
  }
  UNROLL
  for (int i = 0; i < F; i++) {
    sums[N0 + i] += hsum(S->accF[i]);
    S->accF[i] = splat(0.0f);
  }
  sums[N0 + F] += hsum(S->accD2);
  S->accD2 = splat(0.0f);
  (void)a;
}

static void COORDS_NAME(int32_t* a, uint8_t* base) {
  const int K = COORDS_K, N0 = COORDS_N0, F = COORDS_F;
  const int n = a[A_N];
  Ptrs P;
  P.g = fptr(a, A_G, base);
  P.h = fptr(a, A_H, base);
  P.inpD = fptr(a, A_INP, base);
  P.sclD = fptr(a, A_SCL, base);
  P.lr = fptr(a, A_LR, base);
  P.oh = optr(a, A_OUT_H, base);
  P.oscl = optr(a, A_OUT_SCL, base);
  P.oinp = optr(a, A_OUT_INP, base);
  P.olr = optr(a, A_OUT_LR, base);
  P.ostep = optr(a, A_OUT_STEP, base);
  UNROLL
  for (int i = 0; i < K; i++) {
    P.acc[i] = fptr(a, A_ACC + i, base);
    P.ms[i] = fptr(a, A_ACC + K + i, base);
    P.oacc[i] = optr(a, A_ACC + 2 * K + i, base);
    P.oms[i] = optr(a, A_ACC + 3 * K + i, base);
  }
  double* sums = (double*)(base + (uint32_t)a[A_SUMS]);
  Sums S;
  UNROLL
  for (int i = 0; i < N0; i++) S.accH[i] = splat(0.0f);
  UNROLL
  for (int i = 0; i < F; i++) S.accF[i] = splat(0.0f);
  S.accD2 = splat(0.0f);
  UNROLL
  for (int i = 0; i < N0 + F + 1; i++) sums[i] = 0.0;

  const int full = n - n % (LANES * GROUPS);
  int blocks = 0;
  for (int j0 = 0; j0 < full; j0 += LANES * GROUPS) {
    BLOCK8(a, &P, j0, LANES * GROUPS, &S);
    if (++blocks == 128) {
      blocks = 0;
      CAT(COORDS_NAME, _flush)(a, &S, sums);
    }
  }
  const int rem = n - full;
  if (rem > 0) {
    // The partial last block: zero-padded copies in, the same code, the valid part copied back.
    Tail T;
    Ptrs Q;
    tail_in(&T, &Q, &P, full, rem, K, N0);
    BLOCK8(a, &Q, 0, rem, &S);
    tail_out(&Q, &P, full, rem, K, N0, a[A_FLAGS] & F_DOS);
  }
  CAT(COORDS_NAME, _flush)(a, &S, sums);
}

#undef AFFINE_G
#undef BLOCK8
#undef CAT
#undef CAT_
