#include "kernels/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define TANDEM_PAUSE() _mm_pause()
#else
#define TANDEM_PAUSE() std::this_thread::yield()
#endif

namespace tandem {
namespace {

constexpr int kSpinsBeforeSleep = 4000;  // roughly 100 µs of pause instructions
constexpr int kSlicesPerThread = 4;      // small enough to even out, large enough to stay cheap

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {
bool pin_thread(pthread_t thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(thread, sizeof set, &set) == 0;
}
}  // namespace

bool ThreadPool::pin(const std::vector<int>& cpus) {
  if (cpus.empty()) return false;
  bool ok = pin_thread(pthread_self(), cpus[0]);
  for (size_t i = 0; i < workers_.size(); ++i)
    ok = pin_thread(workers_[i].native_handle(), cpus[(i + 1) % cpus.size()]) && ok;
  return ok;
}

void ThreadPool::run_slices() {
  // Slices are claimed, not assigned: a thread that finishes early takes the next
  // slice instead of waiting while another thread still has work queued.
  for (;;) {
    const int64_t slice = next_slice_.fetch_add(1, std::memory_order_relaxed);
    if (slice >= slices_) return;
    (*job_)(job_size_ * slice / slices_, job_size_ * (slice + 1) / slices_);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  job_ = &fn;
  job_size_ = n;
  slices_ = std::min<int64_t>(n, int64_t(size()) * kSlicesPerThread);
  next_slice_.store(0, std::memory_order_relaxed);
  pending_.store(int(workers_.size()), std::memory_order_relaxed);
  {
    // Under the mutex, so a worker about to sleep either sees the new job or gets the notification.
    std::lock_guard lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_.notify_all();
  run_slices();
  while (pending_.load(std::memory_order_acquire) != 0) TANDEM_PAUSE();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stopping_) {
      if (++spins < kSpinsBeforeSleep) {
        TANDEM_PAUSE();
      } else {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen || stopping_; });
      }
    }
    if (stopping_) return;
    seen = generation_.load(std::memory_order_acquire);
    run_slices();
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace tandem
