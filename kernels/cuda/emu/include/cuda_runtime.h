#pragma once
// The CUDA runtime as the emulated build (TANDEM_CUDA_EMU) sees it: kernels run on the
// SIMT emulator (kernels/cuda/emu/simt.h), device memory is host memory, and every stream
// runs its work in order, at once, on the calling thread. Only what the project calls is
// here (kernels/cuda/README.md); nvcc builds use the real header instead.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>
#include <utility>

#include "kernels/cuda/emu/simt.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local  // a block's threads share its OS thread, one block at a time

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
constexpr unsigned cudaStreamNonBlocking = 1;

struct cudaUUID_t {
  char bytes[16];
};
/// The properties the project reads; an emulated device names itself "(emulated)".
struct cudaDeviceProp {
  char name[256];
  cudaUUID_t uuid;
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount, warpSize, maxThreadsPerBlock;
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaMalloc(void** pointer, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMemcpy(void* to, const void* from, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpy2D(void* to, size_t to_pitch, const void* from, size_t from_pitch, size_t width, size_t height,
                         cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* to, const void* from, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* to, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* to, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);

// ---- device code ----

inline void __syncthreads() { tandem::emu::sync_threads(); }

template <class T>
T __shfl_sync(unsigned mask, T value, int source, int width = 32) {
  return tandem::emu::shuffle_value(mask, value, tandem::emu::Shuffle::index, source, width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  return tandem::emu::shuffle_value(mask, value, tandem::emu::Shuffle::xor_lane, lane_mask, width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return tandem::emu::shuffle_value(mask, value, tandem::emu::Shuffle::down, int(delta), width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return tandem::emu::shuffle_value(mask, value, tandem::emu::Shuffle::up, int(delta), width);
}

// A launch runs its blocks one at a time, so a plain read-modify-write is atomic within it.
// Kernels launched at once from two host threads (PEARL's two devices) are not atomic with
// each other here; no kernel of the project uses atomics yet.
template <class T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
template <class T>
T atomicMax(T* address, T value) {
  const T old = *address;
  if (value > old) *address = value;
  return old;
}

// CUDA's integer max and min overloads, for mixed-width arguments too.
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }

namespace tandem::emu {

/// Runs a kernel over `grid` × `block` in `stream` (at once); a failure is the next
/// cudaGetLastError(), with the emulator's reason as its string.
void launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, const std::function<void()>& body);

/// What TANDEM_LAUNCH makes: called with the kernel's arguments, it launches it.
template <class... Params>
struct Launcher {
  void (*kernel)(Params...);
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  template <class... Args>
  void operator()(Args&&... args) const {
    const std::tuple<std::decay_t<Params>...> copies(std::forward<Args>(args)...);  // a launch copies its arguments
    auto* k = kernel;
    launch(grid, block, shared_bytes, stream, [&copies, k] { std::apply(k, copies); });
  }
};

template <class... Params>
Launcher<Params...> launcher(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                             cudaStream_t stream) {
  return {kernel, grid, block, shared_bytes, stream};
}

}  // namespace tandem::emu
