// The CPU backend: activations in host vectors, the ops of kernels/cpu on a
// thread pool, and attention split into segment partials across threads and
// across the KV shards that hold a sequence's earlier segments.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "kernels/int8_matmul.h"
#include "model/backend.h"
#include "model/packed_weights.h"

namespace tandem {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Model& model, ThreadPool& pool, MatmulPath path) : model_(model), pool_(pool), path_(path) {
    if (path_ == MatmulPath::Int8) packed_ = &model.packed(pool_);
  }

  std::string name() const override { return "cpu"; }

  const Activations& reserve(int64_t n, int64_t n_logits) override {
    const ModelConfig& c = model_.config();
    auto fit = [](std::vector<float>& v, int64_t size) {
      if (int64_t(v.size()) < size) v.resize(size_t(size));
      return v.data();
    };
    const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, half = c.head_dim / 2;
    const int64_t local = c.sliding_window > 0 ? n : 0;
    act_ = {fit(x_, n * c.dim),
            fit(xb_, n * c.dim),
            fit(q_, n * q_dim),
            fit(k_, n * c.kv_dim()),
            fit(v_, n * c.kv_dim()),
            fit(att_, n * q_dim),
            fit(out_, n * c.dim),
            fit(gate_, n * c.hidden_dim),
            fit(up_, n * c.hidden_dim),
            fit(cos_, n * half),
            fit(sin_, n * half),
            fit(cos_local_, local * half),
            fit(sin_local_, local * half),
            fit(logits_, n_logits * c.vocab_size)};
    return act_;
  }

  void upload(float* dst, const float* src, int64_t count) override { std::copy_n(src, count, dst); }
  std::span<const float> logits(int64_t count) override { return {logits_.data(), size_t(count)}; }
  std::span<const float> read(const float* x, int64_t count) override { return {x, size_t(count)}; }
  void adopt(KvCache&) override {}  // a cache's rows start on the host

  void embed(const WeightMatrix& table, std::span<const int32_t> tokens, float scale, float* x) override {
    const int64_t dim = table.cols;
    for (size_t i = 0; i < tokens.size(); ++i) {
      float* row = x + int64_t(i) * dim;
      matrix_row(table, tokens[i], row);
      if (scale != 1.0f)
        for (int64_t d = 0; d < dim; ++d) row[d] *= scale;
    }
  }

  void rmsnorm(float* out, const float* x, const std::vector<float>& weight, int64_t rows, int64_t width,
               float eps) override {
    for (int64_t r = 0; r < rows; ++r) tandem::rmsnorm(out + r * width, x + r * width, weight.data(), width, eps);
  }

  void gather_rows(float* out, const float* x, std::span<const int64_t> rows, int64_t width) override {
    for (size_t i = 0; i < rows.size(); ++i) std::copy_n(x + rows[i] * width, width, out + int64_t(i) * width);
  }

  void add_matrix(const WeightMatrix& m) override {
    own_packed_.erase(m.data);
    if (packed_ && can_pack(m)) own_packed_.emplace(m.data, pack_matrix(m, pool_));
  }

  // Packed matrices share one quantization of x and one threaded pass.
  void project(std::initializer_list<Projection> projections, const float* x, int64_t n) override {
    std::vector<MatmulOutput> packed;
    for (const Projection& p : projections) {
      const PackedMatrix* found = packed_ ? packed_->find(*p.w) : nullptr;
      if (!found && own_packed_.count(p.w->data)) found = &own_packed_.at(p.w->data);
      if (found)
        packed.push_back({found, p.y});
      else
        matmul(*p.w, x, n, p.y, pool_, path_);
    }
    if (!packed.empty()) matmul_int8_shared(packed, x, n, pool_);
  }

  void add_bias(float* x, const std::vector<float>& bias, int64_t rows) override {
    const int64_t width = int64_t(bias.size());
    for (int64_t r = 0; r < rows; ++r) add_inplace(x + r * width, bias.data(), width);
  }

  void rope(float* x, int64_t n, int heads, int head_dim, const float* cos, const float* sin,
            RopeStyle style) override {
    const int half = head_dim / 2;
    for (int64_t i = 0; i < n; ++i)
      tandem::rope(x + i * heads * head_dim, heads, head_dim, cos + i * half, sin + i * half, style);
  }

  void store_kv(int layer, const float* k, const float* v, std::span<const int64_t> slots,
                const AttentionBatch& batch) override {
    const int64_t kv_dim = model_.config().kv_dim();
    for (size_t i = 0; i < slots.size(); ++i) {
      KvCache& cache = *batch.caches[size_t(batch.tokens[i].seq)];
      std::copy_n(k + int64_t(i) * kv_dim, kv_dim, cache.key(layer, slots[i]));
      std::copy_n(v + int64_t(i) * kv_dim, kv_dim, cache.value(layer, slots[i]));
    }
  }

  void attention(int layer, const AttentionBatch& batch, const float* q, float* att) override;

  void gated_activation(Activation act, float* gate, const float* up, int64_t count) override {
    auto apply = [&](int64_t begin, int64_t end) {
      if (act == Activation::Silu)
        swiglu(gate + begin, up + begin, end - begin);
      else
        geglu(gate + begin, up + begin, end - begin);
    };
    // Element by element, so splitting changes no bit; a decode step's few thousand stay on one thread.
    constexpr int64_t kSplitFrom = 32768;
    if (count < kSplitFrom) return apply(0, count);
    pool_.parallel_for(count, apply);
  }

  void add(float* x, const float* y, int64_t count) override { add_inplace(x, y, count); }

 private:
  // Asks the caches' remotes for the partials of their segments (one request per sequence,
  // all sent at once), filling remote_segments_ and remote_tokens_; true if any was asked.
  template <class FirstOf>
  bool request_remote(int layer, const AttentionBatch& batch, const float* q, FirstOf first_of);
  // Waits for what request_remote asked, filling remote_ and remote_offset_.
  void collect_remote(std::span<KvCache* const> caches);

  const Model& model_;
  ThreadPool& pool_;
  MatmulPath path_;
  const PackedWeights* packed_ = nullptr;                     // with path Int8
  std::unordered_map<const void*, PackedMatrix> own_packed_;  // add_matrix's, with path Int8
  Activations act_{};
  std::vector<float> x_, xb_, q_, k_, v_, att_, out_, gate_, up_, cos_, sin_, cos_local_, sin_local_, logits_;
  std::vector<float> partials_;                      // attention segment partials when a context is split
  std::vector<float> remote_;                        // remote segments' partials of this layer
  std::vector<int64_t> remote_offset_;               // [n] token's first remote partial in remote_, -1: none
  std::vector<int64_t> remote_segments_;             // [n] token's remote segments
  std::vector<std::vector<int64_t>> remote_tokens_;  // [sequence] its tokens that asked its remote
};

