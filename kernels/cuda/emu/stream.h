#pragma once
// An emulated CUDA stream: kernels and copies run at once on the calling thread, so all a
// stream holds is the work still under way elsewhere (the NCCL host transport's sends and
// receives, kernels/cuda/emu/nccl_host.cpp). cudaStreamQuery says "not ready" while there is
// some, and whatever is queued on the stream after it waits for it, as on a GPU.
#include <condition_variable>
#include <mutex>

struct CUstream_st {
  std::mutex mutex;
  std::condition_variable idle;
  int pending = 0;  // operations started and not finished

  void begin() {
    std::lock_guard lock(mutex);
    ++pending;
  }
  void end() {
    std::lock_guard lock(mutex);
    --pending;
    idle.notify_all();
  }
  bool busy() {
    std::lock_guard lock(mutex);
    return pending > 0;
  }
  void wait() {
    std::unique_lock lock(mutex);
    idle.wait(lock, [this] { return pending == 0; });
  }
};
