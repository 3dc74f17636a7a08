#include "speculation/generation.h"

#include <algorithm>
#include <stdexcept>

namespace tandem {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

const char* finish_reason_name(FinishReason reason) { return reason == FinishReason::Stop ? "stop" : "length"; }

bool emit_token(const std::function<void(int32_t)>& on_token, int32_t id) {
  if (!on_token) return true;
  try {
    on_token(id);
    return true;
  } catch (const StopGeneration&) { return false; }
}

KvCache request_cache(const ModelConfig& config, const GenerationOptions& options, size_t prompt_tokens) {
  const int64_t context = std::min<int64_t>(options.max_context, int64_t(prompt_tokens) + options.max_tokens);
  std::unique_ptr<RemoteKv> remote = options.kv_remote ? options.kv_remote(context) : nullptr;
  if (!remote) return KvCache(config, options.max_context);
  return KvCache(config, options.max_context, std::move(remote));
}

void check_prompt_fits(const std::vector<int32_t>& prompt_ids, const KvCache& cache) {
  if (prompt_ids.empty()) throw std::invalid_argument("the prompt has no tokens");
  if (int64_t(prompt_ids.size()) >= cache.max_positions())
    throw std::invalid_argument("prompt of " + std::to_string(prompt_ids.size()) +
                                " tokens does not fit in the context of " + std::to_string(cache.max_positions()) +
                                " positions");
}

std::vector<float> feed_chain(Transformer& transformer, KvCache& cache, const std::vector<int32_t>& ids, int64_t begin,
                              int64_t end, int chunk, bool want_logits) {
  KvCache* caches[] = {&cache};
  std::vector<BatchToken> batch;
  std::vector<float> logits;
  for (int64_t from = begin; from < end; from += chunk) {
    int64_t to = std::min<int64_t>(end, from + chunk);
    batch.clear();
    for (int64_t i = from; i < to; ++i)
      batch.push_back({ids[size_t(i)], 0, i, i == from ? -1 : int32_t(i - from - 1), want_logits && i == end - 1});
    auto out = transformer.forward(batch, caches);
    cache.commit_all();
    if (to == end && want_logits) logits.assign(out.begin(), out.end());
  }
  return logits;
}

GenerationResult generate_autoregressive(Transformer& transformer, const std::vector<int32_t>& prompt_ids,
                                         const GenerationOptions& options,
                                         const std::function<void(int32_t)>& on_token) {
  const Model& model = transformer.model();
  const int32_t vocab = model.config().vocab_size;
  KvCache cache = request_cache(model.config(), options, prompt_ids.size());
  check_prompt_fits(prompt_ids, cache);
  GenerationResult result;
  result.prompt_ids = prompt_ids;
  KvCache* caches[] = {&cache};

  // Prefill in chunks; only the prompt's last token needs logits.
  auto start = std::chrono::steady_clock::now();
  std::vector<float> logits =
      feed_chain(transformer, cache, prompt_ids, 0, int64_t(prompt_ids.size()), options.prefill_chunk, true);
  std::vector<BatchToken> batch;
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
    if (!emit_token(on_token, next)) {
      result.finish = FinishReason::Stop;
      break;
    }
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
