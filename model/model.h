#pragma once
// A loaded model: configuration, weights (views into the mapped file) and tokenizer.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "model/packed_weights.h"
#include "model/tokenizer.h"

namespace tandem {

class GgufFile;
class MappedFile;

/// Transformer families the forward pass implements.
enum class Architecture { Llama, Qwen2, Gemma3 };

/// Feed-forward gate activation.
enum class Activation { Silu, GeluTanh };

/// Shapes and constants of one model.
struct ModelConfig {
  std::string name;          // from the file's metadata, or the file name
  std::string architecture;  // as the file names it: "llama", "qwen2"
  Architecture arch = Architecture::Llama;
  int dim = 0;         // residual width
  int hidden_dim = 0;  // feed-forward width
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // < n_heads means grouped-query attention
  int head_dim = 0;
  int vocab_size = 0;
  int64_t context_length = 0;  // positions the model was trained for
  float rms_eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeStyle rope_style = RopeStyle::Interleaved;
  bool tied_embeddings = false;  // output projection is the token embedding
  float embedding_scale = 1.0f;  // gemma3 multiplies embeddings by sqrt(dim)
  Activation activation = Activation::Silu;
  int sliding_window = 0;             // > 0: local layers attend to this many latest positions
  int global_layer_every = 0;         // with a window: every n-th layer (n-1, 2n-1, ...) is global
  double rope_theta_local = 10000.0;  // RoPE base of the local (windowed) layers
  /// Attention window of a layer in positions, 0 for the whole sequence.
  int window(int layer) const {
    return sliding_window > 0 && (global_layer_every == 0 || (layer + 1) % global_layer_every != 0) ? sliding_window
                                                                                                    : 0;
  }
  /// Width of one position's keys (or values) in the cache.
  int kv_dim() const { return n_kv_heads * head_dim; }
};

/// One transformer block's weights.
struct LayerWeights {
  std::vector<float> attn_norm;       // [dim]
  WeightMatrix wq, wk, wv, wo;        // [n_heads*head_dim, dim], [kv_dim, dim] ×2, [dim, n_heads*head_dim]
  std::vector<float> bq, bk, bv;      // qwen2 biases: [n_heads*head_dim], [kv_dim], [kv_dim]; else empty
  std::vector<float> q_norm, k_norm;  // gemma3 per-head RMSNorm of q and k: [head_dim]; else empty
  std::vector<float> post_attn_norm;  // gemma3 norm of the attention output: [dim]; else empty
  std::vector<float> post_ffn_norm;   // gemma3 norm of the feed-forward output: [dim]; else empty
  std::vector<float> ffn_norm;        // [dim]
  WeightMatrix w_gate, w_up, w_down;  // [hidden, dim], [hidden, dim], [dim, hidden]
};

/// All weights of a model.
struct Weights {
  WeightMatrix token_embedding;      // [vocab, dim]
  std::vector<LayerWeights> layers;  // [n_layers]
  std::vector<float> output_norm;    // [dim]
  WeightMatrix output;               // [vocab, dim] (the embedding when tied)
  /// Bytes of all matrices, as stored.
  size_t bytes() const;
  /// Bytes read per decoded token: every matrix except the embedding table (one row of it).
  size_t bytes_per_token() const;
};

/// A model ready for the forward pass.
class Model {
 public:
  /// Loads a GGUF file, or a llama2.c checkpoint (with its tokenizer.bin beside it or at `tokenizer_path`).
  static std::unique_ptr<Model> load(const std::string& path, const std::string& tokenizer_path = "");

  ~Model();
  /// Shapes and constants.
  const ModelConfig& config() const { return config_; }
  /// Weights (views into the mapped file).
  const Weights& weights() const { return weights_; }
  /// The tokenizer.
  const Tokenizer& tokenizer() const { return tokenizer_; }
  Tokenizer& tokenizer() { return tokenizer_; }
  /// Predominant weight type, e.g. "Q4_K" (most bytes).
  const std::string& quantization() const { return quantization_; }
  /// Path loaded from.
  const std::string& path() const { return path_; }
  /// Number of parameters.
  int64_t parameters() const { return parameters_; }
  /// The matrices repacked for the int8 matmul, packed on first use (once, thread-safe) with `pool`'s threads.
  const PackedWeights& packed(ThreadPool& pool) const;

 private:
  Model() = default;
  void load_gguf(const GgufFile& gguf);
  void load_llama2c(const std::string& tokenizer_path);
  void summarize();

  std::string path_;
  ModelConfig config_;
  Weights weights_;
  Tokenizer tokenizer_;
  std::string quantization_;
  int64_t parameters_ = 0;
  std::shared_ptr<const void> storage_;  // keeps the mapped file alive
  mutable std::once_flag packed_once_;
  mutable std::unique_ptr<PackedWeights> packed_;
};

}  // namespace tandem
