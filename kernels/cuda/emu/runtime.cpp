// The CUDA runtime calls of the emulated build (include/cuda_runtime.h): device memory is
// host memory, streams and events complete at once, kernels run on the SIMT emulator.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "kernels/cuda/emu/stream.h"

namespace {

thread_local cudaError_t last_error = cudaSuccess;
thread_local std::string last_message;  // the emulator's reason for the last failed launch
thread_local int current_device = 0;

// Work queued on `stream` waits for what is still under way on it (stream order).
void wait_for(cudaStream_t stream) {
  if (stream) stream->wait();
}

struct Event {
  std::chrono::steady_clock::time_point at;
};

cudaError_t fail(cudaError_t error) {
  last_error = error;
  return error;
}

// TANDEM_EMU_DEVICES (default 1, at most 8): how many emulated devices there are (two-rank
// tests want two; 0 is a machine without a GPU).
int device_count() {
  const char* text = std::getenv("TANDEM_EMU_DEVICES");
  const int n = text ? std::atoi(text) : 1;
  return n < 0 ? 0 : n > 8 ? 8 : n;
}

}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  *count = device_count();
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  *prop = {};
  std::snprintf(prop->name, sizeof prop->name, "tandem SIMT emulator on the CPU, emulated");
  std::memcpy(prop->uuid.bytes, "tandem-emulated", 15);
  prop->uuid.bytes[15] = char('0' + device);  // a distinct GPU UUID per emulated device
  prop->totalGlobalMem = size_t(16) << 30;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return last_error; }

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return last_message.empty() ? "unspecified launch failure" : last_message.c_str();
  }
  return "unknown error";
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  // 256-byte aligned, as cudaMalloc's are; rounded up for aligned_alloc.
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) return fail(cudaErrorMemoryAllocation);
  *pointer = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* to, const void* from, size_t bytes, cudaMemcpyKind) {
  if (bytes && (!to || !from)) return fail(cudaErrorInvalidValue);
  if (bytes) std::memmove(to, from, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpy2D(void* to, size_t to_pitch, const void* from, size_t from_pitch, size_t width, size_t height,
                         cudaMemcpyKind) {
  if (width > to_pitch || width > from_pitch) return fail(cudaErrorInvalidValue);  // as CUDA refuses it
  if (width && height && (!to || !from)) return fail(cudaErrorInvalidValue);
  for (size_t row = 0; row < height; ++row)
    std::memmove(static_cast<char*>(to) + row * to_pitch, static_cast<const char*>(from) + row * from_pitch, width);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* to, const void* from, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  wait_for(stream);
  return cudaMemcpy(to, from, bytes, kind);
}

cudaError_t cudaMemset(void* to, int value, size_t bytes) {
  if (bytes && !to) return fail(cudaErrorInvalidValue);
  if (bytes) std::memset(to, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* to, int value, size_t bytes, cudaStream_t stream) {
  wait_for(stream);
  return cudaMemset(to, value, bytes);
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = new CUstream_st;
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) { return cudaStreamCreate(stream); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream) stream->wait();
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  wait_for(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) { return stream && stream->busy() ? cudaErrorNotReady : cudaSuccess; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = reinterpret_cast<cudaEvent_t>(new Event);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete reinterpret_cast<Event*>(event);
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  wait_for(stream);
  reinterpret_cast<Event*>(event)->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (!start || !stop) return fail(cudaErrorInvalidResourceHandle);
  *ms =
      std::chrono::duration<float, std::milli>(reinterpret_cast<Event*>(stop)->at - reinterpret_cast<Event*>(start)->at)
          .count();
  return cudaSuccess;
}

namespace tandem::emu {

void launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, const std::function<void()>& body) {
  wait_for(stream);
  if (shared_bytes > 0) {  // dynamic shared memory is not emulated (kernels/cuda/README.md)
    last_message = "dynamic shared memory is not emulated";
    fail(cudaErrorLaunchFailure);
    return;
  }
  try {
    run_grid(grid, block, body);
  } catch (const std::exception& e) {
    last_message = std::string("emulated launch failed: ") + e.what();
    fail(cudaErrorLaunchFailure);
  }
}

}  // namespace tandem::emu
