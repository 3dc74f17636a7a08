// CUDA device discovery: the binary reports GPUs, and steps aside when none is usable.
#include <cuda_runtime.h>

#include <cstdio>
#include <optional>
#include <string>

#include "kernels/device.h"

namespace tandem {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return count;
}

bool built_with_cuda() { return true; }

#if defined(TANDEM_CUDA_EMU)
bool cuda_emulated() { return true; }
#else
bool cuda_emulated() { return false; }
#endif

namespace {

// Device `index`'s properties; nothing when it is not usable.
std::optional<cudaDeviceProp> properties(int index) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) == cudaSuccess) return prop;
  cudaGetLastError();
  return std::nullopt;
}

}  // namespace

std::string cuda_device_description(int index) {
  const auto prop = properties(index);
  if (!prop) return "";
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", double(prop->totalGlobalMem) / double(1ull << 30));
  return std::string(prop->name) + ", " + memory;
}

std::string cuda_device_uuid(int index) {
  const auto prop = properties(index);
  if (!prop) return "";
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (char c : prop->uuid.bytes) hex += {digits[(c >> 4) & 15], digits[c & 15]};
  return hex;
}

double cuda_copy_bandwidth(int index) {
  if (index >= cuda_device_count() || cudaSetDevice(index) != cudaSuccess) return 0;
  const size_t bytes = size_t(1) << 30;  // 1 GiB, far past the L2
  void *from = nullptr, *to = nullptr;
  cudaEvent_t start, stop;
  if (cudaMalloc(&from, bytes) != cudaSuccess || cudaMalloc(&to, bytes) != cudaSuccess) {
    cudaFree(from);
    cudaGetLastError();
    return 0;
  }
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaMemcpy(to, from, bytes, cudaMemcpyDeviceToDevice);  // warm-up
  constexpr int kCopies = 10;
  cudaEventRecord(start);
  for (int i = 0; i < kCopies; ++i) cudaMemcpy(to, from, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(stop);
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(from);
  cudaFree(to);
  return ms > 0 ? 2.0 * double(bytes) * kCopies / (double(ms) / 1000.0) : 0;
}

}  // namespace tandem
