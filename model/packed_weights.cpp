#include "model/packed_weights.h"

#include "model/model.h"

namespace tandem {

PackedWeights::PackedWeights(const Weights& weights, ThreadPool& pool) {
  for (const LayerWeights& l : weights.layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*m, pool);
  add(weights.output, pool);
}

void PackedWeights::add(const WeightMatrix& m, ThreadPool& pool) {
  if (!can_pack(m) || by_data_.count(m.data)) return;
  PackedMatrix packed = pack_matrix(m, pool);
  bytes_ += size_t(packed.groups) * packed.group_bytes;
  by_data_.emplace(m.data, std::move(packed));
}

const PackedMatrix* PackedWeights::find(const WeightMatrix& m) const {
  auto it = by_data_.find(m.data);
  return it == by_data_.end() ? nullptr : &it->second;
}

}  // namespace tandem
