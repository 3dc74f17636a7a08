// Times the kernels' dot-product loop on every thread of a pool.
#include "kernels/int8_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "kernels/cpu/int8_kernels.h"

namespace tandem {

Int8Peak measure_int8_peak(ThreadPool& pool) {
  Int8Peak peak{kernel_isa(), pool.size(), 0.0};
  if (peak.isa == KernelIsa::Scalar) return peak;
  const bool avx512 = peak.isa == KernelIsa::Avx512Vnni;
  const auto loop = avx512 ? int8::avx512_dot_loop : int8::avx2_dot_loop;
  const double products_per_iteration = double(int8::kDotLoopChains) * (avx512 ? 64 : 32);
  // Threads claim items as they free up, so a late thread costs a little time, not a wrong count.
  constexpr int64_t kIterations = int64_t(1) << 19, kItemsPerThread = 16;  // ~100 ms a round at a few GHz
  const int64_t items = kItemsPerThread * pool.size();
  std::atomic<int64_t> sink{0};
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(items, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sink += loop(kIterations, uint8_t(3 + round), int8_t(-2));
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    peak.multiply_adds_per_second =
        std::max(peak.multiply_adds_per_second, products_per_iteration * double(kIterations * items) / seconds);
  }
  if (sink.load() == 42) peak.threads = pool.size();  // keeps the loops' results alive
  return peak;
}

}  // namespace tandem
