#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tandem {

namespace {
// Storage grows by half its size at least, in whole steps of this many rows: amortized
// copies, and a sample's own rows after a shared prompt stay few (KvCache(prefix)).
constexpr int64_t kGrowthStep = 16;

// Rows in host memory, a vector per layer.
class HostRowStore final : public KvRowStore {
 public:
  HostRowStore(int n_layers, int64_t kv_dim) : kv_dim_(kv_dim), keys_(size_t(n_layers)), values_(size_t(n_layers)) {}
  void resize(int64_t rows) override {
    for (auto* rows_of_layers : {&keys_, &values_})
      for (std::vector<float>& layer : *rows_of_layers) {
        const bool shrink = layer.size() > size_t(rows * kv_dim_);
        layer.resize(size_t(rows * kv_dim_));
        if (shrink) layer.shrink_to_fit();
      }
  }
  void move_rows(const std::vector<std::pair<int64_t, int64_t>>& moves) override {
    for (size_t l = 0; l < keys_.size(); ++l)
      for (auto [dst, src] : moves) {
        std::memmove(&keys_[l][size_t(dst * kv_dim_)], &keys_[l][size_t(src * kv_dim_)], size_t(kv_dim_) * 4);
        std::memmove(&values_[l][size_t(dst * kv_dim_)], &values_[l][size_t(src * kv_dim_)], size_t(kv_dim_) * 4);
      }
  }
  float* keys(int layer) override { return keys_[size_t(layer)].data(); }
  float* values(int layer) override { return values_[size_t(layer)].data(); }
  bool on_host() const override { return true; }
  std::unique_ptr<KvRowStore> empty_like() const override {
    return std::make_unique<HostRowStore>(int(keys_.size()), kv_dim_);
  }

 private:
  int64_t kv_dim_;
  std::vector<std::vector<float>> keys_, values_;  // [layer][rows * kv_dim]
};
}  // namespace

KvCache::KvCache(const ModelConfig& config, int64_t max_positions)
    : kv_dim_(config.kv_dim()),
      n_layers_(config.n_layers),
      max_positions_(std::min<int64_t>(max_positions, config.context_length)),
      store_(std::make_unique<HostRowStore>(config.n_layers, config.kv_dim())) {
  if (max_positions_ <= 0) throw std::invalid_argument("KV cache needs at least one position");
}

KvCache::KvCache(const ModelConfig& config, int64_t max_positions, std::unique_ptr<RemoteKv> remote)
    : KvCache(config, max_positions) {
  remote_ = std::move(remote);
}

KvCache::KvCache(const ModelConfig& config, int64_t max_positions, std::shared_ptr<const KvCache> prefix,
                 int64_t prefix_positions)
    : KvCache(config, max_positions) {
  if (!prefix || prefix->remote() || prefix->shared_prefix() || prefix->pending() > 0 || prefix->kv_dim() != kv_dim_ ||
      prefix->n_layers_ != n_layers_)
    throw std::invalid_argument("a shared prefix must be a whole committed cache of the same model");
  if (prefix_positions < 0) prefix_positions = prefix->length();
  if (prefix_positions > prefix->length())
    throw std::invalid_argument("a shared prefix of " + std::to_string(prefix_positions) +
                                " positions from a cache of " + std::to_string(prefix->length()));
  if (prefix_positions > max_positions_)
    throw std::length_error("a shared prefix of " + std::to_string(prefix_positions) +
                            " positions exceeds the KV cache limit of " + std::to_string(max_positions_));
  base_ = length_ = prefix_positions;
  store_ = prefix->store().empty_like();  // the sample's rows live where the prompt's do
  prefix_ = std::move(prefix);
}

KvCache::KvCache(int64_t kv_dim, int n_layers, int64_t max_positions, std::unique_ptr<KvRowStore> store)
    : kv_dim_(kv_dim), n_layers_(n_layers), max_positions_(max_positions), store_(std::move(store)) {}

