/*
 * lopt: the vector primitives of hrnn_coords.c for native x86-64, with the same semantics as their WebAssembly
 * versions there, NaN included: SSE2 with four lanes, AVX2 with eight, AVX-512 with sixteen (LANES). vmin/vmax propagate NaN (x86's
 * minps/maxps return the second operand when either is NaN, so NaN lanes are patched in); vpmin/vpmax are exactly
 * minps/maxps with the operands swapped. Included only when the kernel is not compiled for WebAssembly, after
 * LANES, fv and iv are defined.
 */
#include <immintrin.h>

#if LANES == 16
typedef __m512 vreg;
#define V_(op) _mm512_##op
#define V_MOVEMASK(m) _mm512_test_epi32_mask((__m512i)(m), (__m512i)(m))
#elif LANES == 8
typedef __m256 vreg;
#define V_(op) _mm256_##op
#define V_MOVEMASK(m) _mm256_movemask_ps((__m256)(m))
#else
typedef __m128 vreg;
#define V_(op) _mm_##op
#define V_MOVEMASK(m) _mm_movemask_ps((__m128)(m))
#endif

static inline fv vpmin(fv a, fv b) { return (fv)V_(min_ps)((vreg)b, (vreg)a); }
static inline fv vpmax(fv a, fv b) { return (fv)V_(max_ps)((vreg)b, (vreg)a); }
static inline fv vsqrt(fv a) { return (fv)V_(sqrt_ps)((vreg)a); }
static inline fv vsel(iv m, fv a, fv b) { return (fv)(((iv)a & m) | ((iv)b & ~m)); }
/* Masks here are whole lanes (comparison results), so the lanes' sign bits say whether any is set. */
static inline int vany(iv m) { return V_MOVEMASK(m) != 0; }
/* NaN lanes (a + b is NaN where either is) over minps/maxps. */
static inline fv vmin(fv a, fv b) {
  iv nan = (iv)(a != a) | (iv)(b != b);
  return vsel(nan, a + b, (fv)V_(min_ps)((vreg)a, (vreg)b));
}
static inline fv vmax(fv a, fv b) {
  iv nan = (iv)(a != a) | (iv)(b != b);
  return vsel(nan, a + b, (fv)V_(max_ps)((vreg)a, (vreg)b));
}
static inline fv ld(const float* p) { return (fv)V_(loadu_ps)(p); }
static inline void st(float* p, fv v) { V_(storeu_ps)(p, (vreg)v); }
static inline fv gatherv(const float* p, int stride) {
#if LANES == 16
  return (fv){p[0],           p[stride],      p[2 * stride],  p[3 * stride],  p[4 * stride],  p[5 * stride],
              p[6 * stride],  p[7 * stride],  p[8 * stride],  p[9 * stride],  p[10 * stride], p[11 * stride],
              p[12 * stride], p[13 * stride], p[14 * stride], p[15 * stride]};
#elif LANES == 8
  return (fv){p[0], p[stride], p[2 * stride], p[3 * stride], p[4 * stride], p[5 * stride], p[6 * stride],
              p[7 * stride]};
#else
  return (fv){p[0], p[stride], p[2 * stride], p[3 * stride]};
#endif
}
static inline void scatterv(float* p, int stride, fv v) {
  for (int k = 0; k < LANES; k++) p[k * stride] = v[k];
}
