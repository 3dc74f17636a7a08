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

int8::QuantizeFn int8::quantizer_for(KernelIsa isa) {
  return isa == KernelIsa::Avx512Vnni ? avx512_quantize : isa == KernelIsa::Avx2 ? avx2_quantize : quantize_int8;
}

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

// One matrix's share of a run: its kernels for a full tile of max_tokens and for the last one.
template <class Kernel>
struct GroupJob {
  const PackedMatrix* w;
  float* y;
  int64_t extent;  // the kernel's length argument: units (int8) or columns (float)
  int max_tokens;
  Kernel full, rest;
};

// The largest tile any kernel takes.
constexpr int kMaxTile = std::max(int8::kAvx512MaxTokens, int8::kAmxMaxTokens);

// Hands the row groups of every job to the threads in one pass (a slice may span
// two matrices); each group runs over the tokens a tile of its max_tokens at a time.
// Token t's input is x + t * stride.
template <class X, class Kernel>
void run_groups(const std::vector<GroupJob<Kernel>>& jobs, const X* x, int64_t stride, int64_t n_tokens,
                ThreadPool& pool) {
  std::vector<int64_t> first_group{0};  // prefix sums: job i owns groups [first_group[i], first_group[i + 1])
  for (const auto& job : jobs) first_group.push_back(first_group.back() + job.w->groups);
  pool.parallel_for(first_group.back(), [&](int64_t begin, int64_t end) {
    alignas(64) float out[kMaxTile * int8::kGroupRows];
    const X* tokens[kMaxTile];
    size_t j = size_t(std::upper_bound(first_group.begin(), first_group.end(), begin) - first_group.begin()) - 1;
    for (int64_t flat = begin; flat < end; ++flat) {
      while (flat >= first_group[j + 1]) ++j;
      const GroupJob<Kernel>& job = jobs[j];
      const int64_t g = flat - first_group[j], rows_total = job.w->source.rows;
      const int64_t r0 = g * int8::kGroupRows, rows = std::min<int64_t>(int8::kGroupRows, rows_total - r0);
      for (int64_t t0 = 0; t0 < n_tokens; t0 += job.max_tokens) {
        const int count = int(std::min<int64_t>(job.max_tokens, n_tokens - t0));
        for (int t = 0; t < count; ++t) tokens[t] = x + (t0 + t) * stride;
        (count == job.max_tokens ? job.full : job.rest)(job.w->group(g), job.extent, tokens, out);
        for (int t = 0; t < count; ++t)
          std::copy_n(out + t * int8::kGroupRows, rows, job.y + (t0 + t) * rows_total + r0);
      }
    }
  });
}

// The size of the last tile of n_tokens (a full one when they divide evenly).
int last_tile(int64_t n_tokens, int max_tokens) {
  return int(n_tokens % max_tokens == 0 ? max_tokens : n_tokens % max_tokens);
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
  const std::vector<GroupJob<int8::FloatGroupKernelFn>> jobs{
      {&w, y, w.source.cols, max_tokens, kernel_for(max_tokens), kernel_for(last_tile(n_tokens, max_tokens))}};
  run_groups(jobs, x, w.source.cols, n_tokens, pool);
}

}  // namespace

void matmul_int8(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const MatmulOutput output{&w, y};
  matmul_int8_shared({&output, 1}, x, n_tokens, pool);
}

void matmul_int8_shared(std::span<const MatmulOutput> outputs, const float* x, int64_t n_tokens, ThreadPool& pool) {
  if (n_tokens <= 0 || outputs.empty()) return;
  const int64_t cols = outputs[0].w->source.cols, blocks = cols / int8::kBlock;
  for (const MatmulOutput& o : outputs)
    if (o.w->source.cols != cols) throw std::invalid_argument("a shared matmul needs matrices of one width");
  // Float weights take x as it is: one run each.
  bool any_int8 = false;
  for (const MatmulOutput& o : outputs) {
    if (has_float_kernel(o.w->source.type))
      matmul_float(*o.w, x, n_tokens, o.y, pool);
    else
      any_int8 = true;
  }
  if (!any_int8) return;

  const KernelIsa isa = kernel_isa();
  thread_local std::vector<Int8Block> quantized;
  quantized.resize(size_t(n_tokens * blocks));
  Int8Block* xq = quantized.data();  // a plain pointer: inside the lambdas thread_local names the worker's copy
  const int8::QuantizeFn quantize = int8::quantizer_for(isa);
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) quantize(x + t * cols, cols, xq + t * blocks);
  });

  const bool avx512 = isa == KernelIsa::Avx512Vnni;
  // AMX tiles pay from a tile of tokens on; fewer (decoding) stay on the VNNI kernels.
  const bool amx = amx_in_use() && n_tokens >= int8::kAmxMaxTokens;
  std::vector<GroupJob<int8::GroupKernelFn>> jobs;
  for (const MatmulOutput& o : outputs) {
    const DType type = o.w->source.type;
    if (has_float_kernel(type)) continue;
    if (isa == KernelIsa::Scalar) {
      matmul_scalar(*o.w, xq, n_tokens, o.y, pool);
      continue;
    }
    const bool on_amx = amx && int8::amx_kernel(type, 1);
    const int max_tokens = on_amx ? int8::kAmxMaxTokens : avx512 ? int8::kAvx512MaxTokens : int8::kAvx2MaxTokens;
    auto kernel_for = [&](int tokens) {
      return on_amx   ? int8::amx_kernel(type, tokens)
             : avx512 ? int8::avx512_kernel(type, tokens)
                      : int8::avx2_kernel(type, tokens);
    };
    const int64_t units = cols / (int64_t(int8::layout_of(type).blocks) * int8::kBlock);
    jobs.push_back({o.w, o.y, units, max_tokens, kernel_for(max_tokens), kernel_for(last_tile(n_tokens, max_tokens))});
  }
  if (!jobs.empty()) run_groups(jobs, xq, blocks, n_tokens, pool);
}

}  // namespace tandem
