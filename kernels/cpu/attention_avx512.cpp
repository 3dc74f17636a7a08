// Segment attention on AVX-512: 8 heads × 32 dimensions of accumulators per tile.
#include "kernels/cpu/attention_kernels.h"
#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/vec_avx512.h"

namespace tandem::attn {

void segment_avx512(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                    int64_t n, float* partial, float* scores) {
  attend_segment_simd<vec::Avx512, 8>(q, group, head_dim, scale, rows, slots, n, partial, scores);
}

}  // namespace tandem::attn
