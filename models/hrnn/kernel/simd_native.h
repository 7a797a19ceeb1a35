/*
 * lopt: native x86-64 stand-ins (SSE2; AVX2/FMA when the target has them) for the WebAssembly SIMD intrinsics that
 * hrnn_coords.c uses, with the same semantics, NaN included: f32x4.min/max propagate NaN (SSE's minps/maxps
 * return the second operand instead, so NaN lanes are patched in); pmin/pmax are exactly minps/maxps with the
 * operands swapped. Included only when the kernel is not compiled for WebAssembly.
 */
#include <immintrin.h>
typedef float v128_t __attribute__((vector_size(16)));
static inline v128_t wasm_v128_load(const void* p) { return (v128_t)_mm_loadu_ps((const float*)p); }
static inline void wasm_v128_store(void* p, v128_t v) { _mm_storeu_ps((float*)p, (__m128)v); }
static inline v128_t wasm_f32x4_make(float a, float b, float c, float d) { return (v128_t)_mm_setr_ps(a, b, c, d); }
#define wasm_f32x4_extract_lane(v, i) (((v128_t)(v))[i])
static inline v128_t wasm_f32x4_pmin(v128_t a, v128_t b) { return (v128_t)_mm_min_ps((__m128)b, (__m128)a); }
static inline v128_t wasm_f32x4_pmax(v128_t a, v128_t b) { return (v128_t)_mm_max_ps((__m128)b, (__m128)a); }
static inline v128_t wasm_f32x4_min(v128_t a, v128_t b) {
  __m128 nan = _mm_cmpunord_ps((__m128)a, (__m128)b);
  return (v128_t)_mm_or_ps(_mm_andnot_ps(nan, _mm_min_ps((__m128)a, (__m128)b)), _mm_and_ps(nan, _mm_add_ps((__m128)a, (__m128)b)));
}
static inline v128_t wasm_f32x4_max(v128_t a, v128_t b) {
  __m128 nan = _mm_cmpunord_ps((__m128)a, (__m128)b);
  return (v128_t)_mm_or_ps(_mm_andnot_ps(nan, _mm_max_ps((__m128)a, (__m128)b)), _mm_and_ps(nan, _mm_add_ps((__m128)a, (__m128)b)));
}
static inline v128_t wasm_f32x4_sqrt(v128_t a) { return (v128_t)_mm_sqrt_ps((__m128)a); }
static inline v128_t wasm_v128_bitselect(v128_t a, v128_t b, v128_t m) {
  return (v128_t)_mm_or_ps(_mm_and_ps((__m128)a, (__m128)m), _mm_andnot_ps((__m128)m, (__m128)b));
}
static inline int wasm_v128_any_true(v128_t v) { return _mm_movemask_epi8((__m128i)v) != 0; }
