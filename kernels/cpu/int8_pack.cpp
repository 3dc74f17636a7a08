// Repacks a weight matrix into the int8 kernels' layout (kernels/cpu/int8_layout.h):
// each block of each row is decoded once and its integers and scales are
// written where the kernels read them. Rows past the matrix end are zeros.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/cpu/int8_decode.h"
#include "kernels/cpu/int8_layout.h"
#include "kernels/int8_matmul.h"

namespace tandem {
namespace {

using int8::BlockInts;
using int8::kGroupRows;
using int8::kPlane;
using int8::Layout;

void put_u16(uint8_t* p, int index, uint16_t v) { std::memcpy(p + 2 * index, &v, 2); }

// Writes block j of row r (0..15 in its group) into `unit`.
template <DType Type>
void pack_block(const BlockInts& b, int j, int r, uint8_t* unit) {
  constexpr Layout L = int8::layout_of(Type);
  if (j == 0) {  // the unit's (super-)block scales
    put_u16(unit + L.d, r, b.d);
    if (L.second >= 0) put_u16(unit + L.second, r, b.second);
  }
  if (L.sc >= 0) {
    if (L.halves) {
      unit[L.sc + 16 * (2 * j) + r] = b.sc[0];
      unit[L.sc + 16 * (2 * j + 1) + r] = b.sc[1];
    } else {
      unit[L.sc + 16 * j + r] = b.sc[0];
    }
  }
  if (L.m >= 0) unit[L.m + 16 * j + r] = b.m;
  // Value v = 4 * chunk + i goes to byte 4 * r + i of its chunk's plane. Each packed byte
  // is assembled in a register and stored once.
  const uint8_t* u = b.u;
  for (int i = 0; i < 4; ++i) {
    const int byte = 4 * r + i;
    if constexpr (L.bytes >= 0) {
      for (int chunk = 0; chunk < 8; ++chunk) unit[L.bytes + kPlane * chunk + byte] = u[4 * chunk + i];
      continue;
    }
    uint8_t* nibbles = unit + L.nibbles + int8::kNibbleBytes * j;
    for (int k = 0; k < 4; ++k)  // chunk k in the low nibbles, chunk k + 4 in the high ones
      nibbles[kPlane * k + byte] = uint8_t((u[4 * k + i] & 0x0f) | (u[4 * (k + 4) + i] & 0x0f) << 4);
    if constexpr (L.high >= 0 && L.halves) {  // Q6_K: bits 4-5, two planes per block
      for (int half = 0; half < 2; ++half) {
        uint8_t bits = 0;
        for (int c = 0; c < 4; ++c) bits = uint8_t(bits | ((u[4 * (4 * half + c) + i] >> 4) & 3) << (2 * c));
        unit[L.high + 2 * kPlane * j + kPlane * half + byte] = bits;
      }
    } else if constexpr (L.high >= 0) {  // Q5_0: bit 4 of chunk c at bit c
      uint8_t bits = 0;
      for (int c = 0; c < 8; ++c) bits = uint8_t(bits | ((u[4 * c + i] >> 4) & 1) << c);
      unit[L.high + byte] = bits;
    }
  }
}

// Packs the 16 rows of group g (rows past the matrix end stay zero).
template <DType Type>
void pack_group(const WeightMatrix& w, int64_t g, int64_t units, uint8_t* group) {
  constexpr Layout L = int8::layout_of(Type);
  for (int r = 0; r < kGroupRows && g * kGroupRows + r < w.rows; ++r) {
    const void* row = w.row(g * kGroupRows + r);
    for (int64_t u = 0; u < units; ++u)
      for (int j = 0; j < L.blocks; ++j)
        pack_block<Type>(int8::decode_block_of<Type>(row, u * L.blocks + j), j, r, group + u * L.unit_bytes);
  }
}

using PackGroupFn = void (*)(const WeightMatrix& w, int64_t g, int64_t units, uint8_t* group);

PackGroupFn pack_group_for(DType type) {
  switch (type) {
    case DType::Q4_0: return pack_group<DType::Q4_0>;
    case DType::Q4_1: return pack_group<DType::Q4_1>;
    case DType::Q5_0: return pack_group<DType::Q5_0>;
    case DType::Q8_0: return pack_group<DType::Q8_0>;
    case DType::Q4_K: return pack_group<DType::Q4_K>;
    case DType::Q6_K: return pack_group<DType::Q6_K>;
    default: return nullptr;
  }
}

// Float weights: column k of the group's 16 rows side by side, in the file's own type.
void pack_float_row(const WeightMatrix& w, int r, const void* row, uint8_t* group) {
  const size_t element = size_t(int8::float_element_bytes(w.type));
  const auto* values = static_cast<const uint8_t*>(row);
  for (int64_t k = 0; k < w.cols; ++k)
    std::memcpy(group + (size_t(k) * kGroupRows + size_t(r)) * element, values + size_t(k) * element, element);
}

}  // namespace

bool can_pack(const WeightMatrix& w) {
  if (has_float_kernel(w.type)) return w.cols % 4 == 0;
  const Layout L = int8::layout_of(w.type);
  return L.blocks > 0 && w.cols % (int64_t(L.blocks) * int8::kBlock) == 0;
}

PackedMatrix pack_matrix(const WeightMatrix& w, ThreadPool& pool) {
  const Layout L = int8::layout_of(w.type);
  const int element = int8::float_element_bytes(w.type);
  if (!can_pack(w))
    throw std::invalid_argument("pack_matrix: no int8 layout for a " + std::string(dtype_info(w.type).name) +
                                " matrix of " + std::to_string(w.cols) + " columns");
  PackedMatrix p;
  p.source = w;
  p.groups = (w.rows + kGroupRows - 1) / kGroupRows;
  const int64_t units = element ? 0 : w.cols / (int64_t(L.blocks) * int8::kBlock);
  p.group_bytes = element ? size_t(w.cols) * kGroupRows * size_t(element) : size_t(units) * size_t(L.unit_bytes);
  const size_t total = (size_t(p.groups) * p.group_bytes + 63) / 64 * 64;
  auto* bytes = static_cast<uint8_t*>(std::aligned_alloc(64, total));
  if (!bytes) throw std::bad_alloc();
  p.bytes.reset(bytes, std::free);
  pool.parallel_for(p.groups, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      uint8_t* group = bytes + size_t(g) * p.group_bytes;
      std::memset(group, 0, p.group_bytes);
      if (!element) {
        pack_group_for(w.type)(w, g, units, group);
        continue;
      }
      for (int r = 0; r < kGroupRows && g * kGroupRows + r < w.rows; ++r)
        pack_float_row(w, r, w.row(g * kGroupRows + r), group);
    }
  });
  return p;
}

}  // namespace tandem
