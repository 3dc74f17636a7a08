#include "model/model.h"

#include <cmath>
#include <cstring>
#include <map>

#include "kernels/dequantize.h"
#include "model/gguf_file.h"

namespace tandem {
namespace {

WeightMatrix matrix_from(const GgufTensor& t) {
  WeightMatrix w;
  w.type = t.type;
  w.data = t.data;
  w.cols = t.shape[0];
  w.rows = t.shape.size() > 1 ? t.shape[1] : 1;
  w.row_bytes = row_bytes(t.type, w.cols);
  return w;
}

std::vector<float> floats_from(const GgufTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.elements()));
  dequantize_row(t.type, t.data, v.data(), t.elements());
  return v;
}

int positive(const GgufFile& gguf, const std::string& key, int64_t value) {
  if (value <= 0 || value > (1 << 24))
    gguf.fail("metadata " + key + " = " + std::to_string(value) + " is not a plausible size");
  return int(value);
}

}  // namespace

Model::~Model() = default;

size_t Weights::bytes() const {
  size_t total = token_embedding.bytes();
  for (const auto& l : layers)
    total += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes() + l.w_gate.bytes() + l.w_up.bytes() +
             l.w_down.bytes();
  if (output.data != token_embedding.data) total += output.bytes();
  return total;
}

size_t Weights::bytes_per_token() const {
  size_t total = token_embedding.row_bytes + output.bytes();
  for (const auto& l : layers)
    total += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes() + l.w_gate.bytes() + l.w_up.bytes() +
             l.w_down.bytes();
  return total;
}

const PackedWeights& Model::packed(ThreadPool& pool) const {
  std::call_once(packed_once_, [&] { packed_ = std::make_unique<PackedWeights>(weights_, pool); });
  return *packed_;
}

std::unique_ptr<Model> Model::load(const std::string& path, const std::string& tokenizer_path) {
  std::unique_ptr<Model> model(new Model());
  model->path_ = path;
  char magic[4] = {};
  {
    MappedFile probe(path);
    if (probe.size() >= 4) std::memcpy(magic, probe.data(), 4);
  }
  if (std::memcmp(magic, "GGUF", 4) == 0) {
    auto gguf = std::make_shared<GgufFile>(path);
    model->load_gguf(*gguf);
    model->storage_ = gguf;
  } else {
    model->load_llama2c(tokenizer_path);
  }
  model->summarize();
  return model;
}

