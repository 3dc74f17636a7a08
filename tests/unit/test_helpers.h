#pragma once
// Paths and small utilities shared by the unit tests.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf_builder.h"
#include "kernels/dtype.h"
#include "kernels/kernel_isa.h"
#include "model/transformer.h"

namespace tandem::test {

/// ../shared, or $TANDEM_SHARED_DIR (the GPU check carries the files it needs elsewhere).
std::string shared_dir();
/// <shared>/data/models/stories260K/model.bin
std::string stories_model();
/// An installed model file by name (fails the test when missing: run scripts/setup.sh).
std::string installed_model(const std::string& name);
/// A reference output file written by tests/reference (the reference_outputs test).
std::string reference_file(const std::string& name);
/// A whole file's bytes.
std::string read_file(const std::string& path);
/// Parses a JSON file.
nlohmann::json read_json(const std::string& path);
/// Reads a whole file of float32 values.
std::vector<float> read_floats(const std::string& path);
/// A copy of stories260K (tokenizer beside it) with one norm changed: a drafter that
/// agrees with the original often but not always.
std::string perturbed_stories();
/// KL(softmax(p) || softmax(q)) of two logit rows of n values, in double.
double kl_divergence(const float* p, const float* q, int64_t n);
/// A fresh temporary file path.
std::string temp_path(const std::string& stem);

/// Plain greedy decoding of `max_tokens` tokens after `prompt`: what every lossless mode must give.
std::vector<int32_t> plain_decode(Transformer& target, const std::vector<int32_t>& prompt, int max_tokens);

/// Logits of one position.
using Logits = std::vector<float>;
/// Logits of each position of `ids`, fed `chunk` tokens at a time into a fresh cache.
std::vector<Logits> chain_logits(Transformer& tf, const std::vector<int32_t>& ids, size_t chunk);
/// Expects `a` and `b` to be the same bits.
void expect_bit_identical(const Logits& a, const Logits& b, const std::string& what);

/// One batch holding a tree for sequence 0 beside a chain for sequence 1, each after a prefix
/// already in its cache:   sequence 0: root(0) ─┬─ 1 ── 3      sequence 1: 6 ── 7 ── 8
///                                              └─ 2 ─┬─ 4
///                                                    └─ 5
struct TreeBesideChain {
  KvCache a, b;                             // the two caches, the batch's rows pending
  std::vector<int32_t> prefix_a, prefix_b;  // what each cache held before the batch
  std::vector<BatchToken> batch;
  std::vector<Logits> logits;  // [batch token]
  /// The token ids the batch draws from.
  int32_t token(int i) const { return int32_t((i * 53 + 7) % vocab); }
  int32_t vocab;
};
/// Runs that batch after a prefix of `prefix_a` tokens for sequence 0 and 6 for sequence 1, and
/// expects every node's logits to equal its path run as a chain, bit for bit.
TreeBesideChain expect_tree_beside_chain_matches_chains(Transformer& tf, int prefix_a);

/// The kernels' instruction sets this processor runs, the scalar reference first.
std::vector<KernelIsa> supported_isas();
/// Restores the process's kernel instruction set after a test forces another.
struct IsaGuard {
  KernelIsa saved = kernel_isa();
  ~IsaGuard() { set_kernel_isa(saved); }
};

/// Every installed real model.
inline const std::vector<std::string> kRealModels = {
    "gemma-3-270m-q4_k_m.gguf",
    "smollm2-135m-instruct-q4_1.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
};

}  // namespace tandem::test
