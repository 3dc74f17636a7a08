#pragma once
// The segment attention kernels of each instruction set (see attention_simd.h).
#include <cstdint>

#include "kernels/ops.h"

namespace tandem::attn {

/// One segment's partial (see attend_segment in kernels/ops.h); `scores` holds group * n floats.
using SegmentFn = void (*)(const float* q, int group, int head_dim, float scale, const KvRows& rows,
                           const int64_t* slots, int64_t n, float* partial, float* scores);

void segment_avx2(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                  int64_t n, float* partial, float* scores);
void segment_avx512(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                    int64_t n, float* partial, float* scores);

}  // namespace tandem::attn
