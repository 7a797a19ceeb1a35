/*
 * lopt: the per-coordinate part of one hierarchical-RNN update (docs/design.md §4.7 steps 1-6, 8-10), fused
 * into one pass over a parameter tensor's coordinates, for inference (no gradients). Compiled to WebAssembly
 * with SIMD (4 coordinates per vector) by models/hrnn/kernel/build.ts; the module imports the tfjs wasm
 * backend's memory, so it reads the optimizer state and writes the new state in place of tfjs tensors with no
 * copies. The TypeScript driver (models/hrnn/fused.ts) documents the argument block and does the per-tensor
 * and global parts (tensor RNN, global RNN, RMS normalisation) with the sums this pass returns.
 *
 * The module has no data segment and uses only the stack the caller provides (the driver sets
 * __stack_pointer to the top of a scratch block it allocated on the tfjs heap before every call).
 *
 * The same source also compiles natively for x86-64 (build.ts: a baseline SSE2 library, an x86-64-v3 one with AVX2
 * and FMA, an x86-64-v4 one with AVX-512), loaded through Deno's FFI by models/hrnn/native.ts: there
 * `simd_native.h` gives the vector primitives the same semantics (NaN included), vectors have 4, 8 or 16 lanes,
 * multiply-adds fuse when the target has FMA, and every pointer in the argument block is an offset from the start
 * of the tfjs heap that the caller passes in.
 *
 * Numerics: exp and log (small fitted polynomials) have relative errors of about 2e-7; tanh(x) = 2σ(2x) − 1
 * as on the ops path; asinh(a/√M) is evaluated as ln(a + √(a² + M)) − ½·ln M (same value, sharing ln M with the
 * log-mean-square feature). Results agree with the ops path to float32 rounding (tests/models/hrnn/fused_test.ts).
 */
#include <stdint.h>

/* Coordinates per SIMD vector: 4 (WebAssembly SIMD, SSE2), 8 natively with AVX2, 16 with AVX-512. */
#if !defined(__wasm__) && defined(__AVX512F__)
#define LANES 16
#elif !defined(__wasm__) && defined(__AVX2__)
#define LANES 8
#else
#define LANES 4
#endif
typedef float fv __attribute__((vector_size(4 * LANES)));
typedef int32_t iv __attribute__((vector_size(4 * LANES)));

/*
 * Per-target vector primitives, with WebAssembly semantics everywhere: vmin/vmax propagate NaN, vpmin(a, b) =
 * b < a ? b : a and vpmax(a, b) = a < b ? b : a, vsel(m, a, b) takes a where m is set, vany is "any lane set",
 * ld/st are unaligned, gatherv/scatterv read/write LANES floats at a stride (lanes built with constant indices:
 * a lane written through a variable index goes through the stack and stalls store forwarding).
 */
#ifdef __wasm__
#include <wasm_simd128.h>
#define EXPORT(name) __attribute__((export_name(name)))
static inline fv vmin(fv a, fv b) { return (fv)wasm_f32x4_min((v128_t)a, (v128_t)b); }
static inline fv vmax(fv a, fv b) { return (fv)wasm_f32x4_max((v128_t)a, (v128_t)b); }
static inline fv vpmin(fv a, fv b) { return (fv)wasm_f32x4_pmin((v128_t)a, (v128_t)b); }
static inline fv vpmax(fv a, fv b) { return (fv)wasm_f32x4_pmax((v128_t)a, (v128_t)b); }
static inline fv vsqrt(fv a) { return (fv)wasm_f32x4_sqrt((v128_t)a); }
static inline fv vsel(iv m, fv a, fv b) { return (fv)wasm_v128_bitselect((v128_t)a, (v128_t)b, (v128_t)m); }
static inline int vany(iv m) { return wasm_v128_any_true((v128_t)m); }
static inline fv ld(const float* p) { return (fv)wasm_v128_load(p); }
static inline void st(float* p, fv v) { wasm_v128_store(p, (v128_t)v); }
static inline fv gatherv(const float* p, int stride) {
  return (fv)wasm_f32x4_make(p[0], p[stride], p[2 * stride], p[3 * stride]);
}
static inline void scatterv(float* p, int stride, fv v) {
  p[0] = wasm_f32x4_extract_lane((v128_t)v, 0);
  p[stride] = wasm_f32x4_extract_lane((v128_t)v, 1);
  p[2 * stride] = wasm_f32x4_extract_lane((v128_t)v, 2);
  p[3 * stride] = wasm_f32x4_extract_lane((v128_t)v, 3);
}
#else
#define EXPORT(name) __attribute__((visibility("default")))
#include "simd_native.h"
#endif

