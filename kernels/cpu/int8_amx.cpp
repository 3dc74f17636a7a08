// The int8 group kernels on Intel AMX (AMX-INT8 tiles), for up to 16 tokens at a time:
// per 32-value block, one tile multiply gives the exact int32 sums of all the tokens by
// 16 rows at once, where the AVX-512 VNNI kernel issues 8 vpdpbusd per token. The float
// part after it is the VNNI kernel's own (int8_simd.h), product for product, so the
// results are bit-identical and a token's logits never depend on which kernel ran.
//
//   A tile: the tokens' 32 signed activations of the block, read in place (Int8Block::q)
//   B tile: the block's 8 planes (16 rows × 4 values each, kernels/cpu/int8_layout.h) as
//           unsigned bytes (int8_simd.h's chunks): exactly the layout TDPBSUD reads
//   C tile: [token][row] int32, stored, zero-corrected and scaled into the accumulators
//
// Compiled with AMX flags (CMakeLists.txt); called only once amx_available() holds.
#include <immintrin.h>

#include <cstddef>
#include <utility>

#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_simd.h"
#include "kernels/cpu/vec_avx512.h"

namespace tandem::int8 {
namespace {

// LDTILECFG's 64-byte operand, palette 1.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// Tile registers: the intrinsics take them as literal numbers (they paste them into assembly).
// A format with a scale per 16 values (Q6_K) multiplies each half of a block apart.
#define TILE_C 0
#define TILE_A 1
#define TILE_B 2
#define TILE_C1 3
#define TILE_A1 4
#define TILE_B1 5

// Spreads block `blk` of a group into its 8 planes of unsigned bytes.
template <DType Type>
inline void unpack_block(const uint8_t* group, int64_t blk, uint8_t* planes) {
  using V = vec::Avx512;
  constexpr Layout L = layout_of(Type);
  const uint8_t* unit = group + blk / L.blocks * L.unit_bytes;
  const int j = int(blk % L.blocks);
  prefetch_ahead<Type>(unit, j);
  for (int k = 0; k < 4; ++k) {
    typename V::I lo, hi;
    chunks<V, Type>(unit, j, k, 0, lo, hi);
    _mm512_store_si512(planes + kPlane * k, lo);
    _mm512_store_si512(planes + kPlane * (k + 4), hi);
  }
}

// acc[t] += (integer sums of token t less the zero point) × (weight scale × token scale): the
// VNNI kernel's float step for one block (or half), one for one.
template <int T>
inline void accumulate(const int32_t* sums, const Int8Block* const* x, int64_t blk, int zero, int half, __m512 scale,
                       __m512* acc) {
  using V = vec::Avx512;
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const Int8Block& a = x[t][blk];
    const int32_t offset = zero * (half < 0 ? a.sum[0] + a.sum[1] : a.sum[half]);
    const auto s = _mm512_sub_epi32(_mm512_load_si512(sums + t * kGroupRows), V::set1_32(offset));
    acc[t] = V::fmadd(V::cvt(s), V::mul(scale, V::set1_ps(a.d)), acc[t]);
  }
}

// Two independent tile multiplies (the configured shapes): sums0 from activations a0 and
// planes b0, sums1 from a1 and b1; `stride` is the bytes from one token's activations to
// the next's.
inline void multiply_two(const int8_t* a0, const int8_t* a1, const uint8_t* b0, const uint8_t* b1, ptrdiff_t stride,
                         int32_t* sums0, int32_t* sums1) {
  _tile_loadd(TILE_A, a0, stride);
  _tile_loadd(TILE_A1, a1, stride);
  _tile_loadd(TILE_B, b0, kPlane);
  _tile_loadd(TILE_B1, b1, kPlane);
  _tile_zero(TILE_C);
  _tile_zero(TILE_C1);
  _tile_dpbsud(TILE_C, TILE_A, TILE_B);
  _tile_dpbsud(TILE_C1, TILE_A1, TILE_B1);
  _tile_stored(TILE_C, sums0, 4 * kGroupRows);
  _tile_stored(TILE_C1, sums1, 4 * kGroupRows);
}

template <DType Type, int T>
void amx_group_kernel(const uint8_t* group, int64_t units, const Int8Block* const* x, float* out) {
  using V = vec::Avx512;
  constexpr Layout L = layout_of(Type);
  constexpr int kDepth = L.halves ? kBlock / 2 : kBlock;  // values per tile multiply
  TileConfig config;
  for (int c : {TILE_C, TILE_C1}) config.rows[c] = T, config.bytes_per_row[c] = 4 * kGroupRows;
  for (int a : {TILE_A, TILE_A1}) config.rows[a] = T, config.bytes_per_row[a] = kDepth;
  for (int b : {TILE_B, TILE_B1}) config.rows[b] = kDepth / 4, config.bytes_per_row[b] = kPlane;
  _tile_loadconfig(&config);
  // Every token's blocks lie in one array, a token's after the other's (matmul_int8_shared).
  const ptrdiff_t stride = T > 1 ? reinterpret_cast<const char*>(x[1]) - reinterpret_cast<const char*>(x[0]) : 0;
  alignas(64) uint8_t planes[2][8 * kPlane];  // chunk c of a block: 4 values of each of the 16 rows
  alignas(64) int32_t sums[2][T * kGroupRows];
  __m512 acc[T];
  for (auto& a : acc) a = V::zero_ps();
  const int64_t blocks = units * L.blocks;
  // Two tile multiplies in flight each step: two blocks, or one block's two halves.
  for (int64_t blk = 0; blk < blocks;) {
    const uint8_t* unit = group + blk / L.blocks * L.unit_bytes;
    const int j = int(blk % L.blocks);
    if constexpr (L.halves) {
      unpack_block<Type>(group, blk, planes[0]);
      multiply_two(x[0][blk].q, x[0][blk].q + kDepth, planes[0], planes[0] + 4 * kPlane, stride, sums[0], sums[1]);
      accumulate<T>(sums[0], x, blk, L.zero, 0, scale<V, Type>(unit, j, 0, 0), acc);
      accumulate<T>(sums[1], x, blk, L.zero, 1, scale<V, Type>(unit, j, 1, 0), acc);
      blk += 1;
    } else if (blk + 1 < blocks) {
      unpack_block<Type>(group, blk, planes[0]);
      unpack_block<Type>(group, blk + 1, planes[1]);
      multiply_two(x[0][blk].q, x[0][blk + 1].q, planes[0], planes[1], stride, sums[0], sums[1]);
      accumulate<T>(sums[0], x, blk, L.zero, -1, scale<V, Type>(unit, j, 0, 0), acc);
      const uint8_t* next_unit = group + (blk + 1) / L.blocks * L.unit_bytes;
      accumulate<T>(sums[1], x, blk + 1, L.zero, -1, scale<V, Type>(next_unit, int((blk + 1) % L.blocks), 0, 0), acc);
      blk += 2;
    } else {  // an odd last block
      unpack_block<Type>(group, blk, planes[0]);
      _tile_loadd(TILE_A, x[0][blk].q, stride);
      _tile_loadd(TILE_B, planes[0], kPlane);
      _tile_zero(TILE_C);
      _tile_dpbsud(TILE_C, TILE_A, TILE_B);
      _tile_stored(TILE_C, sums[0], 4 * kGroupRows);
      accumulate<T>(sums[0], x, blk, L.zero, -1, scale<V, Type>(unit, j, 0, 0), acc);
      blk += 1;
    }
  }
  _tile_release();
  if constexpr (L.bias_sign != 0) {
    // The minimums accumulate apart, each token's in block order, as in the VNNI kernel.
    __m512 bias_acc[T];
    for (auto& b : bias_acc) b = V::zero_ps();
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const auto b = bias<V, Type>(group + blk / L.blocks * L.unit_bytes, int(blk % L.blocks), 0);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) bias_acc[t] = V::fmadd(b, V::set1_ps(x[t][blk].dsum), bias_acc[t]);
    }
    for (int t = 0; t < T; ++t) acc[t] = L.bias_sign > 0 ? V::add(acc[t], bias_acc[t]) : V::sub(acc[t], bias_acc[t]);
  }
  for (int t = 0; t < T; ++t) V::store(out + t * kGroupRows, acc[t]);
}

