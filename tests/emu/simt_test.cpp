// The SIMT emulator itself (kernels/cuda/emu/simt.h): warp shuffles exchange what a GPU's
// would, barriers hold a block together, results do not depend on the order threads and
// blocks run in when the kernel is right, and do when a barrier is missing or blocks race;
// a barrier or shuffle that cannot complete fails the launch with a reason instead of
// hanging. The kernels here are CUDA, launched as the project's are (kernels/cuda/launch.h).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/cuda/launch.h"

namespace {

using tandem::emu::Order;

// Runs `launch` once per order and returns each run's output.
template <class Launch>
std::vector<std::vector<float>> in_every_order(Launch launch) {
  std::vector<std::vector<float>> outputs;
  for (Order o : {Order::forward, Order::reverse, Order::shuffled}) {
    tandem::emu::set_order(o, 42);
    outputs.push_back(launch());
  }
  tandem::emu::set_order(Order::forward);
  return outputs;
}

// What the last launch left: '' on success, else the error's text.
std::string launch_error() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? "" : cudaGetErrorString(e);
}

__global__ void shuffles(float* out) {
  const int lane = threadIdx.x % 32;
  const float v = float(threadIdx.x);
  float sum = v;
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  out[threadIdx.x * 4 + 0] = sum;
  out[threadIdx.x * 4 + 1] = __shfl_sync(0xffffffffu, v, 5);
  out[threadIdx.x * 4 + 2] = __shfl_down_sync(0xffffffffu, v, 3);
  out[threadIdx.x * 4 + 3] = __shfl_xor_sync(0xffffffffu, v, 1, 8) + float(lane) * 0.0f;
}

TEST(Simt, ShufflesExchangeAmongTheLanesOfAWarp) {
  std::vector<float> out(64 * 4);
  TANDEM_LAUNCH(shuffles, 1, 64, 0, nullptr)(out.data());
  ASSERT_EQ(launch_error(), "");
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, warp0 = t / 32 * 32;
    // The butterfly: every lane holds the warp's sum, added in the same order.
    float expected = 0;
    std::vector<float> v(32);
    for (int l = 0; l < 32; ++l) v[l] = float(warp0 + l);
    for (int o = 16; o > 0; o /= 2) {
      std::vector<float> next(32);
      for (int l = 0; l < 32; ++l) next[l] = v[l] + v[l ^ o];
      v = next;
    }
    expected = v[lane];
    EXPECT_EQ(out[t * 4 + 0], expected) << t;
    EXPECT_EQ(out[t * 4 + 1], float(warp0 + 5)) << t;                  // broadcast from lane 5
    EXPECT_EQ(out[t * 4 + 2], float(lane + 3 < 32 ? t + 3 : t)) << t;  // down: the top lanes keep theirs
    EXPECT_EQ(out[t * 4 + 3], float(t ^ 1)) << t;                      // xor within segments of 8
  }
}

constexpr int kThreads = 128;

// Each warp sums its values, the block adds the warps' sums after a barrier (rmsnorm's shape).
__global__ void block_sum(const float* x, float* out, bool with_barrier) {
  __shared__ float warp_sums[kThreads / 32];
  float v = x[blockIdx.x * kThreads + threadIdx.x];
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  if (with_barrier) __syncthreads();
  float total = 0;
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  out[blockIdx.x * kThreads + threadIdx.x] = total;
}

std::vector<float> run_block_sum(bool with_barrier) {
  const int blocks = 3;
  std::vector<float> x(blocks * kThreads), out(x.size(), -1.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 17) * 0.25f;
  TANDEM_LAUNCH(block_sum, blocks, kThreads, 0, nullptr)(x.data(), out.data(), with_barrier);
  EXPECT_EQ(launch_error(), "");
  return out;
}

TEST(Simt, ABarrierHoldsTheBlockTogetherInEveryOrder) {
  const auto outputs = in_every_order([] { return run_block_sum(true); });
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(outputs[0], outputs[2]);
  float expected = 0;
  for (int i = 0; i < kThreads; ++i) expected += float(i % 17) * 0.25f;
  EXPECT_FLOAT_EQ(outputs[0][0], expected);
}

TEST(Simt, AMissingBarrierChangesTheResultWithTheOrder) {
  // __shared__ holds what the last block left: clear it by a run with the barrier first.
  const auto outputs = in_every_order([] {
    run_block_sum(true);
    return run_block_sum(false);
  });
  EXPECT_NE(outputs[0], outputs[1]) << "forward and reverse agree without the barrier";
}

__global__ void last_writer(float* out) {
  if (threadIdx.x == 0) out[0] = float(blockIdx.x);
}

TEST(Simt, BlocksThatRaceForOneAddressShowIt) {
  const auto outputs = in_every_order([] {
    std::vector<float> out(1);
    TANDEM_LAUNCH(last_writer, 8, 32, 0, nullptr)(out.data());
    return out;
  });
  EXPECT_EQ(outputs[0][0], 7.0f);
  EXPECT_EQ(outputs[1][0], 0.0f);
}

__global__ void barrier_in_half_the_block(float* out) {
  if (threadIdx.x < 32) __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void shuffle_after_half_the_warp_left(float* out) {
  if (threadIdx.x % 32 >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void partial_mask(float* out) { out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 1); }

__global__ void nothing(float*) {}

TEST(Simt, WhatCannotCompleteFailsTheLaunchWithAReason) {
  std::vector<float> out(64);
  TANDEM_LAUNCH(barrier_in_half_the_block, 1, 64, 0, nullptr)(out.data());
  const std::string barrier = launch_error();
  EXPECT_NE(barrier.find("deadlock"), std::string::npos) << barrier;
  EXPECT_NE(barrier.find("32 of 64 threads exited"), std::string::npos) << barrier;
  EXPECT_NE(barrier.find("waits at __syncthreads"), std::string::npos) << barrier;

  TANDEM_LAUNCH(shuffle_after_half_the_warp_left, 1, 32, 0, nullptr)(out.data());
  const std::string shuffle = launch_error();
  EXPECT_NE(shuffle.find("deadlock"), std::string::npos) << shuffle;
  EXPECT_NE(shuffle.find("waits in a warp shuffle"), std::string::npos) << shuffle;

  TANDEM_LAUNCH(partial_mask, 1, 32, 0, nullptr)(out.data());
  EXPECT_NE(launch_error().find("partial mask"), std::string::npos);
  TANDEM_LAUNCH(nothing, 1, 48, 0, nullptr)(out.data());
  EXPECT_NE(launch_error().find("whole warps"), std::string::npos);
  TANDEM_LAUNCH(nothing, 1, 32, 64, nullptr)(out.data());
  EXPECT_NE(launch_error().find("dynamic shared memory"), std::string::npos);
  // After all that, a good launch still runs.
  std::vector<float> sums(64 * 4);
  TANDEM_LAUNCH(shuffles, 1, 64, 0, nullptr)(sums.data());
  EXPECT_EQ(launch_error(), "");
}

TEST(Simt, TheDeviceSaysItIsEmulated) {
  cudaDeviceProp prop;
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_NE(std::string(prop.name).find("emulated"), std::string::npos);
  EXPECT_EQ(prop.warpSize, 32);
}

}  // namespace
