// Attention over fixed segments of absolute positions, merged by log-sum-exp.
// The order of every sum depends only on positions, never on how the keys were
// batched, so a token's output is the same alone, in a prefill or in a tree.
// Heads that share a key/value head go together: each key and value row is
// read from memory once for all of them (at long contexts attention is bound
// by those reads), while each head's arithmetic stays exactly its own.
// (A vectorized polynomial exp was tried: it moved the target's perplexity from
// 10.0892 to 10.0923, past llama.cpp's 10.0895, so libm's expf stays.)
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/ops.h"

namespace tandem {
size_t attend_scratch_floats(int group, int head_dim, int64_t count, int segment) {
  return size_t(group) * size_t(std::min<int64_t>(count, segment) + head_dim);
}

void attend(const float* q, int group, int head_dim, float scale, const float* keys, const float* values,
            int64_t row_stride, const int64_t* slots, int64_t first_pos, int64_t count, int segment, float* out,
            float* scratch) {
  const int64_t seg_len = std::min<int64_t>(count, segment);
  float* scores = scratch;                    // [group][seg_len]: scores, then weights
  float* partial = scores + group * seg_len;  // [group][head_dim] this segment's weighted values
  // Per head: the running and this segment's max and sum (groups are at most 64 heads).
  float run_max[64], run_sum[64], seg_max[64], seg_sum[64];
  for (int g = 0; g < group; ++g) {
    run_max[g] = -std::numeric_limits<float>::infinity();
    run_sum[g] = 0.0f;
  }
  std::fill(out, out + int64_t(group) * head_dim, 0.0f);

  int64_t i = 0;
  while (i < count) {
    // This segment: positions up to the next multiple of `segment`.
    const int64_t pos = first_pos + i;
    const int64_t seg_end = std::min(count, (pos / segment + 1) * segment - first_pos);
    const int64_t n = seg_end - i;

    for (int64_t j = 0; j < n; ++j) {
      const float* k = keys + slots[i + j] * row_stride;
      for (int g = 0; g < group; ++g) scores[g * seg_len + j] = dot_f32(q + g * head_dim, k, head_dim) * scale;
    }
    std::fill(partial, partial + int64_t(group) * head_dim, 0.0f);
    for (int g = 0; g < group; ++g) {
      float* s = scores + g * seg_len;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
      for (int64_t j = 0; j < n; ++j) s[j] = std::exp(s[j] - m);
      float sum = 0.0f;
      for (int64_t j = 0; j < n; ++j) sum += s[j];
      seg_max[g] = m;
      seg_sum[g] = sum;
    }
    for (int64_t j = 0; j < n; ++j) {
      const float* v = values + slots[i + j] * row_stride;
      for (int g = 0; g < group; ++g) {
        const float p = scores[g * seg_len + j];
        float* acc = partial + g * head_dim;
        for (int d = 0; d < head_dim; ++d) acc[d] += p * v[d];
      }
    }

    // Merge this segment into each head's running result (ascending order).
    for (int g = 0; g < group; ++g) {
      const float new_max = std::max(run_max[g], seg_max[g]);
      const float a = std::exp(run_max[g] - new_max);  // 0 for the first segment
      const float b = std::exp(seg_max[g] - new_max);
      run_sum[g] = run_sum[g] * a + seg_sum[g] * b;
      float* o = out + g * head_dim;
      const float* p = partial + g * head_dim;
      for (int d = 0; d < head_dim; ++d) o[d] = o[d] * a + p[d] * b;
      run_max[g] = new_max;
    }
    i = seg_end;
  }
  for (int g = 0; g < group; ++g)
    for (int d = 0; d < head_dim; ++d) out[g * head_dim + d] /= run_sum[g];
}

}  // namespace tandem
