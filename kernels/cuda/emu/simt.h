#pragma once
// A SIMT emulator for the project's CUDA kernels, so they run (slowly) on a CPU with
// the semantics a GPU gives them (kernels/cuda/README.md lists what a kernel may use).
//
// Every CUDA thread of a block is a fiber (Boost.Context); a block's fibers share one
// OS thread and run until they reach a barrier or a warp shuffle, where they wait for
// the others: __syncthreads releases once every thread of the block has arrived, a
// shuffle once all 32 lanes of the warp have. A barrier or shuffle that cannot complete
// (a thread exited, or waits elsewhere) ends the launch with a SimtError naming the
// threads, never a hang. Blocks run one after another; the order of blocks and of the
// threads within a block is forward, reverse or shuffled (set_order), so a kernel
// whose result depends on it (a missing barrier, a race between blocks) shows it.
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

/// CUDA's grid and block extents.
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
/// CUDA's thread and block indices.
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};

// The running thread's coordinates, as CUDA names them (set for each fiber as it runs).
extern thread_local uint3 threadIdx, blockIdx;
extern thread_local dim3 blockDim, gridDim;

namespace tandem::emu {

/// What a launch that cannot complete throws (a deadlock, a misuse of an intrinsic).
struct SimtError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The order in which blocks, and threads within a block, are started and resumed.
enum class Order { forward, reverse, shuffled };
/// Sets the order of every later launch (shuffled: by `seed`). The default is forward,
/// or TANDEM_EMU_ORDER=forward|reverse|shuffled.
void set_order(Order order, uint64_t seed = 1);
Order order();

/// Runs `thread_body` as every thread of a `grid` of `block`s: returns once all are done;
/// SimtError if they cannot all finish.
void run_grid(dim3 grid, dim3 block, const std::function<void()>& thread_body);

/// Waits until every thread of the block has arrived (__syncthreads).
void sync_threads();

/// What a warp shuffle reads (CUDA's __shfl_*_sync).
enum class Shuffle { index, xor_lane, down, up };
/// Exchanges `bits` among the 32 lanes of the warp: the lane read as `kind` and `operand`
/// say, within segments of `width` lanes.
uint64_t shuffle(unsigned mask, uint64_t bits, Shuffle kind, int operand, int width);

/// Typed shuffle: any trivially copyable value of at most 8 bytes.
template <class T>
T shuffle_value(unsigned mask, T value, Shuffle kind, int operand, int width) {
  static_assert(sizeof(T) <= 8, "a shuffle moves at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle(mask, bits, kind, operand, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace tandem::emu
