#pragma once
// Vector traits of AVX2: 8 float / int32 lanes for the kernels written once over a traits class V
// (int8_simd.h, float_simd.h, attention_simd.h). Include only from files
// compiled with AVX2 flags (CMakeLists.txt); the anonymous namespace gives each
// such file its own copy.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace tandem::vec {
namespace {

struct Avx2 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kLanes = 8, kBytes = 32;
  static I load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I set1_8(char v) { return _mm256_set1_epi8(v); }
  static I set1_32(int32_t v) { return _mm256_set1_epi32(v); }
  static I and_(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  static I srli16(I a, int n) { return _mm256_srli_epi16(a, n); }
  static I slli16(I a, int n) { return _mm256_slli_epi16(a, n); }
  static I dot(I acc, I u, I x) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
  }
  static I dot_wide(I acc, I u, I x) {
    const I low4 = _mm256_set1_epi8(0x0f);
    const I lo = _mm256_maddubs_epi16(_mm256_and_si256(u, low4), x);
    const I hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(u, 4), low4), x);
    const I sum =
        _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_set1_epi16(1)), _mm256_madd_epi16(hi, _mm256_set1_epi16(16)));
    return _mm256_add_epi32(acc, sum);
  }
  static F zero_ps() { return _mm256_setzero_ps(); }
  static F set1_ps(float v) { return _mm256_set1_ps(v); }
  static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F half_to_float(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static F u8_to_float(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static F i8_to_float(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static F load_f32(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static F load_bf16(const uint8_t* p) {
    const I wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F loadf(const float* p) { return _mm256_loadu_ps(p); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F neg(F a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  // Rounded to the nearest integer, ties to even (as rintf in the default mode).
  static F round_even(F a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // v where x >= floor, else 0.
  static F zero_below(F v, F x, F floor) { return _mm256_and_ps(v, _mm256_cmp_ps(x, floor, _CMP_GE_OQ)); }
  // 2^k for integral k in [-126, 127].
  static F pow2(F k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23));
  }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  // Rounded to nearest (ties to even, the default mode) and clamped to [-127, 127].
  static I round_clamp127(F a) {
    const I r = _mm256_cvtps_epi32(a);
    return _mm256_max_epi32(_mm256_min_epi32(r, _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
  }
  // Lanes (each within int8) narrowed to bytes at p: the packs leave lanes 0-3 in the low
  // 4 bytes of the low half and lanes 4-7 in those of the high half.
  static void store_i8(int8_t* p, I v) {
    const I bytes = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_packs_epi32(v, v));
    const int32_t low = _mm_cvtsi128_si32(_mm256_castsi256_si128(bytes)), high = _mm256_extract_epi32(bytes, 4);
    std::memcpy(p, &low, 4);
    std::memcpy(p + 4, &high, 4);
  }
  static int32_t sum_i32(I v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
  }
  // Lanes 0-7 of r[0] and 8-15 of r[1] summed in the fixed tree of sum16_reference
  // (kernels/cpu/attention.cpp).
  static float sum16(const F* r) {
    const __m256 t8 = _mm256_add_ps(r[0], r[1]);
    const __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
    const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_shuffle_ps(t2, t2, 1)));
  }
  static float max_lanes(F a) {
    const __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    return _mm_cvtss_f32(_mm_max_ss(m2, _mm_shuffle_ps(m2, m2, 1)));
  }
};

}  // namespace
}  // namespace tandem::vec