#define MAX_K 16
#define MAX_F 52
#define MAX_N 64

/*
 * GROUPS vectors of coordinates share each weight broadcast of the GRU; OB outputs are accumulated at a time.
 * Measured best: 4 × 2 with 4 lanes (WebAssembly; 16 SIMD registers), 1 × 4 with 8 or 16 lanes natively (wider
 * vectors already amortise the broadcasts, and fewer live arrays spill less): 45 vs 52 ns per coordinate with
 * AVX-512, 55 vs 67 with AVX2, at 1e6 coordinates on this project's machines.
 */
#ifndef GROUPS
#if LANES >= 8
#define GROUPS 1
#else
#define GROUPS 4
#endif
#endif
#ifndef OB
#if LANES >= 8
#define OB 4
#else
#define OB 2
#endif
#endif
#define BLK (LANES * GROUPS)

/* Flags (argument block int 4). */
#define F_GRAD_PRODUCTS 1
#define F_LOG_MS 2
#define F_RELATIVE_LR 4
#define F_EXTREME 8
#define F_LR_SHORTCUT 16
#define F_MULTI_SCALE_DECAYS 32
#define F_LEARNED_SCL 64
#define F_LEARNED_INP 128
#define F_GRAD_SHORTCUT 256
#define F_DOS 512

/* Integer argument block layout (int32 words). */
#define A_N 0
#define A_K 1
#define A_N0 2
#define A_F 3
#define A_FLAGS 4
#define A_G 5
#define A_H 6
#define A_INP 7
#define A_SCL 8
#define A_LR 9
#define A_OUT_H 10
#define A_OUT_SCL 11
#define A_OUT_INP 12
#define A_OUT_LR 13
#define A_OUT_STEP 14
#define A_ACC 16  /* K pointers: accumulators in, then ms in, accumulators out, ms out */
#define A_FLOATS 96  /* float block starts at word 96 */
#define A_SUMS 80    /* word offset of a pointer to the double sums block */

#include "simd_math.h"

/* The data pointers of one pass (inputs, then outputs). */
typedef struct {
  const float *g, *h, *inpD, *sclD, *lr;
  float *oh, *oscl, *oinp, *olr, *ostep;
  const float* acc[MAX_K];
  const float* ms[MAX_K];
  float* oacc[MAX_K];
  float* oms[MAX_K];
} Ptrs;

/* SIMD partial sums of h', the features and d² (flushed into doubles every 128 blocks). */
typedef struct {
  fv accH[MAX_N];
  fv accF[MAX_F];
  fv accD2;
} Sums;

/* Zero-padded buffers for the last partial block of eight coordinates. */
typedef struct {
  float g[BLK], h[BLK * MAX_N], inpD[BLK], sclD[BLK], lr[BLK];
  float oh[BLK * MAX_N], oscl[BLK], oinp[BLK], olr[BLK], ostep[BLK];
  float acc[MAX_K][BLK], ms[MAX_K][BLK], oacc[MAX_K][BLK], oms[MAX_K][BLK];
} Tail;

