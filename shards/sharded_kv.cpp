#include "shards/sharded_kv.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/ops.h"
#include "model/kv_cache.h"
#include "observability/metrics.h"

namespace tandem {

ShardLink::ShardLink(std::unique_ptr<Channel> channel, std::string name)
    : channel_(std::move(channel)), name_(std::move(name)) {}

void ShardLink::send(const wire::ShardRequest& message) {
  std::lock_guard lock(mutex_);
  const std::string frame = message.SerializeAsString();
  if (!channel_->send(frame)) throw std::runtime_error("KV shard " + name_ + " is unreachable (its channel is closed)");
  metrics().channel_bytes("kv_shard", "sent").Increment(double(frame.size()));
}

wire::ShardReply ShardLink::receive(uint64_t request_id, uint64_t sequence, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_pair(request_id, sequence);
  if (auto it = early_.find(key); it != early_.end()) {
    wire::ShardReply reply = std::move(it->second);
    early_.erase(it);
    return reply;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto frame = left.count() > 0 ? channel_->receive(left) : std::nullopt;
    if (!frame)
      throw std::runtime_error("KV shard " + name_ + " did not answer within " + std::to_string(timeout.count()) +
                               " ms");
    metrics().channel_bytes("kv_shard", "received").Increment(double(frame->size()));
    wire::ShardReply reply;
    if (!reply.ParseFromString(*frame)) throw std::runtime_error("KV shard " + name_ + " sent a malformed reply");
    if (std::make_pair(reply.request_id(), reply.sequence()) == key) return reply;
    // Another request's reply (a batch of several requests), or a late one for a request
    // that gave up: keep a few, drop the oldest.
    early_[{reply.request_id(), reply.sequence()}] = std::move(reply);
    if (early_.size() > 256) early_.erase(early_.begin());
  }
}

namespace {
std::atomic<uint64_t> next_request_id{1};  // unique within this process
}

ShardedKv::ShardedKv(std::vector<std::shared_ptr<ShardLink>> shards, const ModelConfig& config, int segment,
                     std::chrono::milliseconds timeout)
    : request_id_(next_request_id++), config_(config), segment_(segment), timeout_(timeout) {
  wire::ShardRequest message;
  wire::ShardOpen& open = *message.mutable_open();
  open.set_request_id(request_id_);
  open.set_n_layers(uint32_t(config.n_layers));
  open.set_n_heads(uint32_t(config.n_heads));
  open.set_n_kv_heads(uint32_t(config.n_kv_heads));
  open.set_head_dim(uint32_t(config.head_dim));
  open.set_segment(uint32_t(segment));
  open.set_scale(1.0f / std::sqrt(float(config.head_dim)));  // as Transformer::attention
  // The request spreads over the shards that take its open; one that cannot is lost.
  for (auto& shard : shards) {
    if (shard->failed()) continue;
    try {
      shard->send(message);
      shards_.push_back(std::move(shard));
    } catch (const std::runtime_error&) { shard->mark_failed(); }
  }
  if (shards_.empty()) throw std::runtime_error("no KV shard is left to hold a request's segments");
}

ShardedKv::~ShardedKv() {
  wire::ShardRequest message;
  message.mutable_release()->set_request_id(request_id_);
  for (auto& shard : shards_) {
    try {
      shard->send(message);
    } catch (const std::exception&) {
      // A shard that is gone holds nothing to release.
    }
  }
}

void ShardedKv::lose(size_t k, const std::string& why) {
  shards_[k]->mark_failed();
  failed_ = true;
  throw RemoteKvLost(why);
}

std::unique_ptr<RemoteKv> ShardedKv::replacement() {
  try {
    return std::make_unique<ShardedKv>(shards_, config_, segment_, timeout_);
  } catch (const std::runtime_error&) {
    return nullptr;  // every shard is lost
  }
}

bool ShardedKv::adopt(const RemoteKv& from, int64_t segments) {
  const auto* other = dynamic_cast<const ShardedKv*>(&from);
  // Segment s lives on shard s mod N: only the same shards, in the same order, hold them alike.
  if (!other || other == this || stored_ > 0 || other->failed_ || other->shards_ != shards_ ||
      other->segment_ != segment_ || segments > other->stored_ || segments < 0)
    return false;
  for (const auto& shard : shards_)
    if (shard->failed()) return false;
  wire::ShardRequest message;
  wire::ShardAdopt& adopt = *message.mutable_adopt();
  adopt.set_request_id(request_id_);
  adopt.set_from_request_id(other->request_id_);
  adopt.set_segments(segments);
  adopt.set_sequence(++sequence_);
  for (size_t k = 0; k < shards_.size(); ++k) {
    try {
      shards_[k]->send(message);
    } catch (const std::runtime_error& e) { lose(k, e.what()); }
  }
  bool shared_everywhere = true;
  for (size_t k = 0; k < shards_.size(); ++k) {
    try {
      // A refusal (the other request's segments were freed) is no fault of the shard.
      shared_everywhere &= shards_[k]->receive(request_id_, sequence_, timeout_).error().empty();
    } catch (const std::runtime_error& e) { lose(k, e.what()); }
  }
  if (shared_everywhere) stored_ = segments;
  return shared_everywhere;
}

void ShardedKv::store(const KvCache& cache, int64_t from, int64_t to) {
  if (from != stored_ * segment_ || to % segment_ != 0 || from < cache.base())
    throw std::logic_error("sharded KV cache: segments must be handed over whole and in order");
  const int64_t kv_dim = config_.kv_dim();
  const size_t row_bytes = size_t(kv_dim) * 4;
  for (int64_t first = from; first < to; first += segment_) {
    wire::ShardRequest message;
    wire::ShardStore& store = *message.mutable_store();
    store.set_request_id(request_id_);
    store.set_first(first);
    std::string& keys = *store.mutable_keys();
    std::string& values = *store.mutable_values();
    keys.resize(size_t(config_.n_layers) * size_t(segment_) * row_bytes);
    values.resize(keys.size());
    for (int layer = 0; layer < config_.n_layers; ++layer)
      for (int64_t p = 0; p < segment_; ++p) {
        const size_t at = (size_t(layer) * size_t(segment_) + size_t(p)) * row_bytes;
        std::memcpy(&keys[at], cache.key(layer, first + p - cache.base()), row_bytes);
        std::memcpy(&values[at], cache.value(layer, first + p - cache.base()), row_bytes);
      }
    const size_t k = owner(first / segment_);
    try {
      shards_[k]->send(message);
    } catch (const std::runtime_error& e) { lose(k, e.what()); }
    ++stored_;
  }
}

void ShardedKv::request(int layer, std::span<const RemoteQuery> queries) {
  ++sequence_;
  requested_ = std::chrono::steady_clock::now();
  layer_ = layer;
  ranges_.clear();
  wire::ShardRequest message;
  wire::ShardAttend& attend = *message.mutable_attend();
  attend.set_request_id(request_id_);
  attend.set_layer(uint32_t(layer));
  attend.set_sequence(sequence_);
  const size_t q_bytes = size_t(config_.n_heads) * size_t(config_.head_dim) * 4;
  std::string& q = *attend.mutable_q();
  q.resize(queries.size() * q_bytes);
  for (size_t i = 0; i < queries.size(); ++i) {
    if (queries[i].end > stored_ * segment_)
      throw std::logic_error("sharded KV cache: a query reaches past the stored segments");
    attend.add_first(queries[i].first);
    attend.add_end(queries[i].end);
    std::memcpy(&q[i * q_bytes], queries[i].q, q_bytes);
    ranges_.emplace_back(queries[i].first, queries[i].end);
  }
  for (size_t k = 0; k < shards_.size(); ++k) {
    try {
      shards_[k]->send(message);
    } catch (const std::runtime_error& e) { lose(k, e.what()); }
  }
}

void ShardedKv::collect(std::vector<float>& partials) {
  const int64_t per_segment = int64_t(config_.n_heads) * attention_partial_floats(config_.head_dim);
  std::vector<wire::ShardReply> replies;
  for (size_t k = 0; k < shards_.size(); ++k) {
    try {
      replies.push_back(shards_[k]->receive(request_id_, sequence_, timeout_));
    } catch (const std::runtime_error& e) { lose(k, e.what()); }
    const wire::ShardReply& reply = replies.back();
    if (!reply.error().empty()) lose(k, "KV shard " + shards_[k]->name() + ": " + reply.error());
    if (reply.layer() != uint32_t(layer_)) lose(k, "KV shard " + shards_[k]->name() + " answered another layer");
  }
  // Each shard lists its partials query by query in ascending segment order; take them in
  // the global ascending order, checking each is the segment expected.
  std::vector<int> next(shards_.size(), 0);
  partials.clear();
  for (const auto& [first, end] : ranges_)
    for (int64_t s = first / segment_; s * segment_ < end; ++s) {
      const size_t k = owner(s);
      const wire::ShardReply& reply = replies[k];
      const int at = next[k]++;
      if (at >= reply.segments_size() || reply.segments(at) != s ||
          reply.partials().size() != size_t(reply.segments_size() * per_segment) * 4)
        lose(k, "KV shard " + shards_[k]->name() + " does not hold segment " + std::to_string(s) + " of request " +
                    std::to_string(request_id_) + " (lost or malformed)");
      const size_t old = partials.size();
      partials.resize(old + size_t(per_segment));
      std::memcpy(&partials[old], reply.partials().data() + size_t(at * per_segment) * 4, size_t(per_segment) * 4);
    }
  for (size_t k = 0; k < shards_.size(); ++k)
    if (next[k] != replies[k].segments_size())
      lose(k, "KV shard " + shards_[k]->name() + " answered segments nobody asked for");
  metrics().channel_latency("kv_shard").Observe(seconds_since(requested_));
}

}  // namespace tandem
