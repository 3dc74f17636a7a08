// The transformer forward, read top to bottom like llama2.c's run.c: embed,
// then per layer attention and feed-forward with residuals, then the classifier.
// Every per-token step (norms, matmul rows, rotary, attention) computes a token
// the same way whatever else is in the batch, so logits are bit-stable.
#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>

namespace tandem {

Transformer::Transformer(const Model& model, int threads, int segment, MatmulPath path)
    : model_(model), pool_(threads), segment_(segment), path_(path) {
  if (segment_ <= 0) throw std::invalid_argument("attention segment must be positive");
  if (model.config().n_heads / model.config().n_kv_heads > 64)
    throw std::invalid_argument("more than 64 query heads per key/value head");
  if (path_ == MatmulPath::Int8) packed_ = &model.packed(pool_);
}

// y = w x, through the int8 kernels when the matrix has a packed copy.
void Transformer::project(const WeightMatrix& w, const float* x, int64_t n, float* y) {
  project_shared({{&w, y}}, x, n);
}

// Several projections of the same x: the packed ones share one quantization and one threaded pass.
void Transformer::project_shared(std::initializer_list<Projection> projections, const float* x, int64_t n) {
  std::vector<MatmulOutput> packed;
  for (const Projection& p : projections) {
    const PackedMatrix* found = packed_ ? packed_->find(*p.w) : nullptr;
    if (found)
      packed.push_back({found, p.y});
    else
      matmul(*p.w, x, n, p.y, pool_, path_);
  }
  if (!packed.empty()) matmul_int8_shared(packed, x, n, pool_);
}

void Transformer::validate(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) const {
  const int32_t vocab = model_.config().vocab_size;
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchToken& t = batch[i];
    auto bad = [&](const std::string& why) {
      throw std::invalid_argument("batch token " + std::to_string(i) + ": " + why);
    };
    if (t.token < 0 || t.token >= vocab)
      bad("token id " + std::to_string(t.token) + " is outside the vocabulary of " + std::to_string(vocab));
    if (t.seq < 0 || size_t(t.seq) >= caches.size() || !caches[size_t(t.seq)])
      bad("sequence " + std::to_string(t.seq) + " has no cache");
    const KvCache& cache = *caches[size_t(t.seq)];
    if (t.parent < 0 && t.parent_row >= 0) {
      if (t.parent_row >= cache.pending())
        bad("parent row " + std::to_string(t.parent_row) + " is not one of the " + std::to_string(cache.pending()) +
            " pending rows");
      if (t.pos != cache.pending_position(t.parent_row) + 1)
        bad("position " + std::to_string(t.pos) + " does not follow its parent row's " +
            std::to_string(cache.pending_position(t.parent_row)));
    } else if (t.parent < 0) {
      if (t.pos != cache.length())
        bad("a token without a parent must sit at the cache length " + std::to_string(cache.length()) +
            ", not position " + std::to_string(t.pos));
    } else {
      if (size_t(t.parent) >= i) bad("parent " + std::to_string(t.parent) + " must come earlier in the batch");
      const BatchToken& p = batch[size_t(t.parent)];
      if (p.seq != t.seq) bad("parent belongs to another sequence");
      if (t.pos != p.pos + 1)
        bad("position " + std::to_string(t.pos) + " does not follow its parent's " + std::to_string(p.pos));
    }
  }
}

void Transformer::resize_buffers(int64_t n, int64_t n_logits) {
  const ModelConfig& c = model_.config();
  auto fit = [](std::vector<float>& v, int64_t size) {
    if (int64_t(v.size()) < size) v.resize(size_t(size));
  };
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim;
  fit(x_, n * c.dim);
  fit(xb_, n * c.dim);
  fit(q_, n * q_dim);
  fit(k_, n * c.kv_dim());
  fit(v_, n * c.kv_dim());
  fit(att_, n * q_dim);
  fit(out_, n * c.dim);
  fit(gate_, n * c.hidden_dim);
  fit(up_, n * c.hidden_dim);
  fit(cos_, n * c.head_dim / 2);
  fit(sin_, n * c.head_dim / 2);
  if (c.sliding_window > 0) {
    fit(cos_local_, n * c.head_dim / 2);
    fit(sin_local_, n * c.head_dim / 2);
  }
  fit(logits_, n_logits * c.vocab_size);
}

std::span<const float> Transformer::forward(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) {
  validate(batch, caches);
  std::vector<int64_t> pending;  // each cache's pending rows before this pass, restored for a retry
  for (KvCache* cache : caches) pending.push_back(cache ? cache->pending() : 0);
  std::string why = "a KV shard failed while segments were handed over";
  for (;;) {
    // A remote that lost segments (here or in an earlier commit) is rebuilt before the pass.
    for (KvCache* cache : caches)
      if (cache && cache->remote() && cache->remote()->failed()) rebuild_remote(*cache, why);
    try {
      return forward_once(batch, caches);
    } catch (const RemoteKvLost& lost) {
      why = lost.what();
      for (size_t s = 0; s < caches.size(); ++s)
        if (caches[s]) caches[s]->drop_pending_from(pending[s]);
    }
  }
}