KvCache KvCache::flat_copy() const {
  if (remote_ || pending_ > 0 || !store_->on_host())
    throw std::logic_error("flat_copy needs a cache of committed host rows and no remote");
  KvCache copy(kv_dim_, n_layers_, max_positions_, store_->empty_like());
  copy.store_->resize(length_);
  copy.capacity_ = copy.length_ = length_;
  const size_t row_bytes = size_t(kv_dim_) * sizeof(float);
  // Positions before base_ are the prefix's rows 0.., the rest this cache's rows 0...
  auto copy_rows = [&](float* dst, const float* prefix_rows, const float* own_rows) {
    if (base_ > 0) std::memcpy(dst, prefix_rows, size_t(base_) * row_bytes);
    if (length_ > base_) std::memcpy(dst + base_ * kv_dim_, own_rows, size_t(length_ - base_) * row_bytes);
  };
  for (int layer = 0; layer < n_layers_; ++layer) {
    copy_rows(copy.store_->keys(layer), prefix_ ? prefix_->store_->keys(layer) : nullptr, store_->keys(layer));
    copy_rows(copy.store_->values(layer), prefix_ ? prefix_->store_->values(layer) : nullptr, store_->values(layer));
  }
  return copy;
}

int64_t KvCache::adopt_remote_prefix(const KvCache& from, int64_t positions) {
  if (!remote_ || !from.remote_ || length_ > 0 || pending_ > 0 || from.kv_dim_ != kv_dim_ ||
      from.n_layers_ != n_layers_ || !store_->on_host() || !from.store_->on_host())
    throw std::logic_error("adopt_remote_prefix: an empty cache with a remote, from a host cache of the same model");
  positions = std::min({positions, from.length_, max_positions_});
  const int64_t segment = from.remote_->segment();
  // Positions before from.base_ are on its remote: whole segments of them, or none.
  const int64_t shared = positions >= from.base_ ? from.base_ : positions / segment * segment;
  if (positions < from.base_) positions = shared;
  if (shared > 0) {
    bool adopted = false;
    try {
      adopted = remote_->adopt(*from.remote_, shared / segment);
    } catch (const RemoteKvLost&) {
      // A shard that does not answer is marked lost; the replacement goes without it.
    }
    if (!adopted) {
      if (auto fresh = remote_->replacement()) remote_ = std::move(fresh);
      return 0;
    }
  }
  const int64_t copied = positions - shared;  // from's local rows 0..copied
  grow(copied);
  const size_t bytes = size_t(copied * kv_dim_) * sizeof(float);
  for (int layer = 0; layer < n_layers_ && copied > 0; ++layer) {
    std::memcpy(store_->keys(layer), from.store_->keys(layer), bytes);
    std::memcpy(store_->values(layer), from.store_->values(layer), bytes);
  }
  base_ = shared;
  length_ = positions;
  tokens_.assign(from.tokens_.begin(), from.tokens_.begin() + positions);
  hand_over_full_segments();
  return positions;
}

std::shared_ptr<KvCache> KvCache::share_remote_prefix(int64_t positions) const {
  if (!remote_ || !store_->on_host()) throw std::logic_error("share_remote_prefix needs a host cache with a remote");
  auto copy = std::shared_ptr<KvCache>(new KvCache(kv_dim_, n_layers_, max_positions_, store_->empty_like()));
  copy->remote_ = remote_->replacement();
  if (!copy->remote_ || copy->adopt_remote_prefix(*this, positions) == 0) return nullptr;
  copy->shrink_to_committed();
  return copy;
}

void KvCache::use_store(std::unique_ptr<KvRowStore> store) {
  if (capacity_ > 0) throw std::logic_error("use_store on a cache that holds rows");
  store_ = std::move(store);
}

float* KvCache::host_rows(float* rows) const {
  if (!store_->on_host()) throw std::logic_error("the KV cache's rows are in device memory, not on the host");
  return rows;
}

void KvCache::shrink_to_committed() {
  if (pending_ > 0) throw std::logic_error("shrink_to_committed with pending rows");
  capacity_ = length_ - base_;
  store_->resize(capacity_);
}

