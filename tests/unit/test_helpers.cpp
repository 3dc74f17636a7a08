#include "test_helpers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "speculation/generation.h"

namespace tandem::test {

std::vector<int32_t> plain_decode(Transformer& target, const std::vector<int32_t>& prompt, int max_tokens) {
  GenerationOptions options;
  options.max_tokens = max_tokens;
  return generate_autoregressive(target, prompt, options).ids;
}

std::vector<KernelIsa> supported_isas() {
  std::vector<KernelIsa> isas{KernelIsa::Scalar};
  if (best_kernel_isa() != KernelIsa::Scalar) isas.push_back(KernelIsa::Avx2);
  if (best_kernel_isa() == KernelIsa::Avx512Vnni) isas.push_back(KernelIsa::Avx512Vnni);
  return isas;
}

std::string shared_dir() {
  const char* env = std::getenv("TANDEM_SHARED_DIR");
  return env ? env : TANDEM_SHARED_DIR;
}

std::string stories_model() { return shared_dir() + "/data/models/stories260K/model.bin"; }

std::string installed_model(const std::string& name) {
  const char* env = std::getenv("TANDEM_MODELS_DIR");
  std::string path = std::string(env ? env : TANDEM_MODELS_DIR) + "/" + name;
  if (!std::filesystem::exists(path))
    ADD_FAILURE() << path << " is missing: run scripts/setup.sh to install the models";
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string reference_file(const std::string& name) {
  std::string path = std::string(TANDEM_REFERENCE_DIR) + "/" + name;
  if (!std::filesystem::exists(path)) ADD_FAILURE() << path << " is missing: the reference_outputs test writes it";
  return path;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> values(size_t(in.tellg()) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()), std::streamsize(values.size() * 4));
  return values;
}

std::string temp_path(const std::string& stem) {
  static int counter = 0;
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("tandem-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + stem);
  // An earlier test process with the same (reused) pid may have left this path behind: a
  // stale endpoint file there was once read as the new server's address.
  std::filesystem::remove_all(path);
  return path.string();
}

// A copy of stories260K with layer 0's attention norm changed, so it drafts
// differently from the original in some places.
std::string perturbed_stories() {
  // In a folder of its own: the tokenizer is looked up beside the model, and a
  // shared /tmp/tokenizer.bin was rewritten by one test process while another read it.
  const std::filesystem::path folder = temp_path("stories-perturbed");
  std::filesystem::create_directories(folder);
  const std::string path = (folder / "model.bin").string();
  std::ifstream in(stories_model(), std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  const size_t rms_att = 28 + 4 * size_t(512 * 64);
  for (int i = 0; i < 64; ++i) {
    float v;
    std::memcpy(&v, &data[rms_att + 4 * size_t(i)], 4);
    v *= 1.0f + 0.5f * std::sin(float(i));
    std::memcpy(&data[rms_att + 4 * size_t(i)], &v, 4);
  }
  std::ofstream(path, std::ios::binary) << data;
  std::filesystem::copy_file(shared_dir() + "/data/models/stories260K/tokenizer.bin", folder / "tokenizer.bin");
  return path;
}

std::vector<Logits> chain_logits(Transformer& tf, const std::vector<int32_t>& ids, size_t chunk) {
  const int64_t vocab = tf.model().config().vocab_size;
  KvCache cache(tf.model().config(), 1024);
  KvCache* caches[] = {&cache};
  std::vector<Logits> out;
  for (size_t begin = 0; begin < ids.size(); begin += chunk) {
    std::vector<BatchToken> batch;
    for (size_t i = begin; i < std::min(ids.size(), begin + chunk); ++i)
      batch.push_back({ids[i], 0, int64_t(i), i == begin ? -1 : int32_t(i - begin - 1), true});
    auto logits = tf.forward(batch, caches);
    cache.commit_all();
    for (size_t j = 0; j < batch.size(); ++j)
      out.emplace_back(logits.begin() + int64_t(j) * vocab, logits.begin() + int64_t(j + 1) * vocab);
  }
  return out;
}

void expect_bit_identical(const Logits& a, const Logits& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << what;
}

TreeBesideChain expect_tree_beside_chain_matches_chains(Transformer& tf, int prefix_a) {
  const ModelConfig& c = tf.model().config();
  TreeBesideChain t{KvCache(c, 512), KvCache(c, 512), {}, {}, {}, {}, c.vocab_size};
  for (int i = 0; i < prefix_a; ++i) t.prefix_a.push_back(t.token(i));
  for (int i = 0; i < 6; ++i) t.prefix_b.push_back(t.token(100 + i));
  KvCache* caches[] = {&t.a, &t.b};
  for (auto [cache, prefix, seq] : {std::tuple{&t.a, &t.prefix_a, 0}, std::tuple{&t.b, &t.prefix_b, 1}}) {
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < prefix->size(); ++i) batch.push_back({(*prefix)[i], seq, int64_t(i), int32_t(i) - 1, false});
    tf.forward(batch, caches);
    cache->commit_all();
  }
  const int64_t a0 = int64_t(t.prefix_a.size()), b0 = int64_t(t.prefix_b.size());
  t.batch = {
      {t.token(20), 0, a0, -1, true},    {t.token(21), 0, a0 + 1, 0, true}, {t.token(22), 0, a0 + 1, 0, true},
      {t.token(23), 0, a0 + 2, 1, true}, {t.token(24), 0, a0 + 2, 2, true}, {t.token(25), 0, a0 + 2, 2, true},
      {t.token(30), 1, b0, -1, true},    {t.token(31), 1, b0 + 1, 6, true}, {t.token(32), 1, b0 + 2, 7, true},
  };
  auto tree = tf.forward(t.batch, caches);
  for (size_t j = 0; j < t.batch.size(); ++j)
    t.logits.emplace_back(tree.begin() + int64_t(j) * t.vocab, tree.begin() + int64_t(j + 1) * t.vocab);

  // Each node equals the same tokens run as a plain chain.
  for (size_t j = 0; j < t.batch.size(); ++j) {
    std::vector<int32_t> chain = t.batch[j].seq == 0 ? t.prefix_a : t.prefix_b, path;
    for (int64_t k = int64_t(j); k >= 0; k = t.batch[size_t(k)].parent)
      path.insert(path.begin(), t.batch[size_t(k)].token);
    chain.insert(chain.end(), path.begin(), path.end());
    expect_bit_identical(t.logits[j], chain_logits(tf, chain, 4).back(), "tree node " + std::to_string(j));
  }
  return t;
}

double kl_divergence(const float* p, const float* q, int64_t n) {
  auto log_softmax = [n](const float* x) {
    double top = *std::max_element(x, x + n), sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - top);
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(x[i]) - top - std::log(sum);
    return out;
  };
  const std::vector<double> lp = log_softmax(p), lq = log_softmax(q);
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) kl += std::exp(lp[size_t(i)]) * (lp[size_t(i)] - lq[size_t(i)]);
  return kl;
}

}  // namespace tandem::test
