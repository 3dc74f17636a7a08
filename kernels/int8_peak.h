#pragma once
// The int8 peak of this machine: how many byte multiply-adds per second the int8
// kernels' dot-product instruction (AVX-512 VNNI vpdpbusd, or AVX2's
// vpmaddubsw + vpmaddwd + vpaddd) can do on all of a pool's threads, with nothing
// else in the loop. A matmul's rate divided by it says how close to the hardware it runs.
#include <cstdint>

#include "kernels/kernel_isa.h"
#include "kernels/thread_pool.h"

namespace tandem {

struct Int8Peak {
  KernelIsa isa = KernelIsa::Scalar;
  int threads = 0;
  double multiply_adds_per_second = 0;      // 0 on the scalar path: there is no instruction to measure
  double amx_multiply_adds_per_second = 0;  // the AMX tile multiply's, where amx_available() (else 0)
  // AVX-512 only (else 0): the same loop with two vector loads beside each dot, with a float
  // fused multiply-add, and with two vector logic operations (DotCompanion,
  // kernels/cpu/int8_kernels.h). Half the peak says that companion takes the dot's own slot.
  double with_two_loads_multiply_adds_per_second = 0;
  double with_float_fma_multiply_adds_per_second = 0;
  double with_two_logic_ops_multiply_adds_per_second = 0;  // two vector logic operations beside each dot
};

/// Measures the peak on the pool's threads: the best of several short rounds, so that a
/// busy moment of the host only costs a round.
Int8Peak measure_int8_peak(ThreadPool& pool);

}  // namespace tandem