KvRows KvCache::rows(int layer, int64_t offset) const {
  KvRows r{.stride = kv_dim_};
  if (capacity_ > 0) {
    r.keys = store_->keys(layer) + offset;
    r.values = store_->values(layer) + offset;
  }
  if (prefix_ && prefix_->capacity_ > 0) {
    r.shared_keys = prefix_->store_->keys(layer) + offset;
    r.shared_values = prefix_->store_->values(layer) + offset;
  }
  return r;
}

void KvCache::grow(int64_t rows) {
  if (rows <= capacity_) return;
  const int64_t wanted = std::max(rows, capacity_ + capacity_ / 2);
  const int64_t target = std::min(max_positions_, (wanted + kGrowthStep - 1) / kGrowthStep * kGrowthStep);
  store_->resize(target);
  capacity_ = target;
}

void KvCache::reserve_pending(int64_t total) {
  if (length_ + total > max_positions_)
    throw std::length_error("sequence of " + std::to_string(length_ + total) +
                            " positions exceeds the KV cache limit of " + std::to_string(max_positions_));
  grow(length_ - base_ + total);
  pending_ = total;
  pending_links_.resize(size_t(total));
}

void KvCache::begin_pending(int64_t n) {
  pending_links_.clear();
  reserve_pending(n);
}

void KvCache::append_pending(int64_t n) { reserve_pending(pending_ + n); }

void KvCache::link_pending(int64_t row, int64_t parent, int64_t pos, int32_t token) {
  if (row < 0 || row >= pending_ || parent >= row) throw std::out_of_range("pending row link out of order");
  pending_links_[size_t(row)] = {parent, pos, token};
}

void KvCache::drop_pending_from(int64_t n) {
  if (n < 0 || n > pending_) throw std::out_of_range("drop_pending_from past the pending rows");
  pending_ = n;
  pending_links_.resize(size_t(n));
}

void KvCache::truncate(int64_t n) {
  if (n < base_ || n > length_)
    throw std::out_of_range("truncate to " + std::to_string(n) + " but the cache holds positions " +
                            std::to_string(base_) + " to " + std::to_string(length_));
  length_ = n;
  if (remote_) tokens_.resize(size_t(n));
  pending_ = 0;
  pending_links_.clear();
}

void KvCache::commit(const std::vector<int64_t>& path) {
  for (size_t j = 0; j < path.size(); ++j) {
    if (path[j] < 0 || path[j] >= pending_ || (j > 0 && path[j] <= path[j - 1]))
      throw std::invalid_argument("commit path must be strictly ascending indices below " + std::to_string(pending_));
  }
  // Rows only move towards lower slots, so copying in order is safe.
  std::vector<std::pair<int64_t, int64_t>> moves;
  for (size_t j = 0; j < path.size(); ++j) {
    int64_t src = length_ - base_ + path[j], dst = length_ - base_ + int64_t(j);
    if (src != dst) moves.emplace_back(dst, src);
  }
  if (!moves.empty()) store_->move_rows(moves);
  if (remote_)
    for (int64_t row : path) tokens_.push_back(pending_links_[size_t(row)].token);
  length_ += int64_t(path.size());
  pending_ = 0;
  pending_links_.clear();
  hand_over_full_segments();
}

void KvCache::commit_all() {
  if (remote_)
    for (int64_t row = 0; row < pending_; ++row) tokens_.push_back(pending_links_[size_t(row)].token);
  length_ += pending_;
  pending_ = 0;
  pending_links_.clear();
  hand_over_full_segments();
}

void KvCache::hand_over_full_segments() {
  if (!remote_) return;
  const int64_t to = length_ / remote_->segment() * remote_->segment();
  if (to <= base_) return;
  try {
    remote_->store(*this, base_, to);
  } catch (const RemoteKvLost&) {
    return;  // the rows stay here; the next forward pass rebuilds the remote (remote()->failed())
  }
  // The open segment's rows move down to row 0.
  const int64_t shift = to - base_, keep = length_ - to;
  std::vector<std::pair<int64_t, int64_t>> moves;
  for (int64_t r = 0; r < keep; ++r) moves.emplace_back(r, shift + r);
  store_->move_rows(moves);
  base_ = to;
}

}  // namespace tandem
