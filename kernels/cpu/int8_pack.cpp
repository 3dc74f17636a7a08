// Repacks a weight matrix into the int8 kernels' layout (kernels/cpu/int8_layout.h):
// each block of each row is decoded once and its integers and scales are
// written where the kernels read them. Rows past the matrix end are zeros.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

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
void pack_block(const Layout& L, const BlockInts& b, int j, int r, uint8_t* unit) {
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
  for (int v = 0; v < int8::kBlock; ++v) {
    const int chunk = v / 4, byte = 4 * r + v % 4;
    const uint8_t u = b.u[v];
    if (L.bytes >= 0) {
      unit[L.bytes + kPlane * chunk + byte] = u;
      continue;
    }
    uint8_t* nibbles = unit + L.nibbles + int8::kNibbleBytes * j;
    nibbles[kPlane * (chunk % 4) + byte] |= uint8_t((u & 0x0f) << (4 * (chunk / 4)));
    if (L.high >= 0 && L.halves)  // Q6_K: bits 4-5, two planes per block
      unit[L.high + 2 * kPlane * j + kPlane * (chunk / 4) + byte] |= uint8_t(((u >> 4) & 3) << (2 * (chunk % 4)));
    else if (L.high >= 0)  // Q5_0: bit 4
      unit[L.high + byte] |= uint8_t(((u >> 4) & 1) << chunk);
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
      for (int r = 0; r < kGroupRows && g * kGroupRows + r < w.rows; ++r) {
        const void* row = w.row(g * kGroupRows + r);
        if (element) {
          pack_float_row(w, r, row, group);
          continue;
        }
        for (int64_t u = 0; u < units; ++u)
          for (int j = 0; j < L.blocks; ++j)
            pack_block(L, int8::decode_block(w.type, row, u * L.blocks + j), j, r, group + u * L.unit_bytes);
      }
    }
  });
  return p;
}

}  // namespace tandem
