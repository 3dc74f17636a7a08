#include "kernels/cuda/emu/simt.h"

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <random>
#include <vector>

thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;

namespace tandem::emu {
namespace ctx = boost::context;

namespace {

constexpr int kWarp = 32;
constexpr size_t kStackBytes = size_t(128) << 10;  // kernels keep small arrays; no deep calls

// Where a thread stands between two turns of its block's scheduler.
enum class Wait { none, barrier, shuffle, done };

// One CUDA thread.
struct Lane {
  ctx::fiber fiber;      // the thread, while it waits
  ctx::fiber scheduler;  // its block's scheduler, while the thread runs
  Wait wait = Wait::none;
  uint3 index;
  // The shuffle it waits in.
  Shuffle kind = Shuffle::index;
  int operand = 0, width = kWarp;
  uint64_t bits = 0, result = 0;
};

thread_local Lane* current = nullptr;

// Fiber stacks are reused across blocks and launches (one pool per OS thread).
struct StackPool {
  std::vector<void*> free;
  ~StackPool() {
    for (void* p : free) std::free(p);
  }
};
thread_local StackPool stack_pool;

struct PooledStack {
  ctx::stack_context allocate() {
    void* base = nullptr;
    if (!stack_pool.free.empty()) {
      base = stack_pool.free.back();
      stack_pool.free.pop_back();
    } else if (!(base = std::malloc(kStackBytes))) {
      throw std::bad_alloc();
    }
    ctx::stack_context stack;
    stack.size = kStackBytes;
    stack.sp = static_cast<char*>(base) + kStackBytes;
    return stack;
  }
  void deallocate(ctx::stack_context& stack) { stack_pool.free.push_back(static_cast<char*>(stack.sp) - stack.size); }
};

Order order_from_environment() {
  const char* text = std::getenv("TANDEM_EMU_ORDER");
  const std::string name = text ? text : "forward";
  if (name == "reverse") return Order::reverse;
  if (name == "shuffled") return Order::shuffled;
  return Order::forward;
}

std::atomic<Order> chosen_order{order_from_environment()};
std::atomic<uint64_t> chosen_seed{1};

// 0 .. n-1 in the chosen order (`salt` varies a shuffle between blocks).
std::vector<uint32_t> ordering(uint32_t n, uint64_t salt) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  const Order o = chosen_order.load();
  if (o == Order::reverse) std::reverse(order.begin(), order.end());
  if (o == Order::shuffled) std::shuffle(order.begin(), order.end(), std::mt19937_64(chosen_seed.load() * 7919 + salt));
  return order;
}

const char* wait_name(Wait w) {
  switch (w) {
    case Wait::barrier: return "waits at __syncthreads";
    case Wait::shuffle: return "waits in a warp shuffle";
    case Wait::done: return "has exited";
    case Wait::none: break;
  }
  return "runs";
}

std::string where(const Lane& lane) {
  return "thread (" + std::to_string(lane.index.x) + "," + std::to_string(lane.index.y) + "," +
         std::to_string(lane.index.z) + ") " + wait_name(lane.wait);
}

// Parks the running thread until its scheduler resumes it.
void suspend(Wait why) {
  Lane* me = current;
  me->wait = why;
  me->scheduler = std::move(me->scheduler).resume();
}

Lane& running_lane(const char* what) {
  if (!current) throw SimtError(std::string(what) + " called outside a kernel");
  return *current;
}

// The lane whose value `lane` reads in its shuffle.
int source_lane(const Lane& lane, int l) {
  const int base = l / lane.width * lane.width, end = base + lane.width;
  switch (lane.kind) {
    case Shuffle::index: return base + ((lane.operand % lane.width) + lane.width) % lane.width;
    case Shuffle::xor_lane: {
      const int s = l ^ lane.operand;
      return s >= base && s < end ? s : l;
    }
    case Shuffle::down: return l + lane.operand < end ? l + lane.operand : l;
    case Shuffle::up: return l - lane.operand >= base ? l - lane.operand : l;
  }
  return l;
}

class BlockRun {
 public:
  BlockRun(uint3 index, dim3 dim, const std::function<void()>& body) : lanes_(size_t(dim.x) * dim.y * dim.z) {
    if (lanes_.size() % kWarp != 0)
      throw SimtError("a block of " + std::to_string(lanes_.size()) + " threads: the emulator needs whole warps of " +
                      std::to_string(kWarp));
    for (size_t i = 0; i < lanes_.size(); ++i)
      lanes_[i].index = {unsigned(i % dim.x), unsigned(i / dim.x % dim.y), unsigned(i / (size_t(dim.x) * dim.y))};
    for (Lane& lane : lanes_)
      lane.fiber = ctx::fiber(std::allocator_arg, PooledStack{}, [this, &lane, &body](ctx::fiber&& scheduler) {
        lane.scheduler = std::move(scheduler);
        try {
          body();
        } catch (const ctx::detail::forced_unwind&) {
          throw;  // the launch is being abandoned: let Boost unwind this stack
        } catch (...) {
          if (!error_) error_ = std::current_exception();
        }
        lane.wait = Wait::done;
        return std::move(lane.scheduler);
      });
    order_ = ordering(uint32_t(lanes_.size()), uint64_t(index.x) << 32 ^ index.y << 16 ^ index.z);
  }