void CpuBackend::attention(int layer, const AttentionBatch& batch, const float* q_all, float* att) {
  const ModelConfig& c = model_.config();
  const std::vector<BatchToken>& tokens = batch.tokens;
  const int64_t n = int64_t(tokens.size());
  const int segment = batch.segment;
  const int heads = c.n_heads, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const int64_t q_dim = int64_t(heads) * hd, ps = attention_partial_floats(hd);
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t window = c.window(layer);
  // Token i sees positions [first, pos]: a local layer only the latest `window`, itself
  // included. With a remote, those before its cache's base are remote; the rest are rows
  // here (its own, or its shared prefix's).
  auto cache_of = [&](int64_t i) -> KvCache& { return *batch.caches[size_t(tokens[size_t(i)].seq)]; };
  auto first_of = [&](int64_t i) {
    return window > 0 ? std::max<int64_t>(0, tokens[size_t(i)].pos + 1 - window) : int64_t(0);
  };
  auto local_first = [&](int64_t i) {
    return cache_of(i).remote() ? std::max(first_of(i), cache_of(i).base()) : first_of(i);
  };
  auto segments_of = [&](int64_t i) { return tokens[size_t(i)].pos / segment - local_first(i) / segment + 1; };
  // The remote partials are asked for first and collected after the local segments'
  // partials are computed, so the shards and this node work at once; the merge order
  // (remote segments, then local ones, ascending) is the same either way.
  const bool remote_pending = request_remote(layer, batch, q_all, first_of);

  // Work items: a token, `sub` heads that share a key/value head, and one of `chunks`
  // runs of its local segments. With too few (token, head) pairs to keep every thread
  // busy (a decode step), split the context by segment first (each key and value row is
  // still read once), then the heads.
  const int64_t want = 2 * int64_t(pool_.size());
  int64_t fewest_segments = std::numeric_limits<int64_t>::max(), most_segments = 1;
  for (int64_t i = 0; i < n; ++i) {
    fewest_segments = std::min(fewest_segments, segments_of(i));
    most_segments = std::max(most_segments, segments_of(i));
  }
  int64_t chunks = 1;
  while (n * c.n_kv_heads * chunks < want && chunks < fewest_segments) ++chunks;
  int sub = group;
  while (sub % 2 == 0 && n * (heads / sub) * chunks < want) sub /= 2;
  const int subgroups = heads / sub;
  auto partial_of = [&](int64_t i, int sg, int64_t s) {
    return &partials_[size_t(((i * subgroups + sg) * most_segments + s) * sub * ps)];
  };
  // Each local segment's partial apart, merged after: with several chunks, or while the
  // remote partials are on their way (else one fold per item).
  const bool separate = chunks > 1 || remote_pending;
  if (separate) partials_.resize(size_t(n * subgroups * most_segments * sub * ps));
  // Starts heads [h, h + sub) of token i: its remote segments' partials come first.
  auto start = [&](int64_t i, int h, float* running) {
    start_attention(running, sub, hd);
    if (remote_offset_[size_t(i)] < 0) return;
    const float* p = remote_.data() + remote_offset_[size_t(i)];
    for (int64_t s = 0; s < remote_segments_[size_t(i)]; ++s)
      merge_attention(running, p + (s * heads + h) * ps, sub, hd);
  };

  pool_.parallel_for(n * subgroups * chunks, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scratch;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / (subgroups * chunks), chunk = item % chunks;
      const int sg = int(item / chunks % subgroups), h = sg * sub;  // h: the item's first head
      KvCache& cache = cache_of(i);
      const int64_t* rows = batch.rows[size_t(i)].data();
      const int64_t first = local_first(i), count = tokens[size_t(i)].pos + 1 - first;
      const int64_t offset = int64_t(h / group) * hd;
      const float* q = &q_all[size_t(i * q_dim + h * hd)];
      const KvRows kv_rows = cache.rows(layer, offset);
      scratch.resize(attend_scratch_floats(sub, hd, count, segment) + size_t(sub * ps));
      if (!separate) {
        float* running = scratch.data() + attend_scratch_floats(sub, hd, count, segment);
        start(i, h, running);
        attend_fold(running, q, sub, hd, scale, kv_rows, rows + first, first, count, segment, scratch.data());
        finish_attention(running, sub, hd, &att[size_t(i * q_dim + h * hd)]);
        continue;
      }
      // This chunk's segments, each to its own partial; they merge below in ascending order.
      const int64_t segments = segments_of(i), s0 = first / segment;
      for (int64_t s = chunk * segments / chunks; s < (chunk + 1) * segments / chunks; ++s) {
        const int64_t from = std::max(first, (s0 + s) * segment), to = std::min(first + count, (s0 + s + 1) * segment);
        attend_segment(q, sub, hd, scale, kv_rows, rows + from, to - from, partial_of(i, sg, s), scratch.data());
      }
    }
  });
  if (!separate) return;
  if (remote_pending) collect_remote(batch.caches);
  pool_.parallel_for(n * subgroups, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> running;
    running.resize(size_t(sub * ps));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / subgroups;
      const int sg = int(item % subgroups);
      start(i, sg * sub, running.data());
      const int64_t segments = segments_of(i);
      for (int64_t s = 0; s < segments; ++s) merge_attention(running.data(), partial_of(i, sg, s), sub, hd);
      finish_attention(running.data(), sub, hd, &att[size_t(i * q_dim + sg * sub * hd)]);
    }
  });
}

