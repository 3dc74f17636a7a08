#include "speculation/speculative.h"

#include "speculation/speculative_run.h"

namespace tandem {

SpeculationOptions speculation_defaults(const Model& target, const Transformer* draft, int max_depth, bool adaptive) {
  SpeculationOptions o;
  o.max_depth = max_depth;
  o.adaptive = adaptive;
  if (draft) o.draft_cost = double(draft->bytes_per_token()) / double(target.weights().bytes_per_token());
  return o;
}

GenerationResult generate_speculative(Transformer& target, Drafter& drafter, const std::vector<int32_t>& prompt_ids,
                                      const GenerationOptions& options, SpeculationStats& stats,
                                      const std::function<void(int32_t)>& on_token,
                                      const SpeculationOptions& speculation) {
  SpeculativeRun run(target.model(), &drafter, prompt_ids, options, speculation, on_token);
  run.prefill(target);
  std::vector<BatchToken> batch;
  KvCache* caches[] = {&run.cache()};
  while (!run.finished()) {
    batch.clear();
    run.add_pass(batch, 0);
    run.finish_pass(target.forward(batch, caches).data());
  }
  const SpeculationStats& s = run.stats();
  stats.passes += s.passes;
  stats.drafted += s.drafted;
  stats.accepted += s.accepted;
  stats.draft_seconds += s.draft_seconds;
  stats.verify_seconds += s.verify_seconds;
  return run.result();
}

}  // namespace tandem
