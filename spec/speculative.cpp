#include "spec/speculative.h"

#include <chrono>
#include <stdexcept>

#include "spec/draft_length.h"
#include "spec/verify.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

SpeculationOptions speculation_defaults(const Model& target, const Model* draft_model, int max_depth, bool adaptive) {
  SpeculationOptions o;
  o.max_depth = max_depth;
  o.adaptive = adaptive;
  if (draft_model)
    o.draft_cost = double(draft_model->weights().bytes_per_token()) / double(target.weights().bytes_per_token());
  return o;
}

GenerationResult generate_speculative(Transformer& target, Drafter& drafter, const std::vector<int32_t>& prompt_ids,
                                      const GenerationOptions& options, SpeculationStats& stats,
                                      const std::function<void(int32_t)>& on_token,
                                      const SpeculationOptions& speculation) {
  const Model& model = target.model();
  const int32_t vocab = model.config().vocab_size;
  KvCache cache(model.config(), options.max_context);
  check_prompt_fits(prompt_ids, cache);
  GenerationResult result;
  result.prompt_ids = prompt_ids;
  KvCache* caches[] = {&cache};

  // Prefill all but the last prompt token; the last one opens the first verify batch,
  // as each pass's bonus token opens the next.
  auto start = Clock::now();
  feed_chain(target, cache, prompt_ids, 0, int64_t(prompt_ids.size()) - 1, options.prefill_chunk, false);
  std::vector<BatchToken> batch;
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  std::vector<int32_t> context = prompt_ids;
  int32_t pending = prompt_ids.back();
  DraftLength depth(speculation.max_depth, speculation.verify_cost, speculation.draft_cost);
  while (int64_t(result.ids.size()) < options.max_tokens && cache.length() + 1 < cache.max_positions()) {
    auto draft_start = Clock::now();
    TokenTree tree = drafter.draft(context, speculation.adaptive ? depth.next() : speculation.max_depth);
    if (cache.length() + 1 + tree.depth() >= cache.max_positions()) tree = TokenTree();  // no room: one token
    stats.draft_seconds += seconds_since(draft_start);

    auto verify_start = Clock::now();
    batch.assign(1, BatchToken{pending, 0, cache.length(), -1, true});
    tree.append_to(batch, 0, cache.length() + 1, 0);
    auto logits = target.forward(batch, caches);
    const bool greedy = options.sampling.temperature <= 0.0f;
    Verdict verdict = greedy ? verify_greedy(tree, logits.data(), logits.data() + vocab, vocab)
                             : verify_sampling(tree, logits.data(), logits.data() + vocab, vocab, options.sampling,
                                               cache.length() + 1);
    std::vector<int32_t> ran;
    for (const BatchToken& t : batch) ran.push_back(t.token);
    drafter.observe(ran, logits.data(), vocab);
    std::vector<int64_t> keep = {0};
    for (int32_t node : verdict.accepted) keep.push_back(1 + node);
    cache.commit(keep);
    stats.verify_seconds += seconds_since(verify_start);
    ++stats.passes;
    stats.drafted += tree.size();
    stats.accepted += int64_t(verdict.accepted.size());
    depth.update(tree.depth(), int(verdict.accepted.size()));

    std::vector<int32_t> produced;
    for (int32_t node : verdict.accepted) produced.push_back(tree[node].token);
    produced.push_back(verdict.bonus);
    for (int32_t token : produced) {
      if (model.tokenizer().is_stop(token)) {
        result.finish = FinishReason::Stop;
        result.decode_seconds = seconds_since(start);
        result.kv_cache_bytes = cache.bytes_allocated();
        return result;
      }
      result.ids.push_back(token);
      context.push_back(token);
      if (on_token) on_token(token);
      if (int64_t(result.ids.size()) == options.max_tokens) break;
    }
    pending = verdict.bonus;
  }
  result.decode_seconds = seconds_since(start);
  result.kv_cache_bytes = cache.bytes_allocated();
  return result;
}

}  // namespace tandem
