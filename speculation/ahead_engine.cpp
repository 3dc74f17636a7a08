#include "speculation/ahead_engine.h"

#include "kernels/ops.h"
#include "speculation/drafter.h"
#include "speculation/tree_drafter.h"

namespace tandem {

AheadEngine::Round AheadEngine::plan(std::span<const std::shared_ptr<AheadLane>> lanes) {
  Round round;
  for (const auto& lane : lanes) {
    if (lane->done || lane->chain.context().empty() || lane->chain.size() >= lane->wanted) continue;
    Round::Job& job = round.jobs.emplace_back();
    job.lane = lane;
    job.context = lane->chain.drafting_context();
    job.epoch = lane->chain.epoch();
    job.sampling = lane->sampling;
    job.branch_below = lane->branch_below;
  }
  return round;
}

void AheadEngine::draft(Round& round) {
  std::vector<DraftModelCache*> caches;
  std::vector<const std::vector<int32_t>*> contexts;
  std::vector<Round::Job*> drafting;
  for (Round::Job& job : round.jobs) {
    AheadLane& lane = *job.lane;
    if (!lane.cache) lane.cache = std::make_unique<DraftModelCache>(draft_, max_context_);
    // The context and the draft after it must fit the draft model's cache.
    if (int64_t(job.context.size()) >= lane.cache->cache().max_positions()) {
      job.failed = true;
      continue;
    }
    caches.push_back(lane.cache.get());
    contexts.push_back(&job.context);
    drafting.push_back(&job);
  }
  try {
    DraftModelCache::sync_together(caches, contexts);
    for (Round::Job* job : drafting) choose(*job, job->lane->cache->logits().data());
  } catch (const std::exception&) {
    for (Round::Job* job : drafting) job->failed = true;  // those requests decode without drafts
  }
}

void AheadEngine::choose(Round::Job& job, const float* logits) {
  const int32_t vocab = draft_.model().config().vocab_size;
  AheadDraft& d = job.drafted;
  if (job.sampling.temperature > 0.0f) {
    // Drawn from q; whether to branch depends on q alone, never on the tokens drawn.
    d.q = draft_proposal(logits, vocab, job.sampling);
    const bool branch = !d.q.empty() && d.q.front().second < job.branch_below;
    AheadLane& lane = *job.lane;
    auto drawn = draw_distinct(d.q, branch ? 2 : 1, [&] { return drafter_uniform(job.sampling.seed, lane.draws++); });
    d.node = TreeNode{drawn.at(0), -1, 1, proposal_probability(d.q, drawn[0])};
    if (drawn.size() > 1) d.alternative = TreeNode{drawn[1], -1, 1, proposal_probability(d.q, drawn[1])};
  } else {
    const auto token = int32_t(argmax(logits, vocab));
    const float p = softmax_probability(logits, vocab, token);
    d.node = TreeNode{token, -1, 1, p};
    if (p < job.branch_below) {
      const int32_t runner_up = top_k(logits, vocab, 2).back();
      d.alternative = TreeNode{runner_up, -1, 1, softmax_probability(logits, vocab, runner_up)};
    }
  }
}

void AheadEngine::apply(Round& round) {
  for (Round::Job& job : round.jobs) {
    AheadLane& lane = *job.lane;
    if (job.failed)
      lane.done = true;
    else if (lane.chain.epoch() == job.epoch)  // else it continues a context that is gone
      lane.chain.push(std::move(job.drafted));
  }
}

bool AheadEngine::step(std::span<const std::shared_ptr<AheadLane>> lanes) {
  Round round = plan(lanes);
  if (round.empty()) return false;
  draft(round);
  apply(round);
  return true;
}

void AheadEngine::fill(std::span<const std::shared_ptr<AheadLane>> lanes) {
  while (step(lanes)) {}
}

}  // namespace tandem
