#pragma once
// A fixed set of worker threads that split a range of independent work items.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem {

/// Runs `fn(begin, end)` over contiguous slices of [0, n) on `threads` threads (the caller is one);
/// threads claim slices (a few per thread) as they become free, so they finish together.
/// Which thread computes an item never changes its result: items are independent.
/// A forward pass issues hundreds of short jobs back to back, so idle workers spin
/// briefly for the next one before they sleep.
class ThreadPool {
 public:
  /// Starts threads - 1 workers; threads <= 0 means one per hardware core.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Number of threads that share the work, the caller included.
  int size() const { return int(workers_.size()) + 1; }

  /// Pins the calling thread (which must be the one that calls parallel_for) to cpus[0]
  /// and worker i to cpus[i % cpus.size()]. Returns false if the system refused.
  bool pin(const std::vector<int>& cpus);

  /// Splits [0, n) into contiguous slices, runs them on the threads and waits for all of them.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  void run_slices();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;  // published by generation_
  int64_t job_size_ = 0;
  int64_t slices_ = 0;
  std::atomic<int64_t> next_slice_{0};
  std::atomic<uint64_t> generation_{0};  // bumped once per job
  std::atomic<int> pending_{0};          // workers still on the current job
  std::atomic<bool> stopping_{false};
};

}  // namespace tandem
