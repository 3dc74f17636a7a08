// Attention over fixed segments of absolute positions, merged by log-sum-exp.
// The order of every sum depends only on positions, never on how the keys were
// batched, so a token's output is the same alone, in a prefill or in a tree.
// Heads that share a key/value head go together: each key and value row is
// read from memory once for all of them (at long contexts attention is bound
// by those reads), while each head's arithmetic stays exactly its own.
// A segment runs on the vectorized kernel of the chosen instruction set
// (attention_simd.h) or this file's scalar reference: the same bits either way.
// Softmax weights are attention_exp (kernels/ops.h): vectorized, the same bits everywhere.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_kernels.h"
#include "kernels/kernel_isa.h"
#include "kernels/ops.h"

namespace tandem {
namespace {

// 16 lanes summed in a fixed tree: halves, then quarters, eighths and the last pair.
float sum16_reference(const float* lanes) {
  float t8[8], t4[4];
  for (int i = 0; i < 8; ++i) t8[i] = lanes[i] + lanes[i + 8];
  for (int i = 0; i < 4; ++i) t4[i] = t8[i] + t8[i + 4];
  return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

void attend_segment_reference(const float* q, int group, int head_dim, float scale, const KvRows& rows,
                              const int64_t* slots, int64_t n, float* partial, float* scores) {
  const int64_t ps = attention_partial_floats(head_dim);
  for (int64_t j = 0; j < n; ++j) {
    const float* k = rows.key(slots[j]);
    for (int g = 0; g < group; ++g) {
      float lanes[16] = {};
      for (int d = 0; d < head_dim; ++d) lanes[d % 16] = std::fma(q[g * head_dim + d], k[d], lanes[d % 16]);
      scores[g * n + j] = sum16_reference(lanes) * scale;
    }
  }
  for (int g = 0; g < group; ++g) {
    float* s = scores + g * n;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
    float lanes[16] = {};
    for (int64_t j = 0; j < n; ++j) {
      s[j] = attention_exp(s[j] - m);
      lanes[j % 16] += s[j];
    }
    partial[g * ps] = m;
    partial[g * ps + 1] = sum16_reference(lanes);
    float* acc = partial + g * ps + 2;
    std::fill(acc, acc + head_dim, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float* v = rows.value(slots[j]);
      for (int d = 0; d < head_dim; ++d) acc[d] = std::fma(s[j], v[d], acc[d]);
    }
  }
}

attn::SegmentFn segment_kernel(int head_dim) {
  if (head_dim % 16 != 0) return attend_segment_reference;  // the kernels take 16 dimensions at a time
  switch (kernel_isa()) {
    case KernelIsa::Avx512Vnni: return attn::segment_avx512;
    case KernelIsa::Avx2: return attn::segment_avx2;
    case KernelIsa::Scalar: break;
  }
  return attend_segment_reference;
}

}  // namespace

void attend_segment(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                    int64_t n, float* partial, float* scores) {
  segment_kernel(head_dim)(q, group, head_dim, scale, rows, slots, n, partial, scores);
}

void start_attention(float* running, int group, int head_dim) {
  const int64_t ps = attention_partial_floats(head_dim);
  std::fill(running, running + group * ps, 0.0f);
  for (int g = 0; g < group; ++g) running[g * ps] = -std::numeric_limits<float>::infinity();
}

void merge_attention(float* running, const float* partial, int group, int head_dim) {
  const int64_t ps = attention_partial_floats(head_dim);
  for (int g = 0; g < group; ++g) {
    float* r = running + g * ps;
    const float* p = partial + g * ps;
    const float new_max = std::max(r[0], p[0]);
    const float a = std::exp(r[0] - new_max);  // 0 for the first segment
    const float b = std::exp(p[0] - new_max);
    r[1] = r[1] * a + p[1] * b;
    for (int d = 2; d < ps; ++d) r[d] = r[d] * a + p[d] * b;
    r[0] = new_max;
  }
}

void finish_attention(const float* running, int group, int head_dim, float* out) {
  const int64_t ps = attention_partial_floats(head_dim);
  for (int g = 0; g < group; ++g)
    for (int d = 0; d < head_dim; ++d) out[g * head_dim + d] = running[g * ps + 2 + d] / running[g * ps + 1];
}

size_t attend_scratch_floats(int group, int head_dim, int64_t count, int segment) {
  return size_t(group) * size_t(std::min<int64_t>(count, segment) + 2 * attention_partial_floats(head_dim));
}

void attend_fold(float* running, const float* q, int group, int head_dim, float scale, const KvRows& rows,
                 const int64_t* slots, int64_t first_pos, int64_t count, int segment, float* scratch) {
  float* partial = scratch;
  float* scores = partial + group * attention_partial_floats(head_dim);  // [group][segment length]
  const attn::SegmentFn kernel = segment_kernel(head_dim);
  for (int64_t i = 0; i < count;) {
    // This segment: positions up to the next multiple of `segment`.
    const int64_t pos = first_pos + i;
    const int64_t end = std::min(count, (pos / segment + 1) * segment - first_pos);
    kernel(q, group, head_dim, scale, rows, slots + i, end - i, partial, scores);
    merge_attention(running, partial, group, head_dim);
    i = end;
  }
}

void attend(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
            int64_t first_pos, int64_t count, int segment, float* out, float* scratch) {
  float* running = scratch;
  start_attention(running, group, head_dim);
  attend_fold(running, q, group, head_dim, scale, rows, slots, first_pos, count, segment,
              running + group * attention_partial_floats(head_dim));
  finish_attention(running, group, head_dim, out);
}

}  // namespace tandem
