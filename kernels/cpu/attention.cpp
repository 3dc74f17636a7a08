// Attention over fixed segments of absolute positions, merged by log-sum-exp.
// The order of every sum depends only on positions, never on how the keys were
// batched, so a token's output is the same alone, in a prefill or in a tree.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/ops.h"

namespace tandem {

void attend(const float* q, int head_dim, float scale, const float* keys, const float* values, int64_t row_stride,
            const int64_t* slots, int64_t first_pos, int64_t count, int segment, float* out, float* scratch) {
  float* scores = scratch;  // one segment's scores, then the segment's weighted values
  float* partial = scratch + std::min<int64_t>(count, segment);
  float run_max = -std::numeric_limits<float>::infinity();
  float run_sum = 0.0f;
  std::fill(out, out + head_dim, 0.0f);

  int64_t i = 0;
  while (i < count) {
    // This segment: positions up to the next multiple of `segment`.
    int64_t pos = first_pos + i;
    int64_t seg_end = std::min(count, (pos / segment + 1) * segment - first_pos);
    int64_t n = seg_end - i;

    float seg_max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      scores[j] = dot_f32(q, keys + slots[i + j] * row_stride, head_dim) * scale;
      seg_max = std::max(seg_max, scores[j]);
    }
    float seg_sum = 0.0f;
    std::fill(partial, partial + head_dim, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      float p = std::exp(scores[j] - seg_max);
      seg_sum += p;
      const float* v = values + slots[i + j] * row_stride;
      for (int d = 0; d < head_dim; ++d) partial[d] += p * v[d];
    }

    // Merge this segment into the running result (ascending order).
    float new_max = std::max(run_max, seg_max);
    float a = std::exp(run_max - new_max);  // 0 for the first segment
    float b = std::exp(seg_max - new_max);
    run_sum = run_sum * a + seg_sum * b;
    for (int d = 0; d < head_dim; ++d) out[d] = out[d] * a + partial[d] * b;
    run_max = new_max;
    i = seg_end;
  }
  for (int d = 0; d < head_dim; ++d) out[d] /= run_sum;
}

}  // namespace tandem
