/* lopt HRNN kernel: masked loads and stores of `valid` lanes for the VJP's partial blocks (included by hrnn_coords.c). */
/* Loads / stores of `valid` (1..LANES) floats, zeros in the other lanes (the main loop has valid == LANES). */
static inline __attribute__((always_inline)) fv ldn(const float* p, int valid) {
  if (valid == LANES) return ld(p);
  float t[LANES];
  for (int q = 0; q < LANES; q++) t[q] = q < valid ? p[q] : 0.0f;
  return ld(t);
}
static inline __attribute__((always_inline)) void stn(float* p, fv v, int valid) {
  if (valid == LANES) {
    st(p, v);
    return;
  }
  float t[LANES];
  st(t, v);
  for (int q = 0; q < valid; q++) p[q] = t[q];
}
static inline __attribute__((always_inline)) fv gathern(const float* p, int stride, int valid) {
  if (valid == LANES) return gatherv(p, stride);
  float t[LANES];
  for (int q = 0; q < LANES; q++) t[q] = q < valid ? p[q * stride] : 0.0f;
  return ld(t);
}
static inline __attribute__((always_inline)) void scattern(float* p, int stride, fv v, int valid) {
  if (valid == LANES) {
    scatterv(p, stride, v);
    return;
  }
  float t[LANES];
  st(t, v);
  for (int q = 0; q < valid; q++) p[q * stride] = t[q];
}
