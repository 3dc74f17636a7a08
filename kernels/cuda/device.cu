// CUDA device discovery: the binary reports GPUs, and steps aside when none is usable.
#include <cuda_runtime.h>

#include <cstdio>
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

std::string cuda_device_description(int index) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", double(prop.totalGlobalMem) / double(1ull << 30));
  return std::string(prop.name) + ", " + memory;
}

}  // namespace tandem
