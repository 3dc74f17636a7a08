#pragma once
// A model's weight matrices repacked for the int8 matmul (kernels/int8_matmul.h).
#include <unordered_map>

#include "kernels/int8_matmul.h"
#include "kernels/thread_pool.h"

namespace tandem {

struct Weights;

/// The packed copies of every matrix whose type has an int8 kernel, found by the matrix's data.
class PackedWeights {
 public:
  /// Packs the layers' matrices and the classifier using `pool`'s threads.
  PackedWeights(const Weights& weights, ThreadPool& pool);
  /// The packed copy of `m`, or nullptr when it cannot be packed (see can_pack).
  const PackedMatrix* find(const WeightMatrix& m) const;
  /// Bytes of all packed copies.
  size_t bytes() const { return bytes_; }

 private:
  void add(const WeightMatrix& m, ThreadPool& pool);

  std::unordered_map<const void*, PackedMatrix> by_data_;
  size_t bytes_ = 0;
};

}  // namespace tandem
