/* lopt HRNN kernel: SIMD helpers and the vector exp / log / sigmoid / tanh of the passes (included by hrnn_coords.c). */
#if LANES == 16
static inline fv splat(float x) { return (fv){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
#elif LANES == 8
static inline fv splat(float x) { return (fv){x, x, x, x, x, x, x, x}; }
#else
static inline fv splat(float x) { return (fv){x, x, x, x}; }
#endif

/* Lane indices 0 .. LANES−1 (masks for a partial block). */
#if LANES == 16
#define LANE_IDS ((iv){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
#elif LANES == 8
#define LANE_IDS ((iv){0, 1, 2, 3, 4, 5, 6, 7})
#else
#define LANE_IDS ((iv){0, 1, 2, 3})
#endif

/* Σ of the lanes in double precision, in lane order. */
static inline double hsum(fv v) {
  double r = v[0];
  for (int k = 1; k < LANES; k++) r += v[k];
  return r;
}

/* a·b + c (two instructions in wasm: fused multiply-add needs relaxed SIMD, which clang 14 cannot target; one FMA
 * instruction natively where the target has it). */
#ifdef __wasm_relaxed_simd__
static inline fv madd(fv a, fv b, fv c) { return (fv)wasm_f32x4_relaxed_madd((v128_t)a, (v128_t)b, (v128_t)c); }
#elif LANES == 16
static inline fv madd(fv a, fv b, fv c) { return (fv)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c); }
#elif defined(__FMA__) && LANES == 8
static inline fv madd(fv a, fv b, fv c) { return (fv)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c); }
#else
static inline fv madd(fv a, fv b, fv c) { return a * b + c; }
#endif

/*
 * e^x: x = n·ln2 + r (Cephes' two-part ln2), e^r by a degree-5 polynomial, 2^n from exponent bits. n is rounded with the
 * 1.5·2^23 trick (its integer sits in the low mantissa bits), cheaper than f32x4.nearest + trunc_sat on V8.
 * pmin/pmax (one instruction each) keep a NaN input as NaN because x is their first operand.
 */
static inline fv vexp(fv x) {
  x = vpmax(x, splat(-87.3f));
  x = vpmin(x, splat(88.3f));
  const float magic = 12582912.0f;
  fv t = x * 1.44269504088896341f + magic;
  fv n = t - magic;
  fv r = x - n * 0.693359375f + n * 2.12194440e-4f;
  // e^r = 1 + r + r²·q(r) with q of degree 3 fitted for minimal relative error on [−ln2/2, ln2/2]
  // (max 2e-7 in float32, measured over 2e5 points).
  fv q = madd(r, splat(8.312524894676234e-3f), splat(4.189011520219711e-2f));
  q = madd(q, r, splat(1.6667114472984196e-1f));
  q = madd(q, r, splat(4.9999231775714237e-1f));
  fv p = madd(r * r, q, r) + 1.0f;
  iv e = ((iv)t - 0x4B400000 + 127) << 23;
  return p * (fv)e;
}

/*
 * ln x: x = m·2^e with m in [√½, √2) (Cephes' reduction), ln m = 2·atanh(s) = 2s + s³·P(s²) with s = (m − 1)/(m + 1)
 * (|s| ≤ 0.1716) and P of degree 2 fitted for minimal relative error (max 1.7e-7 in float32 over 2e5 points);
 * fewer operations than Cephes' degree-9 polynomial. ln 0 = −∞; negative and NaN inputs give NaN; +∞ is not
 * special-cased (never an input here: ms + 1e-16 and a + √(a² + M) are finite for finite gradients).
 */
static inline fv vlog(fv x) {
  iv xi = (iv)x;
  iv e = (xi >> 23) - 126;
  fv m = (fv)((xi & 0x807fffff) | 0x3f000000);
  iv small = m < 0.707106781186547524f;
  fv ef = __builtin_convertvector(e + small, fv);
  m = m + (fv)((iv)m & small);
  fv s = (m - 1.0f) / (m + 1.0f);
  fv t = s * s;
  fv p = madd(madd(t, splat(2.9871044825623466e-1f), splat(3.997756972901198e-1f)), t,
              splat(6.66667761221169e-1f));
  fv y = madd(s * t, p, s + s);
  fv res = madd(ef, splat(0.693359375f), madd(ef, splat(-2.12194440e-4f), y));
  iv bad = ~(x > 0.0f);
  if (vany(bad)) {
    res = vsel(x == 0.0f, splat(-__builtin_inff()), vsel(bad, splat(__builtin_nanf("")), res));
  }
  return res;
}

static inline fv vsigmoid(fv x) { return 1.0f / (1.0f + vexp(-x)); }
static inline fv vtanh(fv x) { return 2.0f * vsigmoid(2.0f * x) - 1.0f; }