void Transformer::rebuild_remote(KvCache& cache, const std::string& why) {
  // Positions before the base run again as a chain into a cache on a replacement remote;
  // being bit-stable, they give the very keys and values that were lost, and it keeps
  // them. A replacement that fails too gives way to the next, until none is left.
  std::unique_ptr<RemoteKv> fresh = cache.remote()->replacement();
  for (;;) {
    if (!fresh) throw RemoteKvUnavailable(why + "; no KV shard is left to hold the sequence's segments");
    std::cerr << "tandem: " << why << "; rebuilding " << cache.base() << " positions on the remaining KV shards"
              << std::endl;
    KvCache rebuilt(model_.config(), cache.max_positions(), std::move(fresh));
    try {
      const std::vector<int32_t>& tokens = cache.committed_tokens();
      KvCache* caches[] = {&rebuilt};
      constexpr int64_t kChunk = 256;
      for (int64_t begin = 0; begin < cache.base(); begin += kChunk) {
        std::vector<BatchToken> chain;
        for (int64_t p = begin; p < std::min(cache.base(), begin + kChunk); ++p)
          chain.push_back({tokens[size_t(p)], 0, p, int32_t(p - begin) - 1, false});
        forward_once(chain, caches);
        rebuilt.commit_all();
      }
      cache.replace_remote(rebuilt.take_remote());
      return;
    } catch (const RemoteKvLost&) { fresh = rebuilt.remote()->replacement(); }
  }
}

