#pragma once
// One attention segment, written once over a vector traits class V
// (vec_avx2.h, vec_avx512.h) and compiled per instruction set. The arithmetic
// is that of attend_segment_reference (kernels/cpu/attention.cpp), lane for
// lane, so every instruction set gives the same bits:
//   - a score is 16 running sums (dimension d goes to lane d % 16, fused
//     multiply-add in ascending d) reduced by the fixed tree of sum16, times scale;
//   - the sum of exps is 16 running sums (row j to lane j % 16), then sum16;
//   - each weighted value is its own running fused multiply-add over the rows
//     in ascending order.
// Only the loop order differs: rows go in blocks, heads and dimensions in tiles
// that fit the registers, none of which changes any lane's sequence.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/cpu/activation_simd.h"
#include "kernels/ops.h"

namespace tandem::attn {
namespace {

// Calls f(std::integral_constant<int, H>{}) for H = heads (1..MaxHeads): tiles take their
// head count as a template argument so their accumulators stay in registers.
template <int MaxHeads, class F>
void with_heads(int heads, F&& f) {
  [&]<int... H>(std::integer_sequence<int, H...>) {
    (void)((heads == H + 1 ? (f(std::integral_constant<int, H + 1>{}), true) : false) || ...);
  }
  (std::make_integer_sequence<int, MaxHeads>{});
}

constexpr int64_t kRowBlock = 64;     // rows of values kept in L1 while the tiles pass over them
constexpr int64_t kPrefetchRows = 8;  // rows ahead: slots may jump, so the hardware cannot guess them

inline void prefetch_row(const float* row, int floats) {
  for (int i = 0; i < floats; i += 16) __builtin_prefetch(row + i);
}

// Scores of H heads for every row: each row's key is read once for the H heads.
template <class V, int H>
void scores_tile(const float* q, int head_dim, float scale, const KvRows& rows, const int64_t* slots, int64_t n,
                 float* scores) {
  constexpr int R = 16 / V::kLanes;
  for (int64_t j = 0; j < n; ++j) {
    const float* k = rows.key(slots[j]);
    if (j + kPrefetchRows < n) prefetch_row(rows.key(slots[j + kPrefetchRows]), head_dim);
    typename V::F acc[H][R];
    for (int h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r) acc[h][r] = V::zero_ps();
    for (int d = 0; d < head_dim; d += 16)
      for (int r = 0; r < R; ++r) {
        const typename V::F kv = V::loadf(k + d + r * V::kLanes);
        for (int h = 0; h < H; ++h) acc[h][r] = V::fmadd(V::loadf(q + h * head_dim + d + r * V::kLanes), kv, acc[h][r]);
      }
    for (int h = 0; h < H; ++h) scores[h * n + j] = V::sum16(acc[h]) * scale;
  }
}

template <class V, int MaxHeads>
void scores_simd(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                 int64_t n, float* scores) {
  for (int g0 = 0; g0 < group; g0 += MaxHeads) {
    const float* qg = q + g0 * head_dim;
    float* sg = scores + g0 * n;
    with_heads<MaxHeads>(std::min(MaxHeads, group - g0), [&](auto heads) {
      scores_tile<V, decltype(heads)::value>(qg, head_dim, scale, rows, slots, n, sg);
    });
  }
}

// Turns one head's scores into exps of (score - max); returns {max, sum of exps}.
template <class V>
void exps_simd(float* s, int64_t n, float* max_out, float* sum_out) {
  constexpr int R = 16 / V::kLanes;
  float m = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  if (n >= V::kLanes) {
    typename V::F mv = V::loadf(s);
    for (; j + V::kLanes <= n; j += V::kLanes) mv = V::max(mv, V::loadf(s + j));
    m = V::max_lanes(mv);
  }
  for (; j < n; ++j) m = std::max(m, s[j]);
  const typename V::F mv = V::set1_ps(m), floor = V::set1_ps(kAttentionExpFloor);
  for (j = 0; j + V::kLanes <= n; j += V::kLanes) {
    const typename V::F x = V::sub(V::loadf(s + j), mv);
    V::store(s + j, V::zero_below(act::exp_lanes<V>(V::max(x, floor)), x, floor));
  }
  for (; j < n; ++j) s[j] = attention_exp(s[j] - m);
  typename V::F acc[R];
  for (int r = 0; r < R; ++r) acc[r] = V::zero_ps();
  for (j = 0; j + 16 <= n; j += 16)
    for (int r = 0; r < R; ++r) acc[r] = V::add(acc[r], V::loadf(s + j + r * V::kLanes));
  if (j < n) {  // the tail, padded with zeros (adding +0 leaves a positive sum unchanged)
    float tail[16] = {};
    std::copy(s + j, s + n, tail);
    for (int r = 0; r < R; ++r) acc[r] = V::add(acc[r], V::loadf(tail + r * V::kLanes));
  }
  *max_out = m;
  *sum_out = V::sum16(acc);
}

// Adds rows [j0, j1) of values, weighted by H heads' exps, to dimensions
// [d0, d0 + C * lanes) of those heads' partials.
template <class V, int H, int C>
void values_tile(const float* p, int64_t n, const KvRows& rows, const int64_t* slots, int64_t j0, int64_t j1, int d0,
                 float* partial, int64_t partial_stride) {
  const int head_dim = int(partial_stride - 2);
  typename V::F acc[H][C];
  for (int h = 0; h < H; ++h)
    for (int c = 0; c < C; ++c)
      acc[h][c] = j0 == 0 ? V::zero_ps() : V::loadf(partial + h * partial_stride + d0 + c * V::kLanes);
  for (int64_t j = j0; j < j1; ++j) {
    const float* v = rows.value(slots[j]) + d0;
    if (d0 == 0 && j + kPrefetchRows < n) prefetch_row(rows.value(slots[j + kPrefetchRows]), head_dim);
    typename V::F vv[C];
    for (int c = 0; c < C; ++c) vv[c] = V::loadf(v + c * V::kLanes);
    for (int h = 0; h < H; ++h) {
      const typename V::F w = V::set1_ps(p[h * n + j]);
      for (int c = 0; c < C; ++c) acc[h][c] = V::fmadd(w, vv[c], acc[h][c]);
    }
  }
  for (int h = 0; h < H; ++h)
    for (int c = 0; c < C; ++c) V::store(partial + h * partial_stride + d0 + c * V::kLanes, acc[h][c]);
}

// The segment's partial for `group` heads (head_dim a multiple of 16); layout as attend_segment's.
// MaxHeads heads and 2 vectors of dimensions per tile keep the accumulators in registers.
template <class V, int MaxHeads>
void attend_segment_simd(const float* q, int group, int head_dim, float scale, const KvRows& rows, const int64_t* slots,
                         int64_t n, float* partial, float* scores) {
  const int64_t ps = head_dim + 2;
  scores_simd<V, MaxHeads>(q, group, head_dim, scale, rows, slots, n, scores);
  for (int g = 0; g < group; ++g) exps_simd<V>(scores + g * n, n, &partial[g * ps], &partial[g * ps + 1]);
  for (int64_t j0 = 0; j0 < n; j0 += kRowBlock) {
    const int64_t j1 = std::min(n, j0 + kRowBlock);
    for (int g0 = 0; g0 < group; g0 += MaxHeads) {
      const int heads = std::min(MaxHeads, group - g0);
      float* out = partial + g0 * ps + 2;
      with_heads<MaxHeads>(heads, [&](auto h) {
        constexpr int H = decltype(h)::value;
        int d0 = 0;
        for (; d0 + 2 * V::kLanes <= head_dim; d0 += 2 * V::kLanes)
          values_tile<V, H, 2>(scores + g0 * n, n, rows, slots, j0, j1, d0, out, ps);
        for (; d0 < head_dim; d0 += V::kLanes)
          values_tile<V, H, 1>(scores + g0 * n, n, rows, slots, j0, j1, d0, out, ps);
      });
    }
  }
}

}  // namespace
}  // namespace tandem::attn
