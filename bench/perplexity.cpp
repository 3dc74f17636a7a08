// Quality of each matmul path: perplexity of a model on a fixed text and the
// mean KL divergence of every scored token's distribution from the first path's
// (the reference, `precise` by default), measured the way llama.cpp's
// llama-perplexity does: the first --tokens tokens of the text in chunks of
// --ctx, each evaluated from an empty cache, scoring the second half of each
// chunk (no BOS is added, as llama.cpp does not for models without one).
//
//   build/tandem_perplexity --model M.gguf --text FILE [--tokens 8192] [--ctx 512] [--matmul precise,int8]
//
// --llama-kl-base FILE also writes the reference's log probabilities for llama.cpp's
// `llama-perplexity --kl-divergence-base FILE --kl-divergence`, and each path's KL is
// given both exactly and as llama-perplexity computes it from that file (16-bit log
// probabilities), so the two engines' figures compare like for like.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "bench/kl_base_file.h"
#include "model/model.h"
#include "model/transformer.h"

namespace tandem {
namespace {

// log-softmax of n logits, in double.
std::vector<double> log_softmax(const float* logits, int64_t n) {
  double top = *std::max_element(logits, logits + n), sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - top);
  const double log_z = top + std::log(sum);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(logits[i]) - log_z;
  return out;
}

struct PathQuality {
  std::string name;
  double nll = 0, kl = 0, kl_16bit = 0;  // sums over scored tokens
  int64_t same_top = 0;                  // tokens whose most likely next token matches the reference's
};

int run(int argc, char** argv) {
  Flags flags("tandem_perplexity",
              "Perplexity and mean KL divergence from the reference path, per matmul path, llama-perplexity style.");
  flags.add("model", "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "model file");
  flags.add("text", "", "text file to score");
  flags.add("tokens", "8192", "score within the first this many tokens of the text");
  flags.add("ctx", "512", "tokens per chunk; the second half of each chunk is scored");
  flags.add("matmul", "precise,int8", "comma-separated matmul paths; the first is the KL reference");
  flags.add("threads", "0", "threads (0: one per core)");
  flags.add("json", "", "also write the figures to this JSON file");
  flags.add("llama-kl-base", "", "also write the reference's log probabilities here, as llama-perplexity's KL base");
  if (!flags.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
  std::ifstream in(flags.get("text"));
  if (!in) throw UsageError("--text: cannot read '" + flags.get("text") + "'");
  std::stringstream text;
  text << in.rdbuf();
  auto model = Model::load(flags.get("model"));
  const int64_t ctx = flags.get_int("ctx"), vocab = model->config().vocab_size;
  std::vector<int32_t> tokens = model->tokenizer().encode(text.str(), model->tokenizer().add_bos());
  const int64_t chunks = std::min<int64_t>(flags.get_int("tokens"), int64_t(tokens.size())) / ctx;
  if (chunks < 1 || ctx < 2) throw UsageError("the text has fewer than --ctx tokens");

  std::vector<PathQuality> paths;
  std::vector<std::unique_ptr<Transformer>> transformers;
  for (const auto& name : flags.get_list("matmul")) {
    paths.push_back({name});
    transformers.push_back(std::make_unique<Transformer>(*model, int(flags.get_int("threads")), kAttentionSegment,
                                                         matmul_path_named(name)));
  }
  const int64_t first = ctx / 2, scored_per_chunk = ctx - 1 - first;
  std::vector<std::vector<double>> reference(static_cast<size_t>(scored_per_chunk));
  std::vector<QuantizedLogProbs> reference_16bit(static_cast<size_t>(scored_per_chunk));
  std::unique_ptr<KlBaseWriter> base_file;
  if (!flags.get("llama-kl-base").empty())
    base_file = std::make_unique<KlBaseWriter>(flags.get("llama-kl-base"), ctx, int32_t(vocab), chunks, tokens);
  for (int64_t c = 0; c < chunks; ++c) {
    std::vector<BatchToken> batch;
    for (int64_t i = 0; i < ctx; ++i)
      batch.push_back({tokens[size_t(c * ctx + i)], 0, i, int32_t(i - 1), i >= first && i < ctx - 1});
    for (size_t p = 0; p < paths.size(); ++p) {
      KvCache cache(model->config(), ctx);
      KvCache* caches[] = {&cache};
      std::span<const float> logits = transformers[p]->forward(batch, caches);
      for (int64_t s = 0; s < scored_per_chunk; ++s) {
        std::vector<double> lp = log_softmax(logits.data() + s * vocab, vocab);
        const int32_t next = tokens[size_t(c * ctx + first + s + 1)];
        paths[p].nll -= lp[size_t(next)];
        if (p == 0) {
          reference_16bit[size_t(s)] = quantize_log_probs(lp);
          if (base_file) base_file->add(reference_16bit[size_t(s)]);
          reference[size_t(s)] = std::move(lp);
          continue;
        }
        paths[p].kl_16bit += kl_from_base(reference_16bit[size_t(s)], lp);
        const std::vector<double>& ref = reference[size_t(s)];
        double kl = 0;
        for (int64_t v = 0; v < vocab; ++v) kl += std::exp(ref[size_t(v)]) * (ref[size_t(v)] - lp[size_t(v)]);
        paths[p].kl += kl;
        paths[p].same_top += std::max_element(lp.begin(), lp.end()) - lp.begin() ==
                             std::max_element(ref.begin(), ref.end()) - ref.begin();
      }
    }
    std::fprintf(stderr, "\rchunk %lld/%lld", (long long)(c + 1), (long long)chunks);
  }
  std::fprintf(stderr, "\n");
  const double scored = double(chunks * scored_per_chunk);
  nlohmann::json report = {{"model", model->config().name}, {"tokens", chunks * ctx}, {"ctx", ctx}, {"scored", scored}};
  std::printf(
      "%s: %lld tokens in %lld chunks of %lld, %.0f scored\n\n| matmul | perplexity | mean KL vs %s | ... as "
      "llama-perplexity computes it | same top token |\n|---|---|---|---|---|\n",
      model->config().name.c_str(), (long long)(chunks * ctx), (long long)chunks, (long long)ctx, scored,
      paths[0].name.c_str());
  for (const auto& p : paths) {
    const double ppl = std::exp(p.nll / scored), kl = p.kl / scored, kl_16bit = p.kl_16bit / scored,
                 same = double(p.same_top) / scored;
    std::printf("| %s | %.4f | %.6f | %.6f | %.2f%% |\n", p.name.c_str(), ppl, kl, kl_16bit,
                &p == &paths[0] ? 100.0 : 100 * same);
    report["paths"].push_back({{"matmul", p.name},
                               {"perplexity", ppl},
                               {"mean_kl", kl},
                               {"mean_kl_16bit_reference", kl_16bit},
                               {"same_top", same}});
  }
  if (!flags.get("json").empty()) std::ofstream(flags.get("json")) << report.dump(2) << "\n";
  return 0;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  try {
    return tandem::run(argc, argv);
  } catch (const tandem::UsageError& e) {
    std::fprintf(stderr, "tandem_perplexity: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem_perplexity: %s\n", e.what());
    return 1;
  }
}