std::span<const float> Transformer::forward_once(const std::vector<BatchToken>& batch,
                                                 std::span<KvCache* const> caches) {
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  const int64_t n = int64_t(batch.size());
  const int64_t dim = c.dim, q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = c.kv_dim();
  int64_t n_logits = 0;
  for (const auto& t : batch) n_logits += t.logits;
  resize_buffers(n, n_logits);

  // Cache rows: each token writes the next pending row of its sequence, and reads
  // the committed rows followed by its ancestors' rows. A sequence whose tokens
  // continue earlier pending rows keeps them and appends; the others start afresh.
  std::vector<int64_t> added(caches.size(), 0), kept(caches.size(), 0);
  for (const BatchToken& t : batch)
    if (t.parent < 0 && t.parent_row >= 0) kept[size_t(t.seq)] = caches[size_t(t.seq)]->pending();
  slot_.assign(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const BatchToken& t = batch[size_t(i)];
    slot_[size_t(i)] = kept[size_t(t.seq)] + added[size_t(t.seq)]++;  // index among pending rows
  }
  // Only the sequences in this batch get new pending rows; the others keep theirs.
  for (size_t s = 0; s < caches.size(); ++s) {
    if (added[s] == 0) continue;
    if (kept[s] > 0)
      caches[s]->append_pending(added[s]);
    else
      caches[s]->begin_pending(added[s]);
  }
  for (int64_t i = 0; i < n; ++i) {
    const BatchToken& t = batch[size_t(i)];
    int64_t parent = t.parent >= 0 ? slot_[size_t(t.parent)] : t.parent_row;
    caches[size_t(t.seq)]->link_pending(slot_[size_t(i)], parent, t.pos, t.token);
  }
  rows_.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const BatchToken& t = batch[size_t(i)];
    const KvCache& cache = *caches[size_t(t.seq)];
    std::vector<int64_t>& rows = rows_[size_t(i)];
    rows.resize(size_t(t.pos + 1));
    // Positions before the base are on the cache's remote (never read here) or in its
    // shared prefix (slot ~p, see KvRows).
    const int64_t base = cache.base(), local = cache.length() - base;
    if (cache.shared_prefix())
      for (int64_t p = 0; p < base; ++p) rows[size_t(p)] = ~p;
    else
      std::fill(rows.begin(), rows.begin() + base, int64_t(-1));
    for (int64_t p = base; p < cache.length(); ++p) rows[size_t(p)] = p - base;
    for (int64_t r = slot_[size_t(i)]; r >= 0; r = cache.pending_parent(r))
      rows[size_t(cache.pending_position(r))] = local + r;
  }
  for (int64_t i = 0; i < n; ++i) {
    const KvCache& cache = *caches[size_t(batch[size_t(i)].seq)];
    slot_[size_t(i)] += cache.length() - cache.base();
  }

  // Token embeddings and rotary angles.
  for (int64_t i = 0; i < n; ++i) {
    float* x = &x_[size_t(i * dim)];
    matrix_row(w.token_embedding, batch[size_t(i)].token, x);
    if (c.embedding_scale != 1.0f)
      for (int64_t d = 0; d < dim; ++d) x[d] *= c.embedding_scale;
  }
  const int half = c.head_dim / 2;
  rotary_tables(batch, c.rope_theta, cos_, sin_);
  if (c.sliding_window > 0) rotary_tables(batch, c.rope_theta_local, cos_local_, sin_local_);

  for (int layer = 0; layer < c.n_layers; ++layer) {
    const LayerWeights& l = w.layers[size_t(layer)];

    // Attention: q, k, v projections (+ bias), rotary, cache write, attention, output projection.
    for (int64_t i = 0; i < n; ++i)
      rmsnorm(&xb_[size_t(i * dim)], &x_[size_t(i * dim)], l.attn_norm.data(), dim, c.rms_eps);
    project_shared({{&l.wq, q_.data()}, {&l.wk, k_.data()}, {&l.wv, v_.data()}}, xb_.data(), n);
    const bool local = c.window(layer) > 0;
    const float* cos = local ? cos_local_.data() : cos_.data();
    const float* sin = local ? sin_local_.data() : sin_.data();
    for (int64_t i = 0; i < n; ++i) {
      float* q = &q_[size_t(i * q_dim)];
      float* k = &k_[size_t(i * kv_dim)];
      if (!l.bq.empty()) add_inplace(q, l.bq.data(), q_dim);
      if (!l.bk.empty()) add_inplace(k, l.bk.data(), kv_dim);
      if (!l.bv.empty()) add_inplace(&v_[size_t(i * kv_dim)], l.bv.data(), kv_dim);
      if (!l.q_norm.empty()) {
        for (int h = 0; h < c.n_heads; ++h)
          rmsnorm(q + h * c.head_dim, q + h * c.head_dim, l.q_norm.data(), c.head_dim, c.rms_eps);
        for (int h = 0; h < c.n_kv_heads; ++h)
          rmsnorm(k + h * c.head_dim, k + h * c.head_dim, l.k_norm.data(), c.head_dim, c.rms_eps);
      }
      rope(q, c.n_heads, c.head_dim, cos + i * half, sin + i * half, c.rope_style);
      rope(k, c.n_kv_heads, c.head_dim, cos + i * half, sin + i * half, c.rope_style);
      KvCache& cache = *caches[size_t(batch[size_t(i)].seq)];
      std::copy_n(k, kv_dim, cache.key(layer, slot_[size_t(i)]));
      std::copy_n(&v_[size_t(i * kv_dim)], kv_dim, cache.value(layer, slot_[size_t(i)]));
    }
    attention(layer, batch, caches);
    project(l.wo, att_.data(), n, out_.data());
    if (!l.post_attn_norm.empty())
      for (int64_t i = 0; i < n; ++i)
        rmsnorm(&out_[size_t(i * dim)], &out_[size_t(i * dim)], l.post_attn_norm.data(), dim, c.rms_eps);
    add_inplace(x_.data(), out_.data(), n * dim);

    // Feed-forward: gate activation (SiLU or GELU) times up, then down.
    for (int64_t i = 0; i < n; ++i)
      rmsnorm(&xb_[size_t(i * dim)], &x_[size_t(i * dim)], l.ffn_norm.data(), dim, c.rms_eps);
    project_shared({{&l.w_gate, gate_.data()}, {&l.w_up, up_.data()}}, xb_.data(), n);
    if (c.activation == Activation::Silu)
      swiglu(gate_.data(), up_.data(), n * c.hidden_dim);
    else
      geglu(gate_.data(), up_.data(), n * c.hidden_dim);
    project(l.w_down, gate_.data(), n, out_.data());
    if (!l.post_ffn_norm.empty())
      for (int64_t i = 0; i < n; ++i)
        rmsnorm(&out_[size_t(i * dim)], &out_[size_t(i * dim)], l.post_ffn_norm.data(), dim, c.rms_eps);
    add_inplace(x_.data(), out_.data(), n * dim);
  }

  // Final norm and classifier, only for the tokens that asked for logits.
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i)
    if (batch[size_t(i)].logits)
      rmsnorm(&xb_[size_t(m++ * dim)], &x_[size_t(i * dim)], w.output_norm.data(), dim, c.rms_eps);
  project(w.output, xb_.data(), n_logits, logits_.data());
  return {logits_.data(), size_t(n_logits * c.vocab_size)};
}

void Transformer::rotary_tables(const std::vector<BatchToken>& batch, double theta, std::vector<float>& cos,
                                std::vector<float>& sin) {
  const int hd = model_.config().head_dim, half = hd / 2;
  for (size_t i = 0; i < batch.size(); ++i) {
    for (int j = 0; j < half; ++j) {
      double angle = double(batch[i].pos) * std::pow(theta, -2.0 * j / hd);
      cos[i * size_t(half) + size_t(j)] = float(std::cos(angle));
      sin[i * size_t(half) + size_t(j)] = float(std::sin(angle));
    }
  }
}

