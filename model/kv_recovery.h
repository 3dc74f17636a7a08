#pragma once
// A pass that survives a lost KV shard (sequence parallelism). The keys and values a lost
// shard held exist nowhere else; the model recomputes them, bit for bit (the forward is
// bit-stable), onto a replacement shard, and the pass runs again. This is the KV layer's
// half: which caches need a new remote, rebuilding one, dropping a failed pass's rows; the
// model's half is a forward over a batch, given as a function.
#include <functional>
#include <span>
#include <vector>

#include "model/backend.h"
#include "model/kv_cache.h"

namespace tandem {

/// One forward over `batch` into `caches`, returning the logits (Transformer's, without recovery).
using ForwardPass =
    std::function<std::span<const float>(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches)>;

/// Runs `forward` over `batch`. Before it, a cache whose remote failed (here or in an earlier
/// commit) is rebuilt on a replacement remote; a remote lost during the pass drops the pass's
/// rows and the pass runs again. Throws RemoteKvUnavailable when no replacement is left.
std::span<const float> forward_keeping_kv_shards(const ForwardPass& forward, const ModelConfig& config,
                                                 const std::vector<BatchToken>& batch,
                                                 std::span<KvCache* const> caches);

}  // namespace tandem
