// Segment attention on AVX2: 4 heads × 16 dimensions of accumulators per tile.
#include "kernels/cpu/attention_kernels.h"
#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/vec_avx2.h"

namespace tandem::attn {

void segment_avx2(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                  int64_t n, float* partial, float* scores) {
  attend_segment_simd<vec::Avx2, 4>(q, group, head_dim, scale, rows, slots, n, partial, scores);
}

}  // namespace tandem::attn
