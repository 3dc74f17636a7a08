#pragma once
// Vector traits of AVX-512 (with VNNI): 16 float / int32 lanes for the kernels written once over a traits class V
// (int8_simd.h, float_simd.h, attention_simd.h). Include only from files
// compiled with AVX-512 flags (CMakeLists.txt); the anonymous namespace gives each
// such file its own copy.
#include <immintrin.h>

#include <cstdint>

namespace tandem::vec {
namespace {

struct Avx512 {
  using I = __m512i;
  using F = __m512;
  static constexpr int kLanes = 16, kBytes = 64;
  static I load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static I set1_8(char v) { return _mm512_set1_epi8(v); }
  static I set1_32(int32_t v) { return _mm512_set1_epi32(v); }
  static I and_(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  static I srli16(I a, int n) { return _mm512_srli_epi16(a, unsigned(n)); }
  static I slli16(I a, int n) { return _mm512_slli_epi16(a, unsigned(n)); }
  static I dot(I acc, I u, I x) { return _mm512_dpbusd_epi32(acc, u, x); }
  static I dot_wide(I acc, I u, I x) { return _mm512_dpbusd_epi32(acc, u, x); }
  static F zero_ps() { return _mm512_setzero_ps(); }
  static F set1_ps(float v) { return _mm512_set1_ps(v); }
  static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F half_to_float(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F u8_to_float(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static F i8_to_float(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static F load_f32(const uint8_t* p) { return _mm512_loadu_ps(p); }
  static F load_bf16(const uint8_t* p) {
    const I wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F loadf(const float* p) { return _mm512_loadu_ps(p); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F neg(F a) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN)));
  }
  // Rounded to the nearest integer, ties to even (as rintf in the default mode).
  static F round_even(F a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // v where x >= floor, else 0.
  static F zero_below(F v, F x, F floor) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, floor, _CMP_GE_OQ), v); }
  // 2^k for integral k in [-126, 127].
  static F pow2(F k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23));
  }
  static F abs(F a) { return _mm512_abs_ps(a); }
  // Rounded to nearest (ties to even, the default mode) and clamped to [-127, 127].
  static I round_clamp127(F a) {
    const I r = _mm512_cvtps_epi32(a);
    return _mm512_max_epi32(_mm512_min_epi32(r, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
  }
  // Lanes (each within int8) narrowed to bytes at p.
  static void store_i8(int8_t* p, I v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(v)); }
  static int32_t sum_i32(I v) { return _mm512_reduce_add_epi32(v); }
  // Lanes 0-15 of r[0] summed in the fixed tree of sum16_reference (kernels/cpu/attention.cpp).
  static float sum16(const F* r) {
    const __m256 t8 = _mm256_add_ps(_mm512_castps512_ps256(r[0]),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r[0]), 1)));
    const __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
    const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_shuffle_ps(t2, t2, 1)));
  }
  static float max_lanes(F a) { return _mm512_reduce_max_ps(a); }
};

}  // namespace
}  // namespace tandem::vec