static void copy_in(float* dst, const float* src, int count, int total) {
  for (int i = 0; i < total; i++) dst[i] = i < count ? src[i] : 0.0f;
}

/* Points Q at T's buffers, filled with coordinates from..from+rem-1 of P and zeros after them. */
static void tail_in(Tail* T, Ptrs* Q, const Ptrs* P, int from, int rem, int K, int N0) {
  copy_in(T->g, P->g + from, rem, BLK);
  copy_in(T->h, P->h + (int64_t)from * N0, rem * N0, BLK * N0);
  copy_in(T->inpD, P->inpD + from, rem, BLK);
  copy_in(T->sclD, P->sclD + from, rem, BLK);
  if (P->lr) copy_in(T->lr, P->lr + from, rem, BLK);
  for (int i = 0; i < K; i++) {
    copy_in(T->acc[i], P->acc[i] + from, rem, BLK);
    copy_in(T->ms[i], P->ms[i] + from, rem, BLK);
    Q->acc[i] = T->acc[i];
    Q->ms[i] = T->ms[i];
    Q->oacc[i] = T->oacc[i];
    Q->oms[i] = T->oms[i];
  }
  Q->g = T->g;
  Q->h = T->h;
  Q->inpD = T->inpD;
  Q->sclD = T->sclD;
  Q->lr = T->lr;
  Q->oh = T->oh;
  Q->oscl = T->oscl;
  Q->oinp = T->oinp;
  Q->olr = T->olr;
  Q->ostep = T->ostep;
}

/* Copies the first rem coordinates of Q's outputs to P's outputs at `from`. */
static void tail_out(const Ptrs* Q, const Ptrs* P, int from, int rem, int K, int N0, int dos) {
  for (int i = 0; i < rem * N0; i++) P->oh[(int64_t)from * N0 + i] = Q->oh[i];
  for (int q = 0; q < rem; q++) {
    P->oscl[from + q] = Q->oscl[q];
    P->oinp[from + q] = Q->oinp[q];
    if (dos) P->olr[from + q] = Q->olr[q];
    P->ostep[from + q] = Q->ostep[q];
    for (int i = 0; i < K; i++) {
      P->oacc[i][from + q] = Q->oacc[i][q];
      P->oms[i][from + q] = Q->oms[i][q];
    }
  }
}

/* Argument-block pointer `word` as an address: heap offset + base (0 in wasm, where offsets are addresses); 0 → NULL. */
static const float* fptr(const int32_t* a, int word, uint8_t* base) {
  return a[word] ? (const float*)(base + (uint32_t)a[word]) : 0;
}
static float* optr(const int32_t* a, int word, uint8_t* base) {
  return a[word] ? (float*)(base + (uint32_t)a[word]) : 0;
}

/*
 * One pass over the n coordinates of a tensor. Float block (from word A_FLOATS): lrMean, maxLogLr,
 * stepOffset, lrMomentum (σ of its logit), bScl, bInp, bLr, nz[K] (1 where that ms_i has a non-zero
 * element), then Wg [(F+N0)·2N0] row-major, cg [2N0] (learned bias plus the external bias), Wc [(F+N0)·N0],
 * cc [N0], wU [N0], wS [N0], wI [N0], wL [N0], wGs [K]. Sums (doubles, pointer at word A_SUMS): Σh' [N0],
 * Σfeatures [F], Σd² over coordinates.
 */
#define UNROLL_FULL _Pragma("clang loop unroll(full)")

/* The paper configuration (K = 4, N0 = 10, F = 12), specialised: constant trip counts, loops unrolled. */
#define COORDS_NAME coords_paper
#define COORDS_K 4
#define COORDS_N0 10
#define COORDS_F 12
#define UNROLL UNROLL_FULL
#include "hrnn_coords_body.h"
#undef COORDS_NAME
#undef COORDS_K
#undef COORDS_N0
#undef COORDS_F
#undef UNROLL