  // Runs the block to its end; SimtError if it cannot get there.
  void run() {
    for (;;) {
      for (uint32_t i : order_) {
        Lane& lane = lanes_[i];
        if (lane.wait != Wait::none) continue;
        current = &lane;
        threadIdx = lane.index;
        lane.fiber = std::move(lane.fiber).resume();
        current = nullptr;
      }
      if (error_) std::rethrow_exception(error_);
      if (release_warps()) continue;
      const size_t done = count(Wait::done), at_barrier = count(Wait::barrier);
      if (done == lanes_.size()) return;
      if (at_barrier == lanes_.size()) {
        for (Lane& lane : lanes_) lane.wait = Wait::none;
        continue;
      }
      throw SimtError("deadlock in block (" + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," +
                      std::to_string(blockIdx.z) + "): " + stuck());
    }
  }

 private:
  size_t count(Wait w) const {
    return size_t(std::count_if(lanes_.begin(), lanes_.end(), [w](const Lane& l) { return l.wait == w; }));
  }

  // Completes the shuffles of warps whose 32 lanes all wait in one; whether any did.
  bool release_warps() {
    bool released = false;
    for (size_t w = 0; w < lanes_.size(); w += kWarp) {
      Lane* warp = &lanes_[w];
      if (!std::all_of(warp, warp + kWarp, [](const Lane& l) { return l.wait == Wait::shuffle; })) continue;
      for (int l = 0; l < kWarp; ++l)
        if (warp[l].kind != warp[0].kind || warp[l].width != warp[0].width)
          throw SimtError("the lanes of warp " + std::to_string(w / kWarp) + " wait in different shuffles");
      for (int l = 0; l < kWarp; ++l) warp[l].result = warp[source_lane(warp[l], l)].bits;
      for (int l = 0; l < kWarp; ++l) warp[l].wait = Wait::none;
      released = true;
    }
    return released;
  }

  // How many threads have exited, and the first few still waiting, and where.
  std::string stuck() const {
    std::string text = std::to_string(count(Wait::done)) + " of " + std::to_string(lanes_.size()) + " threads exited";
    int listed = 0;
    for (const Lane& lane : lanes_) {
      if (lane.wait == Wait::done) continue;
      if (listed++ == 4) return text + "; ...";
      text += "; " + where(lane);
    }
    return text;
  }

  std::vector<Lane> lanes_;
  std::vector<uint32_t> order_;
  std::exception_ptr error_;
};

}  // namespace

void set_order(Order order, uint64_t seed) {
  chosen_order = order;
  chosen_seed = seed;
}

Order order() { return chosen_order.load(); }

void run_grid(dim3 grid, dim3 block, const std::function<void()>& thread_body) {
  if (current) throw SimtError("a kernel launched from inside a kernel");
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  if (blocks == 0 || uint64_t(block.x) * block.y * block.z == 0) throw SimtError("a launch with no threads");
  if (uint64_t(block.x) * block.y * block.z > 1024) throw SimtError("a block of more than 1024 threads");
  gridDim = grid;
  blockDim = block;
  for (uint32_t b : ordering(uint32_t(blocks), 0)) {
    blockIdx = {unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y))};
    BlockRun(blockIdx, block, thread_body).run();
  }
}

void sync_threads() {
  running_lane("__syncthreads");
  suspend(Wait::barrier);
}

uint64_t shuffle(unsigned mask, uint64_t bits, Shuffle kind, int operand, int width) {
  Lane& me = running_lane("a warp shuffle");
  if (mask != 0xffffffffu) throw SimtError("a warp shuffle with a partial mask (the emulator needs all 32 lanes)");
  if (width < 1 || width > kWarp || (width & (width - 1)) != 0)
    throw SimtError("a warp shuffle of width " + std::to_string(width) + " (a power of two up to 32)");
  me.bits = bits;
  me.kind = kind;
  me.operand = operand;
  me.width = width;
  suspend(Wait::shuffle);
  return me.result;
}

}  // namespace tandem::emu
