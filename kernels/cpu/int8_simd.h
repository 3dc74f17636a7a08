#pragma once
// The int8 group kernel, written once over a vector-traits class V and compiled
// per instruction set (int8_avx512.cpp, int8_avx2.cpp). V offers kLanes int32 /
// float lanes (16 or 8 rows), kBytes = 4 * kLanes, loads, bit operations, the
// unsigned-by-signed dot product `dot` (sums of 4 byte products added to each
// int32 lane; `dot_wide` for 8-bit weights) and float conversions.
//
// Everything here sits in an anonymous namespace: each instruction set's file
// gets its own copy, so the linker can never hand one file's code to another.
#include <cstring>

#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_layout.h"
#include "kernels/int8_matmul.h"

namespace tandem::int8 {
namespace {

template <class V>
inline typename V::I broadcast4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, 4);
  return V::set1_32(v);
}

// Chunks k and k + 4 of block j as unsigned bytes, for this kernel's half of the rows.
template <class V, DType Type>
inline void chunks(const uint8_t* unit, int j, int k, int half, typename V::I& lo, typename V::I& hi) {
  constexpr Layout L = layout_of(Type);
  const int lane_bytes = half * V::kBytes;
  if constexpr (L.bytes >= 0) {
    lo = V::load(unit + L.bytes + kPlane * k + lane_bytes);
    hi = V::load(unit + L.bytes + kPlane * (k + 4) + lane_bytes);
    return;
  } else {
    const auto low4 = V::set1_8(0x0f);
    const auto nib = V::load(unit + L.nibbles + kNibbleBytes * j + kPlane * k + lane_bytes);
    lo = V::and_(nib, low4);
    hi = V::and_(V::srli16(nib, 4), low4);
    if constexpr (L.high >= 0 && L.halves) {  // Q6_K: bits 2k..2k+1 of each high plane move to bits 4-5
      const auto mask = V::set1_8(0x30);
      const uint8_t* high = unit + L.high + 2 * kPlane * j + lane_bytes;
      const auto a = V::load(high), b = V::load(high + kPlane);
      auto place = [&](typename V::I p) {
        return V::and_(k < 2 ? V::slli16(p, 4 - 2 * k) : k == 2 ? p : V::srli16(p, 2), mask);
      };
      lo = V::or_(lo, place(a));
      hi = V::or_(hi, place(b));
    } else if constexpr (L.high >= 0) {  // Q5_0: bit c of each byte moves to bit 4
      const auto mask = V::set1_8(0x10);
      const auto bits = V::load(unit + L.high + lane_bytes);
      lo = V::or_(lo, V::and_(V::slli16(bits, 4 - k), mask));
      hi = V::or_(hi, V::and_(V::srli16(bits, k), mask));
    }
  }
}

// Scale of half h of block j for this kernel's rows.
template <class V, DType Type>
inline typename V::F scale(const uint8_t* unit, int j, int h, int half) {
  constexpr Layout L = layout_of(Type);
  const auto d = V::half_to_float(unit + L.d + 2 * V::kLanes * half);
  if constexpr (Type == DType::Q4_K) return V::mul(d, V::u8_to_float(unit + L.sc + 16 * j + V::kLanes * half));
  if constexpr (Type == DType::Q6_K)
    return V::mul(d, V::i8_to_float(unit + L.sc + 16 * (2 * j + h) + V::kLanes * half));
  return d;
}

template <class V, DType Type>
inline typename V::F bias(const uint8_t* unit, int j, int half) {
  constexpr Layout L = layout_of(Type);
  const auto second = V::half_to_float(unit + L.second + 2 * V::kLanes * half);
  if constexpr (Type == DType::Q4_K) return V::mul(second, V::u8_to_float(unit + L.m + 16 * j + V::kLanes * half));
  return second;
}

// Asks for the weights kPrefetchBytes ahead of block j of a unit: the hardware
// prefetcher alone leaves a decode step well below the memory's streaming speed.
constexpr int kPrefetchBytes = 4096;
template <DType Type>
inline void prefetch_ahead(const uint8_t* unit, int j) {
  constexpr Layout L = layout_of(Type);
  constexpr int kLine = 64, kPerBlock = (L.unit_bytes / L.blocks + kLine - 1) / kLine;
  const uint8_t* p = unit + kPrefetchBytes + j * (L.unit_bytes / L.blocks);
  for (int i = 0; i < kPerBlock; ++i) __builtin_prefetch(p + i * kLine, 0, 3);
}

