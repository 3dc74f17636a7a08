#include "model/fingerprint.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "model/model.h"

namespace tandem {
namespace {

// 64-bit FNV-1a, fed field by field (each with its length, so fields cannot run together).
class Hash {
 public:
  void bytes(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) value_ = (value_ ^ p[i]) * 0x100000001b3ULL;
  }
  void text(std::string_view s) {
    number(int64_t(s.size()));
    bytes(s.data(), s.size());
  }
  void number(int64_t n) { bytes(&n, sizeof n); }
  void real(double x) { bytes(&x, sizeof x); }
  std::string hex() const {
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(value_));
    return out;
  }

 private:
  uint64_t value_ = 0xcbf29ce484222325ULL;
};

void add_vocabulary(Hash& h, const Tokenizer& t) {
  h.number(t.vocab_size());
  for (int32_t id = 0; id < t.vocab_size(); ++id) h.text(t.token_text(id));
  h.number(t.bos_id());
  h.number(t.eos_id());
  h.number(int64_t(t.kind()));
}

void add_matrix(Hash& h, const WeightMatrix& m) {
  h.number(int64_t(m.type));
  h.number(m.rows);
  h.number(m.cols);
  const size_t size = m.bytes(), sample = std::min<size_t>(size, 4096);
  if (!m.data) return;
  h.bytes(m.data, sample);
  h.bytes(static_cast<const char*>(m.data) + size - sample, sample);
}

void add_floats(Hash& h, const std::vector<float>& values) {
  h.number(int64_t(values.size()));
  h.bytes(values.data(), values.size() * sizeof(float));
}

}  // namespace

std::string vocabulary_fingerprint(const Tokenizer& tokenizer) {
  Hash h;
  add_vocabulary(h, tokenizer);
  return std::to_string(tokenizer.vocab_size()) + " tokens:" + h.hex();
}

std::string model_fingerprint(const Model& model) {
  const ModelConfig& c = model.config();
  Hash h;
  h.text(c.architecture);
  for (int64_t n : {int64_t(c.dim), int64_t(c.hidden_dim), int64_t(c.n_layers), int64_t(c.n_heads),
                    int64_t(c.n_kv_heads), int64_t(c.head_dim), int64_t(c.vocab_size), c.context_length,
                    int64_t(c.sliding_window), int64_t(c.global_layer_every), int64_t(c.tied_embeddings)})
    h.number(n);
  for (double x : {double(c.rms_eps), c.rope_theta, c.rope_theta_local, double(c.embedding_scale)}) h.real(x);
  add_vocabulary(h, model.tokenizer());
  const Weights& w = model.weights();
  add_matrix(h, w.token_embedding);
  add_matrix(h, w.output);
  add_floats(h, w.output_norm);
  for (const LayerWeights& layer : w.layers) {
    for (const WeightMatrix* m :
         {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.w_gate, &layer.w_up, &layer.w_down})
      add_matrix(h, *m);
    for (const std::vector<float>* v : {&layer.attn_norm, &layer.ffn_norm, &layer.bq, &layer.bk, &layer.bv,
                                        &layer.q_norm, &layer.k_norm, &layer.post_attn_norm, &layer.post_ffn_norm})
      add_floats(h, *v);
  }
  return c.name + ":" + h.hex();
}

}  // namespace tandem
