// The int8 kernels on AVX2: 8 rows per vector (two passes per group of 16).
// vpmaddubsw multiplies unsigned weights by signed activations into int16 pairs,
// which saturate only above 32767: weights of at most 7 bits (|x| <= 127) never
// reach it, and 8-bit weights are split into two nibbles first.
#include <immintrin.h>

#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_simd.h"
#include "kernels/cpu/float_simd.h"

namespace tandem::int8 {
namespace {

struct Avx2 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kLanes = 8, kBytes = 32, kMaxTokens = kAvx2MaxTokens,
                       kMaxFloatTokens = kAvx2MaxFloatTokens;
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
};

}  // namespace

GroupKernelFn avx2_kernel(DType type, int tokens) { return kernel_for_tokens<Avx2>(type, tokens); }

FloatGroupKernelFn avx2_float_kernel(DType type, int tokens) { return float_kernel_for_tokens<Avx2>(type, tokens); }

}  // namespace tandem::int8
