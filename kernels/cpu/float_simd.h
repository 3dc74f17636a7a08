#pragma once
// The kernel for float weights (F32, F16, BF16) in the repacked layout, written
// once over the vector traits of int8_simd.h (which add load_f32 / load_bf16)
// and compiled per instruction set.
//
// Layout of a group of 16 rows: for each column k, the 16 rows' values side by
// side (16 elements of the file's own type), so one load feeds 16 rows.
// Arithmetic, identical to float_dot_reference: per (row, token), four float
// accumulators take the columns k ≡ 0, 1, 2, 3 (mod 4) by fused multiply-add in
// ascending order, and the result is (a0 + a1) + (a2 + a3). Each vector lane is
// one row, so the tile and the processor never change a result.
#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_layout.h"

namespace tandem::int8 {
namespace {

template <class V, DType Type>
inline typename V::F load_weights(const uint8_t* p) {
  if constexpr (Type == DType::F32) return V::load_f32(p);
  if constexpr (Type == DType::F16) return V::half_to_float(p);
  if constexpr (Type == DType::BF16) return V::load_bf16(p);
}

template <class V, DType Type, int T>
void float_group_kernel(const uint8_t* group, int64_t cols, const float* const* x, float* out) {
  using F = typename V::F;
  constexpr int64_t kElement = Type == DType::F32 ? 4 : 2;
  for (int half = 0; half < kGroupRows / V::kLanes; ++half) {
    const uint8_t* base = group + half * V::kLanes * kElement;
    F acc[T][4];
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < 4; ++c) acc[t][c] = V::zero_ps();
    for (int64_t k = 0; k < cols; k += 4)
      for (int c = 0; c < 4; ++c) {
        const F w = load_weights<V, Type>(base + (k + c) * kGroupRows * kElement);
        for (int t = 0; t < T; ++t) acc[t][c] = V::fmadd(w, V::set1_ps(x[t][k + c]), acc[t][c]);
      }
    for (int t = 0; t < T; ++t)
      V::store(out + t * kGroupRows + half * V::kLanes,
               V::add(V::add(acc[t][0], acc[t][1]), V::add(acc[t][2], acc[t][3])));
  }
}

template <class V, int T>
FloatGroupKernelFn float_kernel_for(DType type) {
  switch (type) {
    case DType::F32: return float_group_kernel<V, DType::F32, T>;
    case DType::F16: return float_group_kernel<V, DType::F16, T>;
    case DType::BF16: return float_group_kernel<V, DType::BF16, T>;
    default: return nullptr;
  }
}

// The kernel for `tokens` tokens (1..MaxTokens).
template <class V, int MaxTokens>
FloatGroupKernelFn float_kernel_for_tokens(DType type, int tokens) {
  static_assert(MaxTokens == 4 || MaxTokens == 2);
  switch (tokens) {
    case 1: return float_kernel_for<V, 1>(type);
    case 2: return float_kernel_for<V, 2>(type);
    case 3: return float_kernel_for<V, (MaxTokens >= 3 ? 3 : 1)>(type);
    default: return float_kernel_for<V, MaxTokens>(type);
  }
}

}  // namespace
}  // namespace tandem::int8
