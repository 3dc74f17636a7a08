#include "shards/kv_shard.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "kernels/ops.h"
#include "observability/log.h"
#include "observability/metrics.h"

namespace tandem {
namespace {

// Shapes beyond these are refused outright (no model comes near them).
constexpr uint32_t kMaxLayers = 1024, kMaxHeads = 1024, kMaxHeadDim = 1024, kMaxSegment = 1 << 16;

int64_t kv_dim(const wire::ShardOpen& s) { return int64_t(s.n_kv_heads()) * s.head_dim(); }
int64_t q_dim(const wire::ShardOpen& s) { return int64_t(s.n_heads()) * s.head_dim(); }
// Bytes of one segment's keys (or values), every layer.
size_t segment_bytes(const wire::ShardOpen& s) { return size_t(s.n_layers()) * s.segment() * size_t(kv_dim(s)) * 4; }

std::vector<float> floats_of(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

}  // namespace

KvShard::KvShard(KvShardLimits limits, int threads) : limits_(limits), pool_(threads) {}

void KvShard::reject(const std::string& why) {
  ++stats_.rejected;
  log_event(LogLevel::warn, "shard_refused", {{"reason", why}});
}

std::optional<std::string> KvShard::handle(const std::string& peer, std::string_view frame) {
  wire::ShardRequest request;
  if (!request.ParseFromArray(frame.data(), int(frame.size()))) {
    std::lock_guard lock(mutex_);
    reject("dropped a frame that is not a shard message (" + std::to_string(frame.size()) + " bytes)");
    return std::nullopt;
  }
  switch (request.body_case()) {
    case wire::ShardRequest::kOpen: open(peer, request.open()); return std::nullopt;
    case wire::ShardRequest::kStore: store(peer, request.store()); return std::nullopt;
    case wire::ShardRequest::kRelease: release({peer, request.release().request_id()}); return std::nullopt;
    case wire::ShardRequest::kAttend: return attend(peer, request.attend()).SerializeAsString();
    case wire::ShardRequest::kAdopt: return adopt(peer, request.adopt()).SerializeAsString();
    case wire::ShardRequest::BODY_NOT_SET: break;
  }
  std::lock_guard lock(mutex_);
  reject("dropped an empty shard message");
  return std::nullopt;
}

void KvShard::open(const std::string& peer, const wire::ShardOpen& m) {
  std::lock_guard lock(mutex_);
  const bool sane = m.n_layers() > 0 && m.n_layers() <= kMaxLayers && m.n_heads() > 0 && m.n_heads() <= kMaxHeads &&
                    m.n_kv_heads() > 0 && m.n_heads() % m.n_kv_heads() == 0 && m.head_dim() > 0 &&
                    m.head_dim() <= kMaxHeadDim && m.segment() > 0 && m.segment() <= kMaxSegment &&
                    m.n_heads() / m.n_kv_heads() <= 64 && std::isfinite(m.scale());
  if (!sane) return reject("refused request " + std::to_string(m.request_id()) + ": impossible cache shape");
  const Key key{peer, m.request_id()};
  if (held_.count(key)) return reject("refused a second open of request " + std::to_string(m.request_id()));
  if (int(held_.size()) >= limits_.max_requests)
    return reject("refused request " + std::to_string(m.request_id()) + ": " + std::to_string(held_.size()) +
                  " requests already open");
  Held& held = held_[key];
  held.shape = m;
  held.last_used = std::chrono::steady_clock::now();
  ++stats_.requests;
  metrics().kv_shard_requests.Increment();
}

void KvShard::store(const std::string& peer, const wire::ShardStore& m) {
  std::lock_guard lock(mutex_);
  auto it = held_.find({peer, m.request_id()});
  if (it == held_.end()) return reject("dropped a segment for unknown request " + std::to_string(m.request_id()));
  Held& held = it->second;
  held.last_used = std::chrono::steady_clock::now();
  const wire::ShardOpen& s = held.shape;
  const size_t bytes = segment_bytes(s);
  std::string error;
  if (m.first() < 0 || m.first() % s.segment() != 0)
    error = "segment start " + std::to_string(m.first()) + " is not a multiple of " + std::to_string(s.segment());
  else if (m.keys().size() != bytes || m.values().size() != bytes)
    error = "segment of " + std::to_string(m.keys().size()) + " + " + std::to_string(m.values().size()) +
            " bytes, expected " + std::to_string(bytes) + " each";
  else if (held.segments.count(m.first() / s.segment()))
    error = "segment " + std::to_string(m.first() / s.segment()) + " stored twice";
  else if (stats_.bytes + 2 * bytes > limits_.max_bytes)
    error = "segment would pass this shard's budget of " + std::to_string(limits_.max_bytes) + " bytes";
  if (!error.empty()) {
    if (held.error.empty()) held.error = error;
    return reject("request " + std::to_string(m.request_id()) + ": " + error);
  }
  held.segments[m.first() / s.segment()] =
      std::make_shared<const Segment>(Segment{floats_of(m.keys()), floats_of(m.values())});
  stats_.bytes += 2 * bytes;
  ++stats_.segments;
  metrics().kv_shard_bytes.Increment(double(2 * bytes));
  metrics().kv_shard_segments.Increment();
}

void KvShard::release(const Key& key) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(key);
  if (it != held_.end()) free_locked(it);
}

void KvShard::free_locked(std::map<Key, Held>::iterator it) {
  // A segment another request shares (ShardAdopt) stays, counted, until that one goes too.
  int64_t freed = 0;
  for (const auto& [index, segment] : it->second.segments) freed += segment.use_count() == 1;
  const size_t bytes = 2 * segment_bytes(it->second.shape) * size_t(freed);
  stats_.segments -= freed;
  stats_.bytes -= bytes;
  --stats_.requests;
  metrics().kv_shard_segments.Decrement(double(freed));
  metrics().kv_shard_bytes.Decrement(double(bytes));
  metrics().kv_shard_requests.Decrement();
  held_.erase(it);
}

wire::ShardReply KvShard::attend(const std::string& peer, const wire::ShardAttend& m) {
  const auto started = std::chrono::steady_clock::now();
  wire::ShardReply reply;
  reply.set_request_id(m.request_id());
  reply.set_layer(m.layer());
  reply.set_sequence(m.sequence());
  std::unique_lock lock(mutex_);
  auto fail = [&](const std::string& why) {
    reject("attend of request " + std::to_string(m.request_id()) + ": " + why);
    reply.set_error(why);
    return reply;
  };
  auto it = held_.find({peer, m.request_id()});
  if (it == held_.end()) return fail("unknown request (never opened, released, or idle too long)");
  Held& held = it->second;
  held.last_used = started;
  if (!held.error.empty()) return fail(held.error);
  const wire::ShardOpen& s = held.shape;
  const int64_t n = m.first_size(), seg = s.segment();
  if (m.layer() >= s.n_layers())
    return fail("layer " + std::to_string(m.layer()) + " of a model of " + std::to_string(s.n_layers()));
  if (n > limits_.max_queries || m.end_size() != n || m.q().size() != size_t(n * q_dim(s)) * 4)
    return fail("malformed queries (" + std::to_string(n) + " firsts, " + std::to_string(m.end_size()) + " ends, " +
                std::to_string(m.q().size()) + " bytes of q)");

  // Work items: (query, held segment overlapping its range, key/value head).
  struct Item {
    int64_t query, segment, from, to;  // positions [from, to) of the segment
  };
  const int heads = int(s.n_heads()), hd = int(s.head_dim()), group = heads / int(s.n_kv_heads());
  const int64_t ps = attention_partial_floats(hd), per_item = heads * ps;
  const size_t max_items = limits_.max_reply_bytes / (size_t(per_item) * 4);  // checked as the list grows
  std::vector<Item> items;
  for (int64_t i = 0; i < n; ++i) {
    if (m.first(int(i)) < 0 || m.end(int(i)) < m.first(int(i))) return fail("query with an empty or negative range");
    for (auto s_it = held.segments.lower_bound(m.first(int(i)) / seg);
         s_it != held.segments.end() && s_it->first * seg < m.end(int(i)); ++s_it) {
      if (items.size() == max_items)
        return fail("reply would pass " + std::to_string(limits_.max_reply_bytes) + " bytes");
      items.push_back({i, s_it->first, std::max(m.first(int(i)), s_it->first * seg),
                       std::min(m.end(int(i)), (s_it->first + 1) * seg)});
      reply.add_segments(s_it->first);
    }
  }
  std::vector<float> q = floats_of(m.q());
  std::vector<float> partials(items.size() * size_t(per_item));
  std::vector<int64_t> slots(static_cast<size_t>(seg));
  std::iota(slots.begin(), slots.end(), int64_t(0));
  const int64_t kv = kv_dim(s);
  const size_t layer_offset = size_t(m.layer()) * size_t(seg * kv);
  pool_.parallel_for(int64_t(items.size()) * s.n_kv_heads(), [&](int64_t begin, int64_t end) {
    std::vector<float> scores(size_t(group * seg));
    for (int64_t w = begin; w < end; ++w) {
      const Item& item = items[size_t(w / s.n_kv_heads())];
      const int kv_head = int(w % s.n_kv_heads());
      const Segment& segment = *held.segments.at(item.segment);
      const int64_t row = item.from - item.segment * seg;  // first row inside the segment
      const KvRows rows{.keys = segment.keys.data() + layer_offset + kv_head * hd,
                        .values = segment.values.data() + layer_offset + kv_head * hd,
                        .stride = kv};
      attend_segment(&q[size_t(item.query * q_dim(s) + kv_head * group * hd)], group, hd, s.scale(), rows,
                     slots.data() + row, item.to - item.from,
                     &partials[size_t(w / s.n_kv_heads() * per_item + kv_head * group * ps)], scores.data());
    }
  });
  reply.set_partials(partials.data(), partials.size() * 4);
  stats_.last_partial_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  metrics().kv_shard_partials.Observe(stats_.last_partial_ms / 1e3);
  return reply;
}

wire::ShardReply KvShard::adopt(const std::string& peer, const wire::ShardAdopt& m) {
  wire::ShardReply reply;
  reply.set_request_id(m.request_id());
  reply.set_sequence(m.sequence());
  std::lock_guard lock(mutex_);
  auto fail = [&](const std::string& why) {
    reject("adopt by request " + std::to_string(m.request_id()) + ": " + why);
    reply.set_error(why);
    return reply;
  };
  // Both are looked up under the sender's name: a verifier shares only its own requests.
  auto to = held_.find({peer, m.request_id()});
  auto from = held_.find({peer, m.from_request_id()});
  if (to == held_.end()) return fail("unknown request (never opened, released, or idle too long)");
  if (from == held_.end() || from == to)
    return fail("unknown request " + std::to_string(m.from_request_id()) + " to share (released, or idle too long)");
  const wire::ShardOpen &a = to->second.shape, &b = from->second.shape;
  if (a.n_layers() != b.n_layers() || a.n_heads() != b.n_heads() || a.n_kv_heads() != b.n_kv_heads() ||
      a.head_dim() != b.head_dim() || a.segment() != b.segment() || a.scale() != b.scale())
    return fail("the requests' cache shapes differ");
  if (!to->second.segments.empty() || !to->second.error.empty()) return fail("the request holds segments already");
  if (!from->second.error.empty()) return fail("the request to share failed: " + from->second.error);
  const auto now = std::chrono::steady_clock::now();
  to->second.last_used = from->second.last_used = now;
  for (const auto& [index, segment] : from->second.segments)
    if (index < m.segments()) to->second.segments.emplace(index, segment);
  return reply;
}

void KvShard::serve(Channel& channel, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    release_idle_now_and_then();
    auto frame = channel.receive(std::chrono::milliseconds(100));
    if (!frame) continue;
    if (auto reply = handle("local", *frame)) channel.send(*reply);
  }
}

void KvShard::serve(PeerChannel& channel, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    release_idle_now_and_then();
    auto message = channel.receive(std::chrono::milliseconds(100));
    if (!message) continue;
    auto& [peer, frame] = *message;
    if (auto reply = handle(peer, frame); reply && !channel.send(peer, *reply)) {
      std::lock_guard lock(mutex_);
      reject("could not answer a verifier that has gone away");
    }
  }
}

void KvShard::release_idle_now_and_then() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_idle_check_ < std::chrono::seconds(1)) return;
  last_idle_check_ = now;
  release_idle();
}

int KvShard::release_idle() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  int freed = 0;
  for (auto it = held_.begin(); it != held_.end();) {
    auto next = std::next(it);
    if (now - it->second.last_used > limits_.idle_release) {
      log_event(LogLevel::info, "shard_idle_release",
                {{"request", it->first.second},
                 {"idle_s", std::chrono::duration_cast<std::chrono::seconds>(now - it->second.last_used).count()}});
      free_locked(it);
      ++freed;
    }
    it = next;
  }
  return freed;
}

KvShardStats KvShard::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace tandem
