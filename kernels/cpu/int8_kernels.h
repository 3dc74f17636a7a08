#pragma once
// The group kernels of each instruction set: int8 (int8_simd.h) and float
// weights (float_simd.h).
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/int8_matmul.h"
#include "kernels/kernel_isa.h"

namespace tandem::int8 {

/// Computes one group of 16 rows for `tokens` tokens: out[t * 16 + r].
using GroupKernelFn = void (*)(const uint8_t* group, int64_t units, const Int8Block* const* x, float* out);

/// Computes one group of 16 float-weight rows for `tokens` tokens of `cols` floats: out[t * 16 + r].
using FloatGroupKernelFn = void (*)(const uint8_t* group, int64_t cols, const float* const* x, float* out);

/// Most tokens one AVX-512 / AVX2 kernel call takes (float kernels keep four accumulators
/// per token in registers, so they take fewer).
constexpr int kAvx512MaxTokens = 8;
constexpr int kAvx2MaxTokens = 4;
constexpr int kAvx512MaxFloatTokens = 4;
constexpr int kAvx2MaxFloatTokens = 2;

/// The AVX-512 VNNI kernel of `type` for 1..kAvx512MaxTokens tokens (nullptr: no kernel).
GroupKernelFn avx512_kernel(DType type, int tokens);
/// Most tokens one AMX kernel call takes: a tile's rows.
constexpr int kAmxMaxTokens = 16;
/// The AMX kernel of `type` for 1..kAmxMaxTokens tokens (nullptr: none), whose token
/// pointers must be evenly spaced; bit-identical to avx512_kernel. Call it only where
/// amx_available() (kernels/kernel_isa.h) holds.
GroupKernelFn amx_kernel(DType type, int tokens);
/// The AVX2 kernel of `type` for 1..kAvx2MaxTokens tokens.
GroupKernelFn avx2_kernel(DType type, int tokens);

/// quantize_int8 on AVX-512 / AVX2: the same blocks, bit for bit.
void avx512_quantize(const float* x, int64_t n, Int8Block* out);
void avx2_quantize(const float* x, int64_t n, Int8Block* out);

using QuantizeFn = void (*)(const float* x, int64_t n, Int8Block* out);
/// The quantizer of an instruction set (quantize_int8 itself for the scalar path).
QuantizeFn quantizer_for(KernelIsa isa);

/// What each dot of the peak loop comes with in avx512_dot_loop_with: two vector loads (a
/// 4-byte broadcast of its activations, as every dot of the kernels has, and one more, as the
/// kernels' weights and scales add); a float fused multiply-add (as the kernels' scale steps);
/// or two vector logic operations (as the kernels' unpacking of weights). The rates show which
/// of the processor's limits the kernels meet: at 50% of the peak the companion takes a dot's
/// own slot (a pipe or port the dots need); at 67% the three instructions only share the issue
/// of about four vector instructions a cycle.
enum class DotCompanion { TwoLoads, FloatMultiplyAdd, TwoLogicOps };

/// The dot-product instruction the kernels use, alone on independent accumulators
/// (dot_throughput_loop in int8_simd.h): iterations × 12 dots of 64 (AVX-512) or 32 (AVX2)
/// byte products. The result only keeps the work from being dropped.
int64_t avx512_dot_loop(int64_t iterations, uint8_t weight, int8_t activation);
/// The AVX-512 loop with a companion op per dot.
int64_t avx512_dot_loop_with(DotCompanion with, int64_t iterations, uint8_t weight, int8_t activation);
int64_t avx2_dot_loop(int64_t iterations, uint8_t weight, int8_t activation);
constexpr int kDotLoopChains = 12;
/// The AMX tile multiply alone (amx_available() must hold): iterations × 4 tile multiplies of
/// 16 × 16 × 64 byte products. Returns the sum of every product.
int64_t amx_dot_loop(int64_t iterations, uint8_t weight, int8_t activation);
constexpr int64_t kAmxLoopProducts = 4 * 16 * 16 * 64;

/// The float kernels (F32, F16, BF16) for 1..kAvx512MaxFloatTokens / kAvx2MaxFloatTokens tokens.
FloatGroupKernelFn avx512_float_kernel(DType type, int tokens);
FloatGroupKernelFn avx2_float_kernel(DType type, int tokens);

}  // namespace tandem::int8