void Model::load_gguf(const GgufFile& gguf) {
  ModelConfig& c = config_;
  c.architecture = gguf.get_string("general.architecture");
  const std::string& a = c.architecture;
  if (a == "llama") {
    c.arch = Architecture::Llama;
    c.rope_style = RopeStyle::Interleaved;  // llama.cpp's converter permutes Q/K to pairwise rotation
  } else if (a == "qwen2") {
    c.arch = Architecture::Qwen2;
    c.rope_style = RopeStyle::Halves;
  } else if (a == "gemma3") {
    c.arch = Architecture::Gemma3;
    c.rope_style = RopeStyle::Halves;
    c.activation = Activation::GeluTanh;
    c.global_layer_every = 6;      // llama.cpp and Hugging Face: five local layers, then one global
    c.rope_theta_local = 10000.0;  // fixed for gemma3's local layers
  } else {
    gguf.fail("architecture '" + a + "' is not supported (supported: llama, qwen2, gemma3)");
  }
  c.name = gguf.get_string("general.name", path_);
  c.dim = positive(gguf, a + ".embedding_length", gguf.get_int(a + ".embedding_length"));
  c.hidden_dim = positive(gguf, a + ".feed_forward_length", gguf.get_int(a + ".feed_forward_length"));
  c.n_layers = positive(gguf, a + ".block_count", gguf.get_int(a + ".block_count"));
  c.n_heads = positive(gguf, a + ".attention.head_count", gguf.get_int(a + ".attention.head_count"));
  c.n_kv_heads =
      positive(gguf, a + ".attention.head_count_kv", gguf.get_int(a + ".attention.head_count_kv", c.n_heads));
  c.head_dim =
      positive(gguf, a + ".attention.key_length", gguf.get_int(a + ".attention.key_length", c.dim / c.n_heads));
  c.context_length = positive(gguf, a + ".context_length", gguf.get_int(a + ".context_length", 2048));
  c.rms_eps = float(gguf.get_float(a + ".attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_theta = gguf.get_float(a + ".rope.freq_base", 10000.0);
  c.sliding_window = int(gguf.get_int(a + ".attention.sliding_window", 0));
  if (c.arch == Architecture::Gemma3) c.embedding_scale = std::sqrt(float(c.dim));
  if (gguf.find(a + ".rope.scaling.factor") && gguf.get_float(a + ".rope.scaling.factor", 1.0) != 1.0)
    gguf.fail("RoPE scaling is not supported");
  if (c.n_heads % c.n_kv_heads != 0)
    gguf.fail("head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " +
              std::to_string(c.n_kv_heads));
  if (c.head_dim % 2 != 0) gguf.fail("head dimension " + std::to_string(c.head_dim) + " is odd");
  int64_t rope_dims = gguf.get_int(a + ".rope.dimension_count", c.head_dim);
  if (rope_dims != c.head_dim)
    gguf.fail("partial rotary embedding (" + std::to_string(rope_dims) + " of " + std::to_string(c.head_dim) +
              " dims) is not supported");

  tokenizer_ = Tokenizer::from_gguf(gguf);
  c.vocab_size = tokenizer_.vocab_size();

  const int64_t dim = c.dim, hidden = c.hidden_dim, vocab = c.vocab_size;
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = c.kv_dim();
  weights_.token_embedding = matrix_from(gguf.require_tensor("token_embd.weight", {dim, vocab}));
  weights_.output_norm = floats_from(gguf.require_tensor("output_norm.weight", {dim}));
  if (gguf.find_tensor("output.weight")) {
    weights_.output = matrix_from(gguf.require_tensor("output.weight", {dim, vocab}));
  } else {
    weights_.output = weights_.token_embedding;
    c.tied_embeddings = true;
  }
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights l;
    l.attn_norm = floats_from(gguf.require_tensor(p + "attn_norm.weight", {dim}));
    l.wq = matrix_from(gguf.require_tensor(p + "attn_q.weight", {dim, q_dim}));
    l.wk = matrix_from(gguf.require_tensor(p + "attn_k.weight", {dim, kv_dim}));
    l.wv = matrix_from(gguf.require_tensor(p + "attn_v.weight", {dim, kv_dim}));
    l.wo = matrix_from(gguf.require_tensor(p + "attn_output.weight", {q_dim, dim}));
    if (c.arch == Architecture::Qwen2) {
      l.bq = floats_from(gguf.require_tensor(p + "attn_q.bias", {q_dim}));
      l.bk = floats_from(gguf.require_tensor(p + "attn_k.bias", {kv_dim}));
      l.bv = floats_from(gguf.require_tensor(p + "attn_v.bias", {kv_dim}));
    }
    if (c.arch == Architecture::Gemma3) {
      l.q_norm = floats_from(gguf.require_tensor(p + "attn_q_norm.weight", {c.head_dim}));
      l.k_norm = floats_from(gguf.require_tensor(p + "attn_k_norm.weight", {c.head_dim}));
      l.post_attn_norm = floats_from(gguf.require_tensor(p + "post_attention_norm.weight", {dim}));
      l.post_ffn_norm = floats_from(gguf.require_tensor(p + "post_ffw_norm.weight", {dim}));
    }
    l.ffn_norm = floats_from(gguf.require_tensor(p + "ffn_norm.weight", {dim}));
    l.w_gate = matrix_from(gguf.require_tensor(p + "ffn_gate.weight", {dim, hidden}));
    l.w_up = matrix_from(gguf.require_tensor(p + "ffn_up.weight", {dim, hidden}));
    l.w_down = matrix_from(gguf.require_tensor(p + "ffn_down.weight", {hidden, dim}));
    weights_.layers.push_back(std::move(l));
  }
}

void Model::summarize() {
  std::map<std::string, size_t> bytes_by_type;
  auto count = [&](const WeightMatrix& w) {
    bytes_by_type[std::string(dtype_info(w.type).name)] += w.bytes();
    parameters_ += w.rows * w.cols;
  };
  count(weights_.token_embedding);
  if (!config_.tied_embeddings) count(weights_.output);
  for (const auto& l : weights_.layers) {
    for (const WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) count(*w);
    for (const auto* v :
         {&l.attn_norm, &l.ffn_norm, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.post_attn_norm, &l.post_ffn_norm})
      parameters_ += int64_t(v->size());
  }
  parameters_ += int64_t(weights_.output_norm.size());
  size_t best = 0;
  for (const auto& [name, bytes] : bytes_by_type)
    if (bytes > best) {
      best = bytes;
      quantization_ = name;
    }
}

}  // namespace tandem
