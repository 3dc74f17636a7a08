#pragma once
// Per-sequence key/value cache with cheap, exact rollback.
//
// Rows [0, length) hold committed positions. A forward pass writes its tokens'
// keys and values into the rows after them ("pending"); commit() then keeps one
// chosen path of those rows as the next positions and drops the rest. A later
// forward may grow a tree of pending rows further (a drafter expanding its
// best nodes one level per pass), so each pending row remembers its parent row.
//
// With a RemoteKv (model/remote_kv.h) the committed positions before base()
// live on KV shards: whenever commits fill whole segments, the cache hands them
// over and keeps only rows from base() on, so it holds at most a segment plus
// the pending rows whatever the context. Rows are indexed locally: committed
// position p is row p - base(), pending row r is row length() - base() + r.
//
// Several samples of one prompt (a request's `n`) share the prompt's positions
// instead: each sample's cache reads positions before base() from one frozen
// prefix cache that no one writes again, and writes its own rows from there on
// (copy-on-write at the prompt's end). A cache has a remote or a shared prefix,
// never both. A cache with a remote shares another's start differently: its remote
// adopts the other's segments where they lie (RemoteKv::adopt) and the rows after them
// are copied (adopt_remote_prefix), which is how cached prompts on KV shards are reused.
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/ops.h"
#include "model/model.h"
#include "model/remote_kv.h"

namespace tandem {

/// The memory that holds a cache's rows, [layer][row][kv_dim] keys and values: host memory,
/// or a GPU's (kernels/cuda). The cache keeps the bookkeeping; the store only moves rows.
class KvRowStore {
 public:
  virtual ~KvRowStore() = default;
  /// Holds `rows` rows per layer, keeping the first min(old, new) rows.
  virtual void resize(int64_t rows) = 0;
  /// For each (dst, src) in order, copies row src onto row dst in every layer (dst < src).
  virtual void move_rows(const std::vector<std::pair<int64_t, int64_t>>& moves) = 0;
  /// Row 0 of `layer`'s keys / values, in the store's memory.
  virtual float* keys(int layer) = 0;
  virtual float* values(int layer) = 0;
  /// Whether the rows are in host memory.
  virtual bool on_host() const = 0;
  /// A store of the same kind for another cache of the same shape, empty.
  virtual std::unique_ptr<KvRowStore> empty_like() const = 0;
};

/// Keys and values of one sequence, every layer.
class KvCache {
 public:
  /// A cache for up to `max_positions` positions (capped at the model's context length).
  KvCache(const ModelConfig& config, int64_t max_positions);
  /// The same, keeping whole committed segments on `remote` (see above).
  KvCache(const ModelConfig& config, int64_t max_positions, std::unique_ptr<RemoteKv> remote);
  /// A cache whose first `prefix_positions` positions (-1: all of prefix->length()) are read
  /// from `prefix` (see above), which must have no remote, no shared prefix of its own and no
  /// pending rows. Fewer positions than the prefix holds: a prompt that shares only the start
  /// of a cached one (server/prefix_cache.h).
  KvCache(const ModelConfig& config, int64_t max_positions, std::shared_ptr<const KvCache> prefix,
          int64_t prefix_positions = -1);
  /// A cache of the same committed positions, every one in rows of its own (the shared
  /// prefix's copied in), sized to hold just them: what may become a shared prefix itself.
  /// Needs host rows, no remote and no pending rows.
  KvCache flat_copy() const;

  /// Drops the storage past the committed rows (a cache about to become a shared prefix).
  void shrink_to_committed();

  /// Before this cache (which has a remote) holds any position: takes the first `positions`
  /// committed positions of `from`, a host cache with a remote of the same kind whose tokens
  /// start the same way. Its segments among them are shared where they lie (RemoteKv::adopt);
  /// its rows after them are copied. Positions that end inside a remote segment round down to
  /// that segment's start. Returns the positions taken; 0 when the remote could not share
  /// (then it has been replaced by a fresh one).
  int64_t adopt_remote_prefix(const KvCache& from, int64_t positions);
  /// A cache of just this one's first `positions` committed positions (rounded as above),
  /// kept where they are through a fresh remote of the same kind; nullptr when the remote
  /// cannot share them. For a cache with a remote, in host memory.
  std::shared_ptr<KvCache> share_remote_prefix(int64_t positions) const;

  /// Committed positions.
  int64_t length() const { return length_; }
  /// Rows written after the committed ones by the last forward pass.
  int64_t pending() const { return pending_; }
  /// Most positions this cache may hold.
  int64_t max_positions() const { return max_positions_; }

