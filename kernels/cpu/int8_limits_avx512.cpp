// The AVX-512 peak loop with a companion instruction beside each dot (DotCompanion,
// kernels/cpu/int8_kernels.h): which of the processor's limits the int8 kernels meet.
// Compiled with AVX-512 flags (CMakeLists.txt) and called only when the processor has them.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/int8_kernels.h"

namespace tandem::int8 {

// Twelve dots a step, on twelve accumulators as in avx512_dot_loop, written in assembly so that
// a step is exactly these instructions (from intrinsics, the compiler stored the accumulators
// to memory every step, and the stores hid the limit measured). AT&T operand order: vpdpbusd x, u, acc
// adds u (unsigned bytes) times x (signed) to acc.
#define TANDEM_DOT_LOAD(n)                                \
  "vpbroadcastd " #n "*4(%[q]), %[t]\n\tvpbroadcastd " #n \
  "*4+1(%[q]), %[t2]\n\t"                                 \
  "vpdpbusd %[t], %[u], %[a" #n "]\n\t"
#define TANDEM_DOT_LOGIC(n) "vpandd %[x], %[u], %[t]\n\tvpandd %[u], %[x], %[t2]\n\tvpdpbusd %[x], %[u], %[a" #n "]\n\t"
#define TANDEM_DOT_FMA(n, f) "vpdpbusd %[x], %[u], %[a" #n "]\n\tvfmadd132ps %[s], %[s], %[f" #f "]\n\t"
#define TANDEM_FLOATS [f0] "+v"(f0), [f1] "+v"(f1), [f2] "+v"(f2), [f3] "+v"(f3), [f4] "+v"(f4), [f5] "+v"(f5)
#define TANDEM_ACCUMULATORS                                                                                \
  [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5), [a6] "+v"(a6), \
      [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10), [a11] "+v"(a11)

int64_t avx512_dot_loop_with(DotCompanion with, int64_t iterations, uint8_t weight, int8_t activation) {
  static_assert(kDotLoopChains == 12);
  // Named variables, not arrays: an array of accumulators was stored to memory every step.
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
          a10 = a0, a11 = a0;
  __m512 f0 = _mm512_setzero_ps(), f1 = f0, f2 = f0, f3 = f0, f4 = f0, f5 = f0;
  const __m512i u = _mm512_set1_epi8(char(weight)), x = _mm512_set1_epi8(char(activation));
  const __m512 s = _mm512_set1_ps(0.5f);
  alignas(64) int8_t q[64];
  std::memset(q, activation, sizeof(q));
  __m512i t, t2;  // scratch: loaded activations (t2's load stands for a kernel's other loads), logic results
  for (int64_t i = 0; i < iterations; ++i) {
    if (with == DotCompanion::TwoLogicOps) {
      asm volatile(TANDEM_DOT_LOGIC(0) TANDEM_DOT_LOGIC(1) TANDEM_DOT_LOGIC(2) TANDEM_DOT_LOGIC(3) TANDEM_DOT_LOGIC(4)
                       TANDEM_DOT_LOGIC(5) TANDEM_DOT_LOGIC(6) TANDEM_DOT_LOGIC(7) TANDEM_DOT_LOGIC(8)
                           TANDEM_DOT_LOGIC(9) TANDEM_DOT_LOGIC(10) TANDEM_DOT_LOGIC(11)
                   : TANDEM_ACCUMULATORS, [t] "=&v"(t), [t2] "=&v"(t2)
                   : [u] "v"(u), [x] "v"(x));
    } else if (with == DotCompanion::TwoLoads) {
      asm volatile(TANDEM_DOT_LOAD(0) TANDEM_DOT_LOAD(1) TANDEM_DOT_LOAD(2) TANDEM_DOT_LOAD(3) TANDEM_DOT_LOAD(4)
                       TANDEM_DOT_LOAD(5) TANDEM_DOT_LOAD(6) TANDEM_DOT_LOAD(7) TANDEM_DOT_LOAD(8) TANDEM_DOT_LOAD(9)
                           TANDEM_DOT_LOAD(10) TANDEM_DOT_LOAD(11)
                   : TANDEM_ACCUMULATORS, [t] "=&v"(t), [t2] "=&v"(t2)
                   : [u] "v"(u), [q] "r"(q), "m"(*reinterpret_cast<const int8_t(*)[64]>(q)));
    } else {  // two statements (an asm takes at most 30 operands); each float chain takes two multiply-adds a step
      asm volatile(
          TANDEM_DOT_FMA(0, 0) TANDEM_DOT_FMA(1, 1) TANDEM_DOT_FMA(2, 2) TANDEM_DOT_FMA(3, 3) TANDEM_DOT_FMA(4, 4)
              TANDEM_DOT_FMA(5, 5)
          : TANDEM_FLOATS, [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5)
          : [u] "v"(u), [x] "v"(x), [s] "v"(s));
      asm volatile(
          TANDEM_DOT_FMA(6, 0) TANDEM_DOT_FMA(7, 1) TANDEM_DOT_FMA(8, 2) TANDEM_DOT_FMA(9, 3) TANDEM_DOT_FMA(10, 4)
              TANDEM_DOT_FMA(11, 5)
          : TANDEM_FLOATS, [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10), [a11] "+v"(a11)
          : [u] "v"(u), [x] "v"(x), [s] "v"(s));
    }
  }
  int64_t total = 0;
  for (const __m512i& v : {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11}) total += _mm512_reduce_add_epi32(v);
  for (const __m512& v : {f0, f1, f2, f3, f4, f5})
    total += _mm512_reduce_max_ps(v) < 0.0f;  // never: the float chains only keep their work
  return total;
}

#undef TANDEM_DOT_LOAD
#undef TANDEM_DOT_FMA
#undef TANDEM_DOT_LOGIC
#undef TANDEM_ACCUMULATORS
#undef TANDEM_FLOATS

}  // namespace tandem::int8
