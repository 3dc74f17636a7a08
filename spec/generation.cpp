#include "spec/generation.h"

#include <stdexcept>

namespace tandem {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

const char* finish_reason_name(FinishReason reason) { return reason == FinishReason::Stop ? "stop" : "length"; }

GenerationResult generate_autoregressive(Transformer& transformer, const std::vector<int32_t>& prompt_ids,
                                         const GenerationOptions& options,
                                         const std::function<void(int32_t)>& on_token) {
  const Model& model = transformer.model();
  const int32_t vocab = model.config().vocab_size;
  if (prompt_ids.empty()) throw std::invalid_argument("the prompt has no tokens");
  KvCache cache(model.config(), options.max_context);
  if (int64_t(prompt_ids.size()) >= cache.max_positions())
    throw std::invalid_argument("prompt of " + std::to_string(prompt_ids.size()) +
                                " tokens does not fit in the context of " + std::to_string(cache.max_positions()) +
                                " positions");
  GenerationResult result;
  result.prompt_ids = prompt_ids;
  KvCache* caches[] = {&cache};

  // Prefill in chunks; only the prompt's last token needs logits.
  auto start = std::chrono::steady_clock::now();
  std::vector<BatchToken> batch;
  std::vector<float> logits;
  const int64_t n_prompt = int64_t(prompt_ids.size());
  for (int64_t begin = 0; begin < n_prompt; begin += options.prefill_chunk) {
    int64_t end = std::min<int64_t>(n_prompt, begin + options.prefill_chunk);
    batch.clear();
    for (int64_t i = begin; i < end; ++i)
      batch.push_back({prompt_ids[size_t(i)], 0, i, i == begin ? -1 : int32_t(i - begin - 1), i == n_prompt - 1});
    auto out = transformer.forward(batch, caches);
    cache.commit_all();
    if (end == n_prompt) logits.assign(out.begin(), out.end());
  }
  result.prefill_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  for (int step = 0; step < options.max_tokens; ++step) {
    int64_t pos = cache.length();
    int32_t next = sample_token(logits.data(), vocab, options.sampling, pos);
    if (model.tokenizer().is_stop(next)) {
      result.finish = FinishReason::Stop;
      break;
    }
    result.ids.push_back(next);
    if (on_token) on_token(next);
    if (step + 1 == options.max_tokens || pos + 1 >= cache.max_positions()) break;
    batch.assign(1, BatchToken{next, 0, pos, -1, true});
    auto out = transformer.forward(batch, caches);
    cache.commit_all();
    logits.assign(out.begin(), out.end());
  }
  result.decode_seconds = seconds_since(start);
  result.kv_cache_bytes = cache.bytes_allocated();
  return result;
}

}  // namespace tandem
