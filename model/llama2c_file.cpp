// The llama2.c checkpoint format: seven int32 (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len; vocab_size < 0 means a separate
// classifier) followed by float32 arrays, each layer-major.
#include <cstdlib>
#include <filesystem>

#include "model/mapped_file.h"
#include "model/model.h"

namespace tandem {

void Model::load_llama2c(const std::string& tokenizer_path) {
  auto file = std::make_shared<MappedFile>(path_);
  ByteReader in(file->data(), file->size(), path_);
  int32_t h[7];
  for (int32_t& v : h) v = in.read<int32_t>("llama2.c header");
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    const int64_t v = i == 5 ? std::abs(int64_t(h[i])) : h[i];
    if (v <= 0 || v > (1 << 24))
      in.fail("not a GGUF file, and as a llama2.c checkpoint its header " + std::string(names[i]) + " = " +
              std::to_string(h[i]) + " is not plausible");
  }
  ModelConfig& c = config_;
  c.architecture = "llama2.c";
  c.arch = Architecture::Llama;
  c.name = std::filesystem::path(path_).parent_path().filename().string();
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab_size = h[5] < 0 ? -h[5] : h[5];
  c.tied_embeddings = h[5] > 0;
  c.context_length = h[6];
  c.head_dim = c.dim / c.n_heads;
  c.rms_eps = 1e-5f;
  c.rope_theta = 10000.0;
  c.rope_style = RopeStyle::Interleaved;
  if (c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0)
    in.fail("inconsistent head counts: dim " + std::to_string(c.dim) + ", heads " + std::to_string(c.n_heads) +
            ", kv heads " + std::to_string(c.n_kv_heads));

  const int64_t dim = c.dim, hidden = c.hidden_dim, layers = c.n_layers, kv_dim = c.kv_dim();
  // Each shape is below 2^24, so a product of three could overflow 64 bits: the total is
  // checked in 128 first, and the arrays below then name the first the file lacks.
  __extension__ typedef unsigned __int128 Wide;
  const Wide d = Wide(dim), weights = Wide(c.vocab_size) * d * (c.tied_embeddings ? 1 : 2) + d +
                                      Wide(layers) * (2 * d + 2 * d * d + 2 * Wide(kv_dim) * d + 3 * Wide(hidden) * d) +
                                      Wide(c.context_length) * Wide(c.head_dim);
  if (weights > Wide(1) << 60) in.fail("its header's shapes need more than 2^62 bytes of weights");
  auto take = [&](int64_t count, const char* what) {
    return reinterpret_cast<const float*>(in.bytes(uint64_t(count) * 4, what).data());
  };
  auto matrix = [](const float* data, int64_t rows, int64_t cols) {
    return WeightMatrix{DType::F32, data, rows, cols, size_t(cols) * 4};
  };
  const float* emb = take(int64_t(c.vocab_size) * dim, "token_embedding");
  const float* rms_att = take(layers * dim, "rms_att");
  const float* wq = take(layers * dim * dim, "wq");
  const float* wk = take(layers * kv_dim * dim, "wk");
  const float* wv = take(layers * kv_dim * dim, "wv");
  const float* wo = take(layers * dim * dim, "wo");
  const float* rms_ffn = take(layers * dim, "rms_ffn");
  const float* w1 = take(layers * hidden * dim, "w1");
  const float* w2 = take(layers * dim * hidden, "w2");
  const float* w3 = take(layers * hidden * dim, "w3");
  const float* rms_final = take(dim, "rms_final");
  take(int64_t(c.context_length) * c.head_dim, "rope tables");  // unused, but must be present
  weights_.token_embedding = matrix(emb, c.vocab_size, dim);
  for (int64_t l = 0; l < layers; ++l) {
    LayerWeights lw;
    lw.attn_norm.assign(rms_att + l * dim, rms_att + (l + 1) * dim);
    lw.wq = matrix(wq + l * dim * dim, dim, dim);
    lw.wk = matrix(wk + l * kv_dim * dim, kv_dim, dim);
    lw.wv = matrix(wv + l * kv_dim * dim, kv_dim, dim);
    lw.wo = matrix(wo + l * dim * dim, dim, dim);
    lw.ffn_norm.assign(rms_ffn + l * dim, rms_ffn + (l + 1) * dim);
    lw.w_gate = matrix(w1 + l * hidden * dim, hidden, dim);
    lw.w_down = matrix(w2 + l * dim * hidden, dim, hidden);
    lw.w_up = matrix(w3 + l * hidden * dim, hidden, dim);
    weights_.layers.push_back(std::move(lw));
  }
  weights_.output_norm.assign(rms_final, rms_final + dim);
  weights_.output = c.tied_embeddings ? weights_.token_embedding
                                      : matrix(take(int64_t(c.vocab_size) * dim, "classifier"), c.vocab_size, dim);

  std::string tok =
      tokenizer_path.empty() ? (std::filesystem::path(path_).parent_path() / "tokenizer.bin").string() : tokenizer_path;
  tokenizer_ = Tokenizer::from_llama2c(tok, c.vocab_size);
  storage_ = file;
}

}  // namespace tandem