void Transformer::attention(int layer, const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) {
  const ModelConfig& c = model_.config();
  const int64_t n = int64_t(batch.size());
  const int heads = c.n_heads, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const int64_t q_dim = int64_t(heads) * hd, ps = attention_partial_floats(hd);
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t window = c.window(layer);
  // Token i sees positions [first, pos]: a local layer only the latest `window`, itself
  // included. With a remote, those before its cache's base are remote; the rest are rows
  // here (its own, or its shared prefix's).
  auto cache_of = [&](int64_t i) -> KvCache& { return *caches[size_t(batch[size_t(i)].seq)]; };
  auto first_of = [&](int64_t i) {
    return window > 0 ? std::max<int64_t>(0, batch[size_t(i)].pos + 1 - window) : int64_t(0);
  };
  auto local_first = [&](int64_t i) {
    return cache_of(i).remote() ? std::max(first_of(i), cache_of(i).base()) : first_of(i);
  };
  auto segments_of = [&](int64_t i) { return batch[size_t(i)].pos / segment_ - local_first(i) / segment_ + 1; };
  // The remote partials are asked for first and collected after the local segments'
  // partials are computed, so the shards and this node work at once; the merge order
  // (remote segments, then local ones, ascending) is the same either way.
  const bool remote_pending = request_remote(layer, batch, caches, first_of);

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
      const int64_t* rows = rows_[size_t(i)].data();
      const int64_t first = local_first(i), count = batch[size_t(i)].pos + 1 - first;
      const int64_t offset = int64_t(h / group) * hd;
      const float* q = &q_[size_t(i * q_dim + h * hd)];
      const KvRows kv_rows = cache.rows(layer, offset);
      scratch.resize(attend_scratch_floats(sub, hd, count, segment_) + size_t(sub * ps));
      if (!separate) {
        float* running = scratch.data() + attend_scratch_floats(sub, hd, count, segment_);
        start(i, h, running);
        attend_fold(running, q, sub, hd, scale, kv_rows, rows + first, first, count, segment_, scratch.data());
        finish_attention(running, sub, hd, &att_[size_t(i * q_dim + h * hd)]);
        continue;
      }
      // This chunk's segments, each to its own partial; they merge below in ascending order.
      const int64_t segments = segments_of(i), s0 = first / segment_;
      for (int64_t s = chunk * segments / chunks; s < (chunk + 1) * segments / chunks; ++s) {
        const int64_t from = std::max(first, (s0 + s) * segment_),
                      to = std::min(first + count, (s0 + s + 1) * segment_);
        attend_segment(q, sub, hd, scale, kv_rows, rows + from, to - from, partial_of(i, sg, s), scratch.data());
      }
    }
  });
  if (!separate) return;
  if (remote_pending) collect_remote(caches);
  pool_.parallel_for(n * subgroups, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> running;
    running.resize(size_t(sub * ps));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / subgroups;
      const int sg = int(item % subgroups);
      start(i, sg * sub, running.data());
      const int64_t segments = segments_of(i);
      for (int64_t s = 0; s < segments; ++s) merge_attention(running.data(), partial_of(i, sg, s), sub, hd);
      finish_attention(running.data(), sub, hd, &att_[size_t(i * q_dim + sg * sub * hd)]);
    }
  });
}

template <class FirstOf>
bool Transformer::request_remote(int layer, const std::vector<BatchToken>& batch, std::span<KvCache* const> caches,
                                 FirstOf first_of) {
  const ModelConfig& c = model_.config();
  const int64_t n = int64_t(batch.size()), q_dim = int64_t(c.n_heads) * c.head_dim;
  remote_offset_.assign(size_t(n), -1);
  remote_segments_.assign(size_t(n), 0);
  remote_tokens_.assign(caches.size(), {});
  std::vector<std::vector<RemoteQuery>> queries(caches.size());
  for (int64_t i = 0; i < n; ++i) {
    const size_t seq = size_t(batch[size_t(i)].seq);
    const int64_t first = first_of(i), base = caches[seq]->base();
    if (!caches[seq]->remote() || first >= base) continue;
    remote_tokens_[seq].push_back(i);
    queries[seq].push_back({&q_[size_t(i * q_dim)], first, base});
    remote_segments_[size_t(i)] = (base - 1) / segment_ - first / segment_ + 1;
  }
  bool asked = false;
  for (size_t seq = 0; seq < caches.size(); ++seq)
    if (!queries[seq].empty()) {
      caches[seq]->remote()->request(layer, queries[seq]);
      asked = true;
    }
  return asked;
}

void Transformer::collect_remote(std::span<KvCache* const> caches) {
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

}  // namespace tandem
