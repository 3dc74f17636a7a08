#pragma once
// The int8 matmul: activations quantized to 8 bits per block of 32 values with
// one float scale, multiplied with the weights' own integer values (AVX-512
// VNNI `vpdpbusd`, or AVX2 `vpmaddubsw`), the instruction set chosen at run time.
//
// Weights are repacked once into groups of 16 rows: for each block of 32
// values, "planes" of 64 bytes hold 4 consecutive values of each of the 16 rows,
// so one vector load feeds 16 rows and is reused for up to 8 tokens. 4-bit
// formats keep two planes per byte (nibbles), 5- and 6-bit formats add planes
// of high bits, so the packed matrix is no larger than the file's.
//
// Arithmetic, identical on every instruction set and in the scalar reference:
// per (row, token) and per block, the exact int32 sum of weight times
// activation (minus the format's zero point times the activation sum) is
// converted to float and accumulated with one fused multiply-add by
// (weight scale × activation scale), blocks in ascending order. Formats with a
// float minimum (Q4_1, Q4_K) accumulate it separately and add it at the end.
// So a token's result never depends on the tile, the batch or the processor.
//
// Float weights (F32, F16, BF16) are repacked the same way (16 rows side by
// side per column, in the file's own type) and multiplied with the float
// activations in the fixed order of dot_float_reference.
#include <cstdint>
#include <memory>
#include <span>

#include "kernels/dtype.h"
#include "kernels/kernel_isa.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"

namespace tandem {

/// One block of 32 activations: q[i] * d ≈ x[i].
struct Int8Block {
  float d;         // scale: largest |x| / 127
  int16_t sum[2];  // sums of q over values 0-15 and 16-31
  float dsum;      // d * float(sum[0] + sum[1]): what a format's minimum is multiplied by
  int8_t q[32];
};

/// Whether weights of `type` have an int8 kernel (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K).
bool has_int8_kernel(DType type);
/// Whether weights of `type` have a repacked float kernel (F32, F16, BF16).
bool has_float_kernel(DType type);

/// Quantizes n values (a multiple of 32) into n / 32 blocks.
void quantize_int8(const float* x, int64_t n, Int8Block* out);

/// Reference dot product of one weight row (n values of `type`, read from the file's blocks)
/// with quantized activations, in the arithmetic described above.
float dot_int8_reference(DType type, const void* row, const Int8Block* x, int64_t n);

/// Reference dot product of one float weight row (n values of F32, F16 or BF16; n a multiple of 4)
/// with float activations: accumulators a[k % 4] take w[k] * x[k] by fused multiply-add in
/// ascending k; the result is (a0 + a1) + (a2 + a3).
float dot_float_reference(DType type, const void* row, const float* x, int64_t n);

/// A weight matrix repacked for the int8 kernels.
struct PackedMatrix {
  WeightMatrix source;             // the matrix it was packed from
  int64_t groups = 0;              // ceil(rows / 16)
  size_t group_bytes = 0;          // bytes of one group of 16 rows
  std::shared_ptr<uint8_t> bytes;  // [groups * group_bytes], 64-byte aligned
  /// Bytes of group g.
  const uint8_t* group(int64_t g) const { return bytes.get() + size_t(g) * group_bytes; }
};

/// Whether `w` can be packed: its type has an int8 kernel and its columns fill whole units
/// (32 values; 256 for the K formats), or it is a float type with a multiple of 4 columns.
bool can_pack(const WeightMatrix& w);

/// Repacks `w` (can_pack(w) must hold) using the pool's threads.
PackedMatrix pack_matrix(const WeightMatrix& w, ThreadPool& pool);

/// y[t][r] = sum_k w[r][k] * x[t][k] for n_tokens rows of x ([n_tokens][cols] → [n_tokens][rows]).
void matmul_int8(const PackedMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

/// One matrix of a shared matmul and where its output goes.
struct MatmulOutput {
  const PackedMatrix* w;
  float* y;
};

/// matmul_int8 for several matrices of the same width over the same x (a layer's query, key and
/// value, or its gate and up): x is quantized once and all their row groups are shared out to
/// the threads in one pass. Each y is exactly what matmul_int8 alone would give.
void matmul_int8_shared(std::span<const MatmulOutput> outputs, const float* x, int64_t n_tokens, ThreadPool& pool);

}  // namespace tandem