template <class FirstOf>
bool CpuBackend::request_remote(int layer, const AttentionBatch& batch, const float* q, FirstOf first_of) {
  const ModelConfig& c = model_.config();
  const int64_t n = int64_t(batch.tokens.size()), q_dim = int64_t(c.n_heads) * c.head_dim;
  std::span<KvCache* const> caches = batch.caches;
  remote_offset_.assign(size_t(n), -1);
  remote_segments_.assign(size_t(n), 0);
  remote_tokens_.assign(caches.size(), {});
  std::vector<std::vector<RemoteQuery>> queries(caches.size());
  for (int64_t i = 0; i < n; ++i) {
    const size_t seq = size_t(batch.tokens[size_t(i)].seq);
    const int64_t first = first_of(i), base = caches[seq]->base();
    if (!caches[seq]->remote() || first >= base) continue;
    remote_tokens_[seq].push_back(i);
    queries[seq].push_back({&q[size_t(i * q_dim)], first, base});
    remote_segments_[size_t(i)] = (base - 1) / batch.segment - first / batch.segment + 1;
  }
  bool asked = false;
  for (size_t seq = 0; seq < caches.size(); ++seq)
    if (!queries[seq].empty()) {
      caches[seq]->remote()->request(layer, queries[seq]);
      asked = true;
    }
  return asked;
}

void CpuBackend::collect_remote(std::span<KvCache* const> caches) {
  const ModelConfig& c = model_.config();
  const int64_t per_segment = int64_t(c.n_heads) * attention_partial_floats(c.head_dim);
  remote_.clear();
  std::vector<float> received;
  for (size_t seq = 0; seq < caches.size(); ++seq) {
    const std::vector<int64_t>& tokens = remote_tokens_[seq];
    if (tokens.empty()) continue;
    caches[seq]->remote()->collect(received);
    int64_t expected = 0;
    for (int64_t i : tokens) expected += remote_segments_[size_t(i)] * per_segment;
    if (int64_t(received.size()) != expected)
      throw std::runtime_error("remote KV segments answered " + std::to_string(received.size()) +
                               " floats of partials, expected " + std::to_string(expected));
    int64_t offset = int64_t(remote_.size());
    for (int64_t i : tokens) {
      remote_offset_[size_t(i)] = offset;
      offset += remote_segments_[size_t(i)] * per_segment;
    }
    remote_.insert(remote_.end(), received.begin(), received.end());
  }
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Model& model, ThreadPool& pool, MatmulPath path) {
  return std::make_unique<CpuBackend>(model, pool, path);
}

}  // namespace tandem
