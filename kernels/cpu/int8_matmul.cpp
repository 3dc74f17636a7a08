// The int8 matmul: picks the instruction set once, quantizes each token's
// activations (float weights take them as they are), and hands groups of 16 rows
// to the threads; each group runs its tokens through the kernel a tile at a time
// while the group's weights stay in cache.
#include "kernels/int8_matmul.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_layout.h"

namespace tandem {
namespace {

// Scalar path: the reference, row by row.
void matmul_scalar(const PackedMatrix& w, const Int8Block* xq, int64_t n_tokens, float* y, ThreadPool& pool) {
  const WeightMatrix& m = w.source;
  const int64_t blocks = m.cols / int8::kBlock;
  pool.parallel_for(m.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t t = 0; t < n_tokens; ++t)
        y[t * m.rows + r] = dot_int8_reference(m.type, m.row(r), xq + t * blocks, m.cols);
  });
}

void matmul_float_scalar(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const WeightMatrix& m = w.source;
  pool.parallel_for(m.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t t = 0; t < n_tokens; ++t)
        y[t * m.rows + r] = dot_float_reference(m.type, m.row(r), x + t * m.cols, m.cols);
  });
}

// Hands groups of 16 rows to the threads; each runs its group over the tokens a tile
// at a time. Token t's input is x + t * stride; kernel_for(count) gives the kernel of a
// tile of `count` tokens, called as kernel(group, extent, tokens, out).
template <class X, class KernelFor>
void run_groups(const PackedMatrix& w, const X* x, int64_t stride, int64_t n_tokens, int max_tokens, int64_t extent,
                KernelFor kernel_for, float* y, ThreadPool& pool) {
  const WeightMatrix& m = w.source;
  auto full = kernel_for(max_tokens);
  auto rest = kernel_for(int(n_tokens % max_tokens == 0 ? max_tokens : n_tokens % max_tokens));
  pool.parallel_for(w.groups, [&](int64_t begin, int64_t end) {
    float out[int8::kAvx512MaxTokens * int8::kGroupRows];  // the largest tile
    const X* tokens[int8::kAvx512MaxTokens];
    for (int64_t g = begin; g < end; ++g) {
      const int64_t r0 = g * int8::kGroupRows, rows = std::min<int64_t>(int8::kGroupRows, m.rows - r0);
      for (int64_t t0 = 0; t0 < n_tokens; t0 += max_tokens) {
        const int count = int(std::min<int64_t>(max_tokens, n_tokens - t0));
        for (int t = 0; t < count; ++t) tokens[t] = x + (t0 + t) * stride;
        (count == max_tokens ? full : rest)(w.group(g), extent, tokens, out);
        for (int t = 0; t < count; ++t) std::copy_n(out + t * int8::kGroupRows, rows, y + (t0 + t) * m.rows + r0);
      }
    }
  });
}

void matmul_float(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const DType type = w.source.type;
  const KernelIsa isa = kernel_isa();
  if (isa == KernelIsa::Scalar) return matmul_float_scalar(w, x, n_tokens, y, pool);
  const bool avx512 = isa == KernelIsa::Avx512Vnni;
  const int max_tokens = avx512 ? int8::kAvx512MaxFloatTokens : int8::kAvx2MaxFloatTokens;
  auto kernel_for = [&](int tokens) {
    return avx512 ? int8::avx512_float_kernel(type, tokens) : int8::avx2_float_kernel(type, tokens);
  };
  run_groups(w, x, w.source.cols, n_tokens, max_tokens, w.source.cols, kernel_for, y, pool);
}

}  // namespace

void matmul_int8(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens <= 0) return;
  if (has_float_kernel(w.source.type)) return matmul_float(w, x, n_tokens, y, pool);
  const WeightMatrix& m = w.source;
  const int64_t blocks = m.cols / int8::kBlock;
  thread_local std::vector<Int8Block> quantized;
  quantized.resize(size_t(n_tokens * blocks));
  Int8Block* xq = quantized.data();  // a plain pointer: inside the lambdas thread_local names the worker's copy
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) quantize_int8(x + t * m.cols, m.cols, xq + t * blocks);
  });

  const KernelIsa isa = kernel_isa();
  if (isa == KernelIsa::Scalar) return matmul_scalar(w, xq, n_tokens, y, pool);
  const bool avx512 = isa == KernelIsa::Avx512Vnni;
  const int max_tokens = avx512 ? int8::kAvx512MaxTokens : int8::kAvx2MaxTokens;
  auto kernel_for = [&](int tokens) {
    return avx512 ? int8::avx512_kernel(m.type, tokens) : int8::avx2_kernel(m.type, tokens);
  };
  const int8::Layout layout = int8::layout_of(m.type);
  const int64_t units = m.cols / (int64_t(layout.blocks) * int8::kBlock);
  run_groups(w, xq, blocks, n_tokens, max_tokens, units, kernel_for, y, pool);
}

}  // namespace tandem