template <class V, DType Type, int T>
void group_kernel(const uint8_t* group, int64_t units, const Int8Block* const* x, float* out) {
  constexpr Layout L = layout_of(Type);
  using I = typename V::I;
  using F = typename V::F;
  for (int half = 0; half < kGroupRows / V::kLanes; ++half) {
    F acc[T], bias_acc[T];
    for (int t = 0; t < T; ++t) acc[t] = bias_acc[t] = V::zero_ps();
    for (int64_t u = 0; u < units; ++u) {
      const uint8_t* unit = group + u * L.unit_bytes;
      for (int j = 0; j < L.blocks; ++j) {
        const int64_t blk = u * L.blocks + j;
        if (half == 0) prefetch_ahead<Type>(unit, j);  // the 8-lane kernel's second half reads the same lines
        // Integer sums start at -zero * (activation sum), so they end exact and zero-corrected.
        I s0[T], s1[T];
        for (int t = 0; t < T; ++t) {
          const Int8Block& a = x[t][blk];
          if constexpr (L.halves) {
            s0[t] = V::set1_32(-L.zero * a.sum[0]);
            s1[t] = V::set1_32(-L.zero * a.sum[1]);
          } else {
            s0[t] = V::set1_32(-L.zero * (a.sum[0] + a.sum[1]));
          }
        }
        for (int k = 0; k < 4; ++k) {
          I lo, hi;
          chunks<V, Type>(unit, j, k, half, lo, hi);
          for (int t = 0; t < T; ++t) {
            const I xa = broadcast4<V>(x[t][blk].q + 4 * k), xb = broadcast4<V>(x[t][blk].q + 4 * (k + 4));
            if constexpr (L.wide) {
              s0[t] = V::dot_wide(V::dot_wide(s0[t], lo, xa), hi, xb);
            } else if constexpr (L.halves) {
              s0[t] = V::dot(s0[t], lo, xa);
              s1[t] = V::dot(s1[t], hi, xb);
            } else {
              s0[t] = V::dot(V::dot(s0[t], lo, xa), hi, xb);
            }
          }
        }
        const F sc0 = scale<V, Type>(unit, j, 0, half);
        for (int t = 0; t < T; ++t) acc[t] = V::fmadd(V::cvt(s0[t]), V::mul(sc0, V::set1_ps(x[t][blk].d)), acc[t]);
        if constexpr (L.halves) {
          const F sc1 = scale<V, Type>(unit, j, 1, half);
          for (int t = 0; t < T; ++t) acc[t] = V::fmadd(V::cvt(s1[t]), V::mul(sc1, V::set1_ps(x[t][blk].d)), acc[t]);
        }
        if constexpr (L.bias_sign != 0) {
          const F b = bias<V, Type>(unit, j, half);
          for (int t = 0; t < T; ++t) bias_acc[t] = V::fmadd(b, V::set1_ps(x[t][blk].dsum), bias_acc[t]);
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      F r = acc[t];
      if constexpr (L.bias_sign > 0) r = V::add(acc[t], bias_acc[t]);
      if constexpr (L.bias_sign < 0) r = V::sub(acc[t], bias_acc[t]);
      V::store(out + t * kGroupRows + half * V::kLanes, r);
    }
  }
}

template <class V, int T>
GroupKernelFn kernel_for(DType type) {
  switch (type) {
    case DType::Q4_0: return group_kernel<V, DType::Q4_0, T>;
    case DType::Q4_1: return group_kernel<V, DType::Q4_1, T>;
    case DType::Q5_0: return group_kernel<V, DType::Q5_0, T>;
    case DType::Q8_0: return group_kernel<V, DType::Q8_0, T>;
    case DType::Q4_K: return group_kernel<V, DType::Q4_K, T>;
    case DType::Q6_K: return group_kernel<V, DType::Q6_K, T>;
    default: return nullptr;
  }
}

// The kernel for `tokens` tokens (1..MaxTokens).
template <class V, int MaxTokens>
GroupKernelFn kernel_for_tokens(DType type, int tokens) {
  static_assert(MaxTokens == 8 || MaxTokens == 4);
  switch (tokens) {
    case 1: return kernel_for<V, 1>(type);
    case 2: return kernel_for<V, 2>(type);
    case 3: return kernel_for<V, 3>(type);
    case 4: return kernel_for<V, 4>(type);
    case 5: return kernel_for<V, (MaxTokens >= 5 ? 5 : 1)>(type);
    case 6: return kernel_for<V, (MaxTokens >= 6 ? 6 : 1)>(type);
    case 7: return kernel_for<V, (MaxTokens >= 7 ? 7 : 1)>(type);
    default: return kernel_for<V, MaxTokens>(type);
  }
}

// The dot-product instruction alone, as the kernels issue it (V::dot), on kChains
// independent accumulators so that its throughput, not its latency, is the limit:
// `iterations` × kChains dots of kBytes byte products each. Returns a sum that depends
// on every dot, so none can be dropped.
template <class V>
int64_t dot_throughput_loop(int64_t iterations, uint8_t weight, int8_t activation) {
  constexpr int kChains = kDotLoopChains;
  typename V::I acc[kChains];
  for (auto& a : acc) a = V::set1_32(0);
  const auto u = V::set1_8(char(weight)), x = V::set1_8(char(activation));
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = V::dot(acc[c], u, x);
  int32_t lanes[V::kLanes];
  int64_t total = 0;
  for (const auto& a : acc) {
    static_assert(sizeof(a) == sizeof(lanes));
    std::memcpy(lanes, &a, sizeof(lanes));
    for (int32_t v : lanes) total += v;
  }
  return total;
}

}  // namespace
}  // namespace tandem::int8
