/* SIMD kernels in plain C: loops clang vectorizes for wasm32 with -msimd128 (saturating byte
 * adds, i16 dot products, f32 and f64 lane arithmetic, min/max, shuffles, shifts, widening
 * multiplies, float-to-int conversions), and the same source built as scalar wasm and as native
 * code. tests/c/test_simd_program.c runs the three builds and compares every kernel's result.
 *
 * Built (from the repository root, clang 14 with lld) with:
 *
 *   clang -O3 -msimd128 --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export=kernel \
 *     -Wl,--export=kernel_count -o tests/simd/kernels-simd.wasm tests/simd/kernels.c
 *   clang -O3 --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export=kernel \
 *     -Wl,--export=kernel_count -o tests/simd/kernels-scalar.wasm tests/simd/kernels.c
 *
 * Exports: `kernel_count() -> i32` and `kernel(k, seed) -> i64`, which fills the arrays from
 * `seed` and returns kernel k's checksum. Every kernel's result is defined by C (no overflow of
 * signed types, conversions in range, no floating-point contraction), so all builds agree. */
#include <stdint.h>

/* No fused multiply-adds: a contracted build would round differently from the others. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define N 4096

static uint8_t a8[N], b8[N], c8[N];
static int16_t a16[N], b16[N];
static int32_t a32[N], b32[N], c32[N];
static float af[N], bf[N], cf[N];
static double ad[N], bd[N];
static uint32_t state;

static uint32_t next(void) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

static void fill(uint32_t seed) {
  state = seed | 1;
  for (int i = 0; i < N; i++) {
    uint32_t x = next();
    a8[i] = (uint8_t)x;
    b8[i] = (uint8_t)(x >> 8);
    a16[i] = (int16_t)((int32_t)(x >> 16) - 32768);
    b16[i] = (int16_t)((int32_t)(x & 0xffff) - 32768);
    a32[i] = (int32_t)next();
    b32[i] = (int32_t)next();
    af[i] = (float)(int32_t)(x & 0xfffff) / 1024.0f - 512.0f;
    bf[i] = (float)(int32_t)(x >> 12) / 4096.0f - 256.0f;
    ad[i] = (double)a32[i] / 65536.0;
  }
}

/* Sum of the bit patterns of n floats (integer lanes, so any order gives the same sum). */
static uint64_t float_bits(const float *v, int n) {
  uint32_t s = 0;
  for (int i = 0; i < n; i++) {
    union { float f; uint32_t u; } c = {v[i]};
    s += c.u * (uint32_t)(i | 1);
  }
  return s;
}

static uint64_t k_add_sat_u8(void) {
  for (int i = 0; i < N; i++) {
    unsigned s = (unsigned)a8[i] + b8[i];
    c8[i] = (uint8_t)(s > 255 ? 255 : s);
  }
  uint32_t sum = 0;
  for (int i = 0; i < N; i++) sum += c8[i];
  return sum;
}

static uint64_t k_dot_i16(void) {
  uint32_t s = 0;
  for (int i = 0; i < N; i++) s += (uint32_t)((int32_t)a16[i] * b16[i]);
  return s;
}

static uint64_t k_f32_lanes(void) {
  for (int i = 0; i < N; i++) cf[i] = af[i] * bf[i] + af[i] / 4.0f - bf[i];
  return float_bits(cf, N);
}

static uint64_t k_min_max_i32(void) {
  int32_t hi = INT32_MIN;
  for (int i = 0; i < N; i++) {
    c32[i] = a32[i] < b32[i] ? a32[i] : b32[i];
    hi = c32[i] > hi ? c32[i] : hi;
  }
  uint32_t s = 0;
  for (int i = 0; i < N; i++) s ^= (uint32_t)c32[i] + (uint32_t)i;
  return ((uint64_t)(uint32_t)hi << 32) | s;
}

static uint64_t k_f64_sqrt_abs(void) {
  double s = 0;
  for (int i = 0; i < N; i++) bd[i] = __builtin_sqrt(__builtin_fabs(ad[i])) - ad[i] * 0.5;
  for (int i = 0; i < N; i++) s += bd[i];
  union { double d; uint64_t u; } c = {s};
  return c.u;
}

static uint64_t k_reverse_widen(void) {
  for (int i = 0; i < N; i++) c8[i] = (uint8_t)(a8[N - 1 - i] ^ b8[i]);
  uint32_t s = 0;
  for (int i = 0; i < N; i++) s += (uint32_t)((uint16_t)c8[i] * (uint16_t)a8[i]);
  return s;
}

static uint64_t k_shifts(void) {
  uint32_t s = 0;
  for (int i = 0; i < N; i++) {
    uint32_t x = (uint32_t)a32[i], y = (uint32_t)b32[i];
    c32[i] = (int32_t)((x >> 3) ^ (y << 5) ^ (uint32_t)(a32[i] >> 7));
  }
  for (int i = 0; i < N; i++) s += (uint32_t)c32[i];
  return s;
}

static uint64_t k_widen_mul_i64(void) {
  uint64_t s = 0;
  for (int i = 0; i < N; i++) s += (uint64_t)((int64_t)a32[i] * b32[i]);
  return s;
}

static uint64_t k_convert(void) {
  for (int i = 0; i < N; i++) c32[i] = (int32_t)(af[i] * 100.0f) - (int32_t)bf[i];
  for (int i = 0; i < N; i++) cf[i] = (float)c32[i] * 0.25f;
  return float_bits(cf, N);
}

static uint64_t k_select_f32(void) {
  for (int i = 0; i < N; i++) cf[i] = af[i] < bf[i] ? af[i] : bf[i];
  return float_bits(cf, N);
}

static uint64_t k_abs_avg_u8(void) {
  for (int i = 0; i < N; i++) c8[i] = (uint8_t)(((unsigned)a8[i] + b8[i] + 1) >> 1);
  uint32_t s = 0;
  for (int i = 0; i < N; i++) {
    int d = (int)c8[i] - (int)a8[i];
    s += (uint32_t)(d < 0 ? -d : d);
  }
  return s;
}

static uint64_t (*const kernels[])(void) = {
    k_add_sat_u8, k_dot_i16,   k_f32_lanes,     k_min_max_i32, k_f64_sqrt_abs, k_reverse_widen,
    k_shifts,     k_widen_mul_i64, k_convert, k_select_f32,  k_abs_avg_u8,
};

int32_t kernel_count(void) { return (int32_t)(sizeof kernels / sizeof *kernels); }

int64_t kernel(int32_t k, uint32_t seed) {
  if (k < 0 || k >= kernel_count()) return -1;
  fill(seed);
  return (int64_t)kernels[k]();
}
