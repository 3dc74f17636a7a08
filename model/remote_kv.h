#pragma once
// The committed key/value segments of one sequence that live elsewhere: on KV
// shards (sequence parallelism). A KvCache with a RemoteKv keeps only its open
// segment and its pending rows; whenever commits fill whole segments it hands
// them over, and each forward pass asks for their attention partials, one
// request per layer. Partials are merged with the local segments in ascending
// order, so where a segment lives never changes a bit of the result.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem {

class KvCache;

/// One token's attention request to the remote segments, for one layer.
struct RemoteQuery {
  const float* q = nullptr;  // [n_heads][head_dim], after rotary
  int64_t first = 0;         // first position the token sees (a local layer's window)
  int64_t end = 0;           // positions [first, end) are remote; end <= the cache's base
};

/// Thrown by a RemoteKv that lost segments (a shard died, answered too late or wrongly):
/// the segments must be rebuilt on replacement() from the sequence's tokens.
struct RemoteKvLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Thrown when lost segments cannot be rebuilt: no remote is left to hold them.
struct RemoteKvUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Where one sequence's remote segments live.
class RemoteKv {
 public:
  virtual ~RemoteKv() = default;
  /// Positions per segment; the cache hands over whole segments only.
  virtual int segment() const = 0;
  /// Takes the committed keys and values of positions [from, to) (whole segments, from the
  /// cache's base), every layer, reading them from `cache` before it drops them.
  virtual void store(const KvCache& cache, int64_t from, int64_t to) = 0;
  /// Starts layer `layer`'s partials for `queries` (sent at once; answered by collect).
  virtual void request(int layer, std::span<const RemoteQuery> queries) = 0;
  /// Waits for the partials of the last request: for each query in order, one partial per
  /// segment overlapping [first, end) in ascending order, each [n_heads][head_dim + 2] (see
  /// attend_segment). Throws RemoteKvLost when they cannot be had.
  virtual void collect(std::vector<float>& partials) = 0;
  /// Whether it lost segments (after RemoteKvLost).
  virtual bool failed() const = 0;
  /// An empty remote over the same places that still work: after a loss, or for a copy of
  /// the sequence's start (nullptr: nothing is left).
  virtual std::unique_ptr<RemoteKv> replacement() = 0;
  /// Before it holds any segment: shares the first `segments` segments of `from`, another
  /// sequence's remote whose first positions hold the same tokens, without moving them (a
  /// cached prompt; server/prefix_cache.h). False when it cannot (another kind of remote,
  /// other places, segments no longer there); this remote must then be replaced. Throws
  /// RemoteKvLost when a place does not answer.
  virtual bool adopt(const RemoteKv& from, int64_t segments) {
    (void)from, (void)segments;
    return false;
  }
};

/// Gives each request its remote, knowing how many positions it may reach (prompt plus
/// tokens asked for); null keeps the request's whole cache on the verifier.
using RemoteKvFactory = std::function<std::unique_ptr<RemoteKv>(int64_t context)>;

}  // namespace tandem
