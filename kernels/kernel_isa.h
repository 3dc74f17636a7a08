#pragma once
// The instruction set of the hand-vectorized CPU kernels (int8 matmul, attention),
// chosen once at run time from the processor's features, so one binary serves
// every x86-64 machine. Every instruction set computes bit-identical results.

namespace tandem {

/// Instruction set of the vectorized kernels.
enum class KernelIsa { Scalar, Avx2, Avx512Vnni };

/// The best instruction set this processor supports.
KernelIsa best_kernel_isa();
/// The instruction set in use: TANDEM_KERNEL_ISA (scalar, avx2, avx512) if set, else the best.
KernelIsa kernel_isa();
/// Uses `isa` from now on (tests force AVX2); throws std::invalid_argument if the processor lacks it.
void set_kernel_isa(KernelIsa isa);
/// "scalar", "avx2" or "avx512-vnni".
const char* kernel_isa_name(KernelIsa isa);

/// Whether the processor has Intel AMX-INT8 tiles and the kernel lets this process use them
/// (Linux's arch_prctl permission, asked for once).
bool amx_available();
/// Whether the int8 matmul multiplies batches of 16 or more tokens on AMX tiles: available, the
/// AVX-512 VNNI kernels in use, and asked for (TANDEM_AMX=1, or set_amx(true)); off by default,
/// being slower so far (docs/engine.md). Bit-identical to the VNNI kernels either way.
bool amx_in_use();
/// Turns the AMX kernels on or off (tests, benchmarks); on needs amx_available().
void set_amx(bool on);

}  // namespace tandem
