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
}  // namespace

KvCache::KvCache(const ModelConfig& config, int64_t max_positions)
    : kv_dim_(config.kv_dim()),
      max_positions_(std::min<int64_t>(max_positions, config.context_length)),
      keys_(size_t(config.n_layers)),
      values_(size_t(config.n_layers)) {
  if (max_positions_ <= 0) throw std::invalid_argument("KV cache needs at least one position");
}

KvCache::KvCache(const ModelConfig& config, int64_t max_positions, std::unique_ptr<RemoteKv> remote)
    : KvCache(config, max_positions) {
  remote_ = std::move(remote);
}

KvCache::KvCache(const ModelConfig& config, int64_t max_positions, std::shared_ptr<const KvCache> prefix)
    : KvCache(config, max_positions) {
  if (!prefix || prefix->remote() || prefix->shared_prefix() || prefix->pending() > 0 || prefix->kv_dim() != kv_dim_ ||
      prefix->keys_.size() != keys_.size())
    throw std::invalid_argument("a shared prefix must be a whole committed cache of the same model");
  if (prefix->length() > max_positions_)
    throw std::length_error("a shared prefix of " + std::to_string(prefix->length()) +
                            " positions exceeds the KV cache limit of " + std::to_string(max_positions_));
  base_ = length_ = prefix->length();
  prefix_ = std::move(prefix);
}

void KvCache::shrink_to_committed() {
  if (pending_ > 0) throw std::logic_error("shrink_to_committed with pending rows");
  capacity_ = length_ - base_;
  for (size_t l = 0; l < keys_.size(); ++l) {
    keys_[l].resize(size_t(capacity_ * kv_dim_));
    keys_[l].shrink_to_fit();
    values_[l].resize(size_t(capacity_ * kv_dim_));
    values_[l].shrink_to_fit();
  }
}

KvRows KvCache::rows(int layer, int64_t offset) const {
  KvRows r{.stride = kv_dim_};
  if (capacity_ > 0) {
    r.keys = key(layer, 0) + offset;
    r.values = value(layer, 0) + offset;
  }
  if (prefix_ && prefix_->capacity_ > 0) {
    r.shared_keys = prefix_->key(layer, 0) + offset;
    r.shared_values = prefix_->value(layer, 0) + offset;
  }
  return r;
}

void KvCache::grow(int64_t rows) {
  if (rows <= capacity_) return;
  const int64_t wanted = std::max(rows, capacity_ + capacity_ / 2);
  const int64_t target = std::min(max_positions_, (wanted + kGrowthStep - 1) / kGrowthStep * kGrowthStep);
  for (size_t l = 0; l < keys_.size(); ++l) {
    keys_[l].resize(size_t(target * kv_dim_));
    values_[l].resize(size_t(target * kv_dim_));
  }
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
  for (size_t j = 0; j < path.size(); ++j) {
    int64_t src = length_ - base_ + path[j], dst = length_ - base_ + int64_t(j);
    if (src == dst) continue;
    for (size_t l = 0; l < keys_.size(); ++l) {
      std::memcpy(key(int(l), dst), key(int(l), src), size_t(kv_dim_) * 4);
      std::memcpy(value(int(l), dst), value(int(l), src), size_t(kv_dim_) * 4);
    }
  }
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
  for (size_t l = 0; l < keys_.size(); ++l) {
    std::memmove(key(int(l), 0), key(int(l), shift), size_t(keep * kv_dim_) * 4);
    std::memmove(value(int(l), 0), value(int(l), shift), size_t(keep * kv_dim_) * 4);
  }
  base_ = to;
}

}  // namespace tandem
