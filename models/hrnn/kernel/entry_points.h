/* lopt HRNN kernel: the exported entry points (wasm and native), CPU-feature probes and small array helpers (included last by hrnn_coords.c). */
#ifdef __wasm__
EXPORT("hrnn_coords") void hrnn_coords(int32_t* a) { run_coords(a, (uint8_t*)0); }
EXPORT("hrnn_vjp") void hrnn_vjp(int32_t* a, int32_t* v) {
  /* Offsets are addresses in wasm: base 0, hidden from the optimiser (arithmetic on a known null pointer is
   * undefined behaviour in C, which clang may exploit). */
  uint8_t* base = (uint8_t*)0;
  __asm__("" : "+r"(base));
  run_vjp(a, v, base);
}
#else
/* Native entry: `base` is the start of the tfjs wasm heap, `args` the argument block's offset in it. */
EXPORT("hrnn_coords_native") void hrnn_coords_native(uint8_t* base, int32_t args) {
  run_coords((int32_t*)(base + (uint32_t)args), base);
}
/* Native VJP entry: argument blocks `args` (the forward's) and `vargs` (hrnn_vjp_body.h), offsets in the heap. */
EXPORT("hrnn_vjp_native") void hrnn_vjp_native(uint8_t* base, int32_t args, int32_t vargs) {
  run_vjp((const int32_t*)(base + (uint32_t)args), (const int32_t*)(base + (uint32_t)vargs), base);
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/*
 * 1 when this CPU and OS run x86-64-v3 code (AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, and the OS saves
 * the YMM registers), else 0. The loader asks the baseline library before it opens the v3 one. Uses only
 * baseline instructions (cpuid; xgetbv only once OSXSAVE says it exists).
 */
EXPORT("lopt_x86_64_v3_supported") int lopt_x86_64_v3_supported(void) {
  uint32_t r[4];
  cpuid(0, 0, r);
  if (r[0] < 7) return 0;
  cpuid(1, 0, r);
  const uint32_t ecx1 = r[2];
  const uint32_t need1 = (1u << 12) | (1u << 22) | (1u << 27) | (1u << 28) | (1u << 29); /* fma movbe osxsave avx f16c */
  if ((ecx1 & need1) != need1) return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  if ((lo & 6) != 6) return 0; /* XMM and YMM state enabled by the OS */
  cpuid(7, 0, r);
  const uint32_t need7 = (1u << 3) | (1u << 5) | (1u << 8); /* bmi1 avx2 bmi2 */
  if ((r[1] & need7) != need7) return 0;
  cpuid(0x80000000u, 0, r);
  if (r[0] < 0x80000001u) return 0;
  cpuid(0x80000001u, 0, r);
  return (r[2] >> 5) & 1; /* lzcnt (abm) */
}

/*
 * 1 when this CPU and OS also run x86-64-v4 code (AVX-512 F, BW, CD, DQ, VL, and the OS saves the opmask and
 * ZMM registers), else 0.
 */
EXPORT("lopt_x86_64_v4_supported") int lopt_x86_64_v4_supported(void) {
  if (!lopt_x86_64_v3_supported()) return 0;
  uint32_t lo, hi, r[4];
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  if ((lo & 0xe6) != 0xe6) return 0; /* XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM */
  cpuid(7, 0, r);
  const uint32_t need = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31); /* f dq cd bw vl */
  return (r[1] & need) == need;
}

#endif

#ifdef __wasm__

/* Σ p[0..n) in double precision. */
EXPORT("sum_f32") double sum_f32(const float* p, int n) {
  double s = 0.0;
  fv acc = splat(0.0f);
  int j = 0, groups = 0;
  for (; j + 4 <= n; j += 4) {
    acc += (fv)wasm_v128_load(p + j);
    if (++groups == 256) {
      s += (double)acc[0] + acc[1] + acc[2] + acc[3];
      acc = splat(0.0f);
      groups = 0;
    }
  }
  s += (double)acc[0] + acc[1] + acc[2] + acc[3];
  for (; j < n; j++) s += p[j];
  return s;
}

/* 1 when some element of p[0..n) is not zero (stops at the first one), else 0. */
EXPORT("any_nonzero") int any_nonzero(const float* p, int n) {
  for (int j = 0; j < n; j++) {
    if (p[j] != 0.0f) return 1;
  }
  return 0;
}

/* p[i] += s in place. */
EXPORT("add_f32") void add_f32(float* p, int n, float s) {
  for (int j = 0; j < n; j++) p[j] += s;
}

/* p[i] *= s in place. */
EXPORT("scale_f32") void scale_f32(float* p, int n, float s) {
  int j = 0;
  for (; j + 4 <= n; j += 4) wasm_v128_store(p + j, (v128_t)((fv)wasm_v128_load(p + j) * s));
  for (; j < n; j++) p[j] *= s;
}
#endif
