// The transformer forward, read top to bottom like llama2.c's run.c: embed,
// then per layer attention and feed-forward with residuals, then the classifier.
// Every per-token step (norms, matmul rows, rotary, attention) computes a token
// the same way whatever else is in the batch, so logits are bit-stable.
#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "model/kv_recovery.h"

namespace tandem {

Transformer::Transformer(const Model& model, int threads, int segment, MatmulPath path, Device device)
    : model_(model), pool_(threads), segment_(segment) {
  if (segment_ <= 0) throw std::invalid_argument("attention segment must be positive");
  if (model.config().n_heads / model.config().n_kv_heads > 64)
    throw std::invalid_argument("more than 64 query heads per key/value head");
  backend_ =
      device.kind == Device::Kind::Cuda ? make_cuda_backend(model, device.index) : make_cpu_backend(model, pool_, path);
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

std::span<const float> Transformer::forward(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) {
  validate(batch, caches);
  return forward_keeping_kv_shards([this](const auto& b, auto c) { return forward_once(b, c); }, model_.config(), batch,
                                   caches);
}

// Cache rows: each token writes the next pending row of its sequence, and reads
// the committed rows followed by its ancestors' rows. A sequence whose tokens
// continue earlier pending rows keeps them and appends; the others start afresh.
// Fills slot_ (the local row each token writes) and rows_ (the slot of each
// position a token reads, see KvRows).
void Transformer::cache_rows(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) {
  const int64_t n = int64_t(batch.size());
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
    if (caches[s]->length() == 0 && kept[s] == 0) backend_->adopt(*caches[s]);
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
}

std::span<const float> Transformer::forward_once(const std::vector<BatchToken>& batch,
                                                 std::span<KvCache* const> caches) {
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  const int64_t n = int64_t(batch.size());
  const int64_t dim = c.dim;
  logit_rows_.clear();
  token_ids_.clear();
  for (int64_t i = 0; i < n; ++i) {
    token_ids_.push_back(batch[size_t(i)].token);
    if (batch[size_t(i)].logits) logit_rows_.push_back(i);
  }
  const int64_t n_logits = int64_t(logit_rows_.size());
  Backend& b = *backend_;
  const Activations& a = b.reserve(n, n_logits);
  cache_rows(batch, caches);
  const AttentionBatch attention_batch{batch, caches, rows_, segment_};

  // Token embeddings and rotary angles.
  b.embed(w.token_embedding, token_ids_, c.embedding_scale, a.x);
  const int64_t angles = n * (c.head_dim / 2);
  rotary_tables(batch, c.rope_theta, cos_, sin_);
  b.upload(a.cos, cos_.data(), angles);
  b.upload(a.sin, sin_.data(), angles);
  if (c.sliding_window > 0) {
    rotary_tables(batch, c.rope_theta_local, cos_, sin_);
    b.upload(a.cos_local, cos_.data(), angles);
    b.upload(a.sin_local, sin_.data(), angles);
  }

  for (int layer = 0; layer < c.n_layers; ++layer) {
    const LayerWeights& l = w.layers[size_t(layer)];

    // Attention: q, k, v projections (+ bias), rotary, cache write, attention, output projection.
    b.rmsnorm(a.xb, a.x, l.attn_norm, n, dim, c.rms_eps);
    b.project({{&l.wq, a.q}, {&l.wk, a.k}, {&l.wv, a.v}}, a.xb, n);
    if (!l.bq.empty()) b.add_bias(a.q, l.bq, n);
    if (!l.bk.empty()) b.add_bias(a.k, l.bk, n);
    if (!l.bv.empty()) b.add_bias(a.v, l.bv, n);
    if (!l.q_norm.empty()) {
      b.rmsnorm(a.q, a.q, l.q_norm, n * c.n_heads, c.head_dim, c.rms_eps);
      b.rmsnorm(a.k, a.k, l.k_norm, n * c.n_kv_heads, c.head_dim, c.rms_eps);
    }
    const bool local = c.window(layer) > 0;
    const float* cos = local ? a.cos_local : a.cos;
    const float* sin = local ? a.sin_local : a.sin;
    b.rope(a.q, n, c.n_heads, c.head_dim, cos, sin, c.rope_style);
    b.rope(a.k, n, c.n_kv_heads, c.head_dim, cos, sin, c.rope_style);
    b.store_kv(layer, a.k, a.v, slot_, attention_batch);
    b.attention(layer, attention_batch, a.q, a.att);
    b.project({{&l.wo, a.out}}, a.att, n);
    if (!l.post_attn_norm.empty()) b.rmsnorm(a.out, a.out, l.post_attn_norm, n, dim, c.rms_eps);
    b.add(a.x, a.out, n * dim);

    // Feed-forward: gate activation (SiLU or GELU) times up, then down.
    b.rmsnorm(a.xb, a.x, l.ffn_norm, n, dim, c.rms_eps);
    b.project({{&l.w_gate, a.gate}, {&l.w_up, a.up}}, a.xb, n);
    b.gated_activation(c.activation, a.gate, a.up, n * c.hidden_dim);
    b.project({{&l.w_down, a.out}}, a.gate, n);
    if (!l.post_ffn_norm.empty()) b.rmsnorm(a.out, a.out, l.post_ffn_norm, n, dim, c.rms_eps);
    b.add(a.x, a.out, n * dim);
  }

  // Final norm and classifier, only for the tokens that asked for logits.
  b.gather_rows(a.xb, a.x, logit_rows_, dim);
  b.rmsnorm(a.xb, a.xb, w.output_norm, n_logits, dim, c.rms_eps);
  if (head_tokens_.empty()) {
    b.project({{&w.output, a.logits}}, a.xb, n_logits);
    return b.logits(n_logits * c.vocab_size);
  }
  b.project({{&head_, a.logits}}, a.xb, n_logits);
  const size_t kept = head_tokens_.size(), vocab = size_t(c.vocab_size);
  std::span<const float> cut = b.logits(n_logits * int64_t(kept));
  full_logits_.assign(size_t(n_logits) * vocab, -std::numeric_limits<float>::infinity());
  for (size_t t = 0; t < size_t(n_logits); ++t)
    for (size_t j = 0; j < kept; ++j) full_logits_[t * vocab + size_t(head_tokens_[j])] = cut[t * kept + j];
  score_extra_tokens(batch, caches, a.xb, n_logits);
  return full_logits_;
}

// The logits of the tokens each sequence's cache also wants (KvCache::also_score), from the
// normed final states: a float dot product with each one's dequantized classifier row.
void Transformer::score_extra_tokens(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches,
                                     const float* normed, int64_t n_logits) {
  const WeightMatrix& output = model_.weights().output;
  const int64_t dim = output.cols;
  const size_t vocab = size_t(model_.config().vocab_size);
  std::span<const float> states;
  extra_row_.resize(size_t(dim));
  for (int64_t t = 0; t < n_logits; ++t) {
    const std::vector<int32_t>& extra = caches[size_t(batch[size_t(logit_rows_[size_t(t)])].seq)]->extra_tokens();
    if (extra.empty()) continue;
    if (states.empty()) states = backend_->read(normed, n_logits * dim);
    for (int32_t id : extra) {
      if (id < 0 || size_t(id) >= vocab || kept_[size_t(id)]) continue;
      matrix_row(output, id, extra_row_.data());
      full_logits_[size_t(t) * vocab + size_t(id)] = dot_f32(states.data() + t * dim, extra_row_.data(), dim);
    }
  }
}

size_t Transformer::bytes_per_token() const {
  const WeightMatrix& output = model_.weights().output;
  const size_t skipped = head_tokens_.empty() ? 0 : size_t(output.rows) - head_tokens_.size();
  return model_.weights().bytes_per_token() - skipped * output.row_bytes;
}

void Transformer::restrict_vocabulary(std::vector<int32_t> tokens) {
  const WeightMatrix& output = model_.weights().output;
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  if (!tokens.empty() && (tokens.front() < 0 || tokens.back() >= output.rows))
    throw std::invalid_argument("a restricted vocabulary holds token ids outside 0.." +
                                std::to_string(output.rows - 1));
  head_tokens_ = std::move(tokens);
  kept_.assign(head_tokens_.empty() ? 0 : size_t(output.rows), false);
  for (int32_t id : head_tokens_) kept_[size_t(id)] = true;
  head_bytes_.resize(head_tokens_.size() * output.row_bytes);
  for (size_t j = 0; j < head_tokens_.size(); ++j)
    std::memcpy(head_bytes_.data() + j * output.row_bytes, output.row(head_tokens_[j]), output.row_bytes);
  head_ = output;
  head_.data = head_bytes_.data();
  head_.rows = int64_t(head_tokens_.size());
  if (!head_tokens_.empty()) backend_->add_matrix(head_);
}

void Transformer::rotary_tables(const std::vector<BatchToken>& batch, double theta, std::vector<float>& cos,
                                std::vector<float>& sin) {
  const int hd = model_.config().head_dim, half = hd / 2;
  cos.resize(batch.size() * size_t(half));
  sin.resize(batch.size() * size_t(half));
  for (size_t i = 0; i < batch.size(); ++i) {
    for (int j = 0; j < half; ++j) {
      double angle = double(batch[i].pos) * std::pow(theta, -2.0 * j / hd);
      cos[i * size_t(half) + size_t(j)] = float(std::cos(angle));
      sin[i * size_t(half) + size_t(j)] = float(std::sin(angle));
    }
  }
}

}  // namespace tandem