  /// First committed position held here; those before it are on the remote or in the shared prefix.
  int64_t base() const { return base_; }
  /// The cache positions before base() are read from (nullptr: none).
  const KvCache* shared_prefix() const { return prefix_.get(); }
  /// The rows attention reads for the key/value head at float `offset` of each row of `layer`:
  /// local row r at slot r, position p of the shared prefix at slot ~p.
  KvRows rows(int layer, int64_t offset) const;
  /// Where positions before base() live (nullptr: nowhere, base() is 0).
  RemoteKv* remote() const { return remote_.get(); }
  /// Token ids of the committed positions (kept while a remote is set: its segments are
  /// rebuilt from them if lost).
  const std::vector<int32_t>& committed_tokens() const { return tokens_; }
  /// Swaps in a remote that holds the same segments (rebuilt after a loss).
  void replace_remote(std::unique_ptr<RemoteKv> remote) { remote_ = std::move(remote); }
  /// Takes the remote away (a cache built only to rebuild segments).
  std::unique_ptr<RemoteKv> take_remote() { return std::move(remote_); }

  /// Drops committed positions from n on, and any pending rows. Requires base() <= n <= length().
  void truncate(int64_t n);
  /// Keeps pending rows `path` (indices among the pending rows, strictly ascending) as the next positions.
  void commit(const std::vector<int64_t>& path);
  /// Keeps every pending row (a chain, such as a prompt).
  void commit_all();

  /// Drops the pending rows and makes room for `n` new ones after the committed rows;
  /// throws if that passes max_positions.
  void begin_pending(int64_t n);
  /// Makes room for `n` more pending rows after the existing ones.
  void append_pending(int64_t n);
  /// Records that pending row `row` holds position `pos` (token `token`) and continues
  /// pending row `parent` (-1: the committed rows).
  void link_pending(int64_t row, int64_t parent, int64_t pos, int32_t token = -1);
  /// Drops pending rows from `n` on (a forward pass that is retried).
  void drop_pending_from(int64_t n);
  /// Parent of pending row `row` (-1: the committed rows).
  int64_t pending_parent(int64_t row) const { return pending_links_.at(size_t(row)).parent; }
  /// Position held by pending row `row`.
  int64_t pending_position(int64_t row) const { return pending_links_.at(size_t(row)).pos; }
  /// Key row of `layer` at local row index `slot` ([kv_dim] floats), in host memory (throws
  /// std::logic_error when the rows are on a device).
  float* key(int layer, int64_t slot) { return host_rows(store_->keys(layer)) + slot * kv_dim_; }
  /// Value row of `layer` at row index `slot`.
  float* value(int layer, int64_t slot) { return host_rows(store_->values(layer)) + slot * kv_dim_; }
  const float* key(int layer, int64_t slot) const { return host_rows(store_->keys(layer)) + slot * kv_dim_; }
  const float* value(int layer, int64_t slot) const { return host_rows(store_->values(layer)) + slot * kv_dim_; }
  /// Where the rows are.
  const KvRowStore& store() const { return *store_; }
  KvRowStore& store() { return *store_; }
  /// Keeps the rows in `store` from now on (a backend's memory); the cache must hold no rows yet.
  void use_store(std::unique_ptr<KvRowStore> store);
  /// Width of a row.
  int64_t kv_dim() const { return kv_dim_; }

  /// Bytes holding committed positions here.
  size_t bytes_used() const { return size_t(length_ - base_) * row_bytes_all_layers(); }
  /// Bytes allocated.
  size_t bytes_allocated() const { return size_t(capacity_) * row_bytes_all_layers(); }
  /// Bytes of the positions on the remote.
  size_t bytes_on_remote() const { return remote_ ? size_t(base_) * row_bytes_all_layers() : 0; }

  /// Tokens whose logits this sequence wants even where the transformer's classifier is cut
  /// to a smaller vocabulary (Transformer::restrict_vocabulary): a draft model's own context
  /// tokens, which a draft may copy. Ignored by a transformer with the whole vocabulary.
  void also_score(int32_t token) { extra_tokens_.push_back(token); }
  /// What also_score() added, in order.
  const std::vector<int32_t>& extra_tokens() const { return extra_tokens_; }

 private:
  KvCache(int64_t kv_dim, int n_layers, int64_t max_positions, std::unique_ptr<KvRowStore> store);
  size_t row_bytes_all_layers() const { return size_t(kv_dim_) * 4 * 2 * size_t(n_layers_); }
  float* host_rows(float* rows) const;
  void grow(int64_t rows);
  void reserve_pending(int64_t total);
  void hand_over_full_segments();

  struct PendingLink {
    int64_t parent = -1;  // pending row this one continues, -1: the committed rows
    int64_t pos = -1;     // absolute position
    int32_t token = -1;
  };

  int64_t kv_dim_;
  int n_layers_;
  int64_t max_positions_;
  int64_t capacity_ = 0;
  int64_t length_ = 0;
  int64_t base_ = 0;
  int64_t pending_ = 0;
  std::unique_ptr<RemoteKv> remote_;
  std::shared_ptr<const KvCache> prefix_;
  std::vector<int32_t> tokens_;             // [length_] with a remote, else empty
  std::vector<PendingLink> pending_links_;  // [pending_]
  std::vector<int32_t> extra_tokens_;       // also_score()'s
  std::unique_ptr<KvRowStore> store_;       // [layer][capacity][kv_dim] keys and values
};

}  // namespace tandem
