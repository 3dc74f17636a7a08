// Times the kernels' dot-product loop on every thread of a pool.
#include "kernels/int8_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "kernels/cpu/int8_kernels.h"

namespace tandem {

namespace {

using DotLoop = int64_t (*)(int64_t iterations, uint8_t weight, int8_t activation);

// The best rate of `loop` (`products` per iteration) on every thread of the pool.
double best_rate(ThreadPool& pool, DotLoop loop, int64_t iterations, double products) {
  // Threads claim items as they free up, so a late thread costs a little time, not a wrong count.
  constexpr int64_t kItemsPerThread = 16;
  const int64_t items = kItemsPerThread * pool.size();
  std::atomic<int64_t> sink{0};
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(items, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sink += loop(iterations, uint8_t(3 + round), int8_t(-2));
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, products * double(iterations * items) / seconds);
  }
  return best;  // the loops' results went into an atomic: none could be dropped
}

template <int8::DotCompanion With>
int64_t companion_loop(int64_t iterations, uint8_t weight, int8_t activation) {
  return int8::avx512_dot_loop_with(With, iterations, weight, activation);
}

}  // namespace

Int8Peak measure_int8_peak(ThreadPool& pool) {
  Int8Peak peak{kernel_isa(), pool.size(), 0.0};
  if (peak.isa == KernelIsa::Scalar) return peak;
  const bool avx512 = peak.isa == KernelIsa::Avx512Vnni;
  // ~100 ms a round at a few GHz.
  peak.multiply_adds_per_second = best_rate(pool, avx512 ? int8::avx512_dot_loop : int8::avx2_dot_loop,
                                            int64_t(1) << 19, double(int8::kDotLoopChains) * (avx512 ? 64 : 32));
  if (avx512) {
    constexpr double kProducts = double(int8::kDotLoopChains) * 64;
    peak.with_two_loads_multiply_adds_per_second =
        best_rate(pool, companion_loop<int8::DotCompanion::TwoLoads>, int64_t(1) << 19, kProducts);
    peak.with_float_fma_multiply_adds_per_second =
        best_rate(pool, companion_loop<int8::DotCompanion::FloatMultiplyAdd>, int64_t(1) << 19, kProducts);
    peak.with_two_logic_ops_multiply_adds_per_second =
        best_rate(pool, companion_loop<int8::DotCompanion::TwoLogicOps>, int64_t(1) << 19, kProducts);
  }
  if (peak.isa == KernelIsa::Avx512Vnni && amx_available())
    peak.amx_multiply_adds_per_second =
        best_rate(pool, int8::amx_dot_loop, int64_t(1) << 16, double(int8::kAmxLoopProducts));
  return peak;
}

}  // namespace tandem