/* Any other configuration. */
#define COORDS_NAME coords_generic
#define COORDS_K a[A_K]
#define COORDS_N0 a[A_N0]
#define COORDS_F a[A_F]
#define UNROLL
#include "hrnn_coords_body.h"
#undef COORDS_NAME
#undef COORDS_K
#undef COORDS_N0
#undef COORDS_F
#undef UNROLL

/*
 * The vector-Jacobian product of the pass (hrnn_vjp_body.h), for meta-training. Second argument block `v`
 * (int32 words): V_COUNT the number of float-block entries, V_DOH … V_DOSTEP the cotangents of h', scl', inp',
 * log LR' and the step, V_DG … V_DLR the cotangents it writes for g, h, inp_decay, scl_decay and the log LR,
 * V_COT a pointer to V_COUNT doubles (the float block's cotangents, same indices as the float block),
 * V_PART a pointer to V_COUNT·LANES floats of scratch, V_PTRS… 4K pointers (cotangents of a'_i and ms'_i in,
 * cotangents of a_i and ms_i out), V_FLOATS… the cotangents of Σh' [N0], Σfeatures [F] and Σd².
 */
#define V_COUNT 0
#define V_DOH 1
#define V_DOSCL 2
#define V_DOINP 3
#define V_DOLR 4
#define V_DOSTEP 5
#define V_DG 6
#define V_DH 7
#define V_DINP 8
#define V_DSCL 9
#define V_DLR 10
#define V_COT 11
#define V_PART 12
#define V_PTRS 16
#define V_FLOATS 96
/* Blocks of LANES coordinates between additions of the SIMD partial sums into the doubles. */
#define VJP_FLUSH 64

typedef struct {
  const float *g, *h, *inpD, *sclD, *lr;
  const float *dOh, *dOscl, *dOinp, *dOlr, *dOstep;
  float *dG, *dH, *dInp, *dScl, *dLr;
  const float* acc[MAX_K];
  const float* ms[MAX_K];
  const float* dOacc[MAX_K];
  const float* dOms[MAX_K];
  float* dAcc[MAX_K];
  float* dMs[MAX_K];
} VPtrs;

#include "masked_io.h"

/* cot[i] += Σ lanes of part[i] (double), part cleared. */
static void vjp_flush(float* part, double* cot, int count) {
  for (int i = 0; i < count; i++) {
    cot[i] += hsum(ld(part + (int64_t)i * LANES));
    st(part + (int64_t)i * LANES, splat(0.0f));
  }
}

#define VJP_NAME vjp_paper
#define COORDS_K 4
#define COORDS_N0 10
#define COORDS_F 12
#define UNROLL UNROLL_FULL
#include "hrnn_vjp_body.h"
#undef VJP_NAME
#undef COORDS_K
#undef COORDS_N0
#undef COORDS_F
#undef UNROLL

#define VJP_NAME vjp_generic
#define COORDS_K a[A_K]
#define COORDS_N0 a[A_N0]
#define COORDS_F a[A_F]
#define UNROLL
#include "hrnn_vjp_body.h"

static void run_vjp(const int32_t* a, const int32_t* v, uint8_t* base) {
  if (a[A_K] == 4 && a[A_N0] == 10 && a[A_F] == 12) {
    vjp_paper(a, v, base);
  } else {
    vjp_generic(a, v, base);
  }
}

/*
 * Entry point. The paper configuration (K = 4, N0 = 10, F = 12) gets a copy specialised at compile time
 * (constant trip counts: the GRU loops unroll and the weight offsets become immediates, about 5x faster);
 * every other configuration runs the generic copy.
 */
static void run_coords(int32_t* a, uint8_t* base) {
  const int K = a[A_K], N0 = a[A_N0], F = a[A_F];
  if (K == 4 && N0 == 10 && F == 12) {
    coords_paper(a, base);
  } else {
    coords_generic(a, base);
  }
}

#include "entry_points.h"