template <DType Type, int... T>
GroupKernelFn kernel_of(int tokens, std::integer_sequence<int, T...>) {
  static constexpr GroupKernelFn kernels[] = {amx_group_kernel<Type, T + 1>...};
  return kernels[tokens - 1];
}

}  // namespace

GroupKernelFn amx_kernel(DType type, int tokens) {
  if (tokens < 1 || tokens > kAmxMaxTokens) return nullptr;
  constexpr auto kCounts = std::make_integer_sequence<int, kAmxMaxTokens>();
  switch (type) {
    case DType::Q4_0: return kernel_of<DType::Q4_0>(tokens, kCounts);
    case DType::Q4_1: return kernel_of<DType::Q4_1>(tokens, kCounts);
    case DType::Q5_0: return kernel_of<DType::Q5_0>(tokens, kCounts);
    case DType::Q8_0: return kernel_of<DType::Q8_0>(tokens, kCounts);
    case DType::Q4_K: return kernel_of<DType::Q4_K>(tokens, kCounts);
    case DType::Q6_K: return kernel_of<DType::Q6_K>(tokens, kCounts);
    default: return nullptr;
  }
}

int64_t amx_dot_loop(int64_t iterations, uint8_t weight, int8_t activation) {
  // Four full accumulator tiles, each 16 × 16 int32 += 16 × 64 activations · 64 × 16 weights:
  // independent, so the tile unit's throughput, not a multiply's latency, is the limit.
  TileConfig config;
  for (int c = 0; c < 6; ++c) config.rows[c] = 16, config.bytes_per_row[c] = 64;
  _tile_loadconfig(&config);
  alignas(64) int8_t a[16 * 64];
  alignas(64) uint8_t b[16 * 64];
  for (int i = 0; i < 16 * 64; ++i) a[i] = activation, b[i] = weight;
  _tile_loadd(4, a, 64);
  _tile_loadd(5, b, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t i = 0; i < iterations; ++i) {
    _tile_dpbsud(0, 4, 5);
    _tile_dpbsud(1, 4, 5);
    _tile_dpbsud(2, 4, 5);
    _tile_dpbsud(3, 4, 5);
  }
  alignas(64) int32_t c[4][16 * 16];
  _tile_stored(0, c[0], 64);
  _tile_stored(1, c[1], 64);
  _tile_stored(2, c[2], 64);
  _tile_stored(3, c[3], 64);
  _tile_release();
  int64_t total = 0;
  for (const auto& tile : c)
    for (int32_t v : tile) total += v;
  return total;
}

}  // namespace tandem::int8
