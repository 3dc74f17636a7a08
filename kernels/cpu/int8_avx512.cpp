// The int8 kernels on AVX-512 VNNI: 16 rows per vector, vpdpbusd adds four
// unsigned-by-signed byte products to each int32 lane exactly. Compiled with
// AVX-512 flags (CMakeLists.txt) and called only when the processor has them.
#include <immintrin.h>

#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_simd.h"
#include "kernels/cpu/float_simd.h"

namespace tandem::int8 {
namespace {

struct Avx512 {
  using I = __m512i;
  using F = __m512;
  static constexpr int kLanes = 16, kBytes = 64, kMaxTokens = kAvx512MaxTokens,
                       kMaxFloatTokens = kAvx512MaxFloatTokens;
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
};

}  // namespace

GroupKernelFn avx512_kernel(DType type, int tokens) { return kernel_for_tokens<Avx512>(type, tokens); }

FloatGroupKernelFn avx512_float_kernel(DType type, int tokens) {
  return float_kernel_for_tokens<Avx512>(type, tokens);
}

}  // namespace tandem::int8
