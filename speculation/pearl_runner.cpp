#include "speculation/pearl_runner.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kernels/ops.h"
#include "speculation/draft_model_cache.h"
#include "speculation/drafter.h"
#include "speculation/pearl_pipeline.h"
#include "speculation/tree_drafter.h"
#include "speculation/verify.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// What the two threads share; every field is guarded by `mutex`.
struct Shared {
  Shared(const std::vector<int32_t>& prompt, int window) : pipeline(prompt, window, window) {}
  std::mutex mutex;
  std::condition_variable changed;  // a draft, a verdict, or the end
  PearlPipeline pipeline;
  bool finished = false;         // the verifier is done; the drafter stops
  bool drafter_stopped = false;  // the drafter can draft no further (context full or an error)
};

// The drafter thread: keeps a window of drafts, plus one for the verifier's bonus
// token, queued beyond those under verification (post-verify), always continuing
// the pipeline's current branch.
void drafter_loop(Shared& shared, Transformer& draft, int64_t max_context, const PearlOptions& options,
                  const SamplingParams& sampling, SpeculationStats& stats) {
  int64_t draws = 0;  // of the drafter's random stream
  if (!options.drafter_cpus.empty()) draft.pool().pin(options.drafter_cpus);
  DraftModelCache cache(draft, max_context);
  const int32_t vocab = cache.vocab();
  try {
    for (;;) {
      uint64_t epoch;
      std::vector<int32_t> context;
      {
        std::unique_lock lock(shared.mutex);
        auto idle_start = Clock::now();
        shared.changed.wait(
            lock, [&] { return shared.finished || shared.pipeline.queued_drafts() <= shared.pipeline.window(); });
        stats.drafter_idle_seconds += seconds_since(idle_start);
        if (shared.finished) return;
        epoch = shared.pipeline.epoch();
        context = shared.pipeline.drafter_context();
      }
      if (int64_t(context.size()) >= max_context) break;  // no room for another draft
      auto busy_start = Clock::now();
      const std::vector<float>& logits = cache.sync(context);
      int32_t token, alternative = -1;
      Proposal q;
      if (sampling.temperature > 0.0f) {
        // Drawn from q; whether to branch depends on q alone, never on the tokens drawn.
        q = draft_proposal(logits.data(), vocab, sampling);
        const bool branch = options.tree && q.front().second < options.branch_below;
        auto drawn = draw_distinct(q, branch ? 2 : 1, [&] { return drafter_uniform(sampling.seed, draws++); });
        token = drawn[0];
        if (drawn.size() > 1) alternative = drawn[1];
      } else {
        token = int32_t(argmax(logits.data(), vocab));
        if (options.tree && softmax_probability(logits.data(), vocab, token) < options.branch_below)
          alternative = top_k(logits.data(), vocab, 2).back();
      }
      std::lock_guard lock(shared.mutex);
      stats.draft_seconds += seconds_since(busy_start);
      // Ignored when a verdict changed the branch meanwhile.
      shared.pipeline.on_draft(epoch, token, alternative, std::move(q));
      shared.changed.notify_all();
    }
  } catch (const std::exception&) {
    // A failed drafter only costs speed: the verifier carries on alone, still lossless.
  }
  std::lock_guard lock(shared.mutex);
  shared.drafter_stopped = true;
  shared.changed.notify_all();
}

}  // namespace

ThreadSplit split_threads(int threads, int drafter_threads) {
  std::vector<int> cores;  // the cores this process may run on
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cores.push_back(c);
  if (threads <= 0) threads = std::max(1, int(cores.size()));
  ThreadSplit split;
  split.drafter = drafter_threads > 0 ? drafter_threads : std::max(1, threads / 4);
  split.verifier = std::max(1, threads - split.drafter);
  if (size_t(split.drafter + split.verifier) <= cores.size()) {
    split.verifier_cpus.assign(cores.begin(), cores.begin() + split.verifier);
    split.drafter_cpus.assign(cores.begin() + split.verifier, cores.begin() + split.verifier + split.drafter);
  }
  return split;
}

GenerationResult generate_pearl(Transformer& target, Transformer& draft, const std::vector<int32_t>& prompt_ids,
                                const GenerationOptions& options, SpeculationStats& stats,
                                const std::function<void(int32_t)>& on_token, const PearlOptions& pearl) {
  const Model& model = target.model();
  const int32_t vocab = model.config().vocab_size;
  KvCache cache = request_cache(model.config(), options, prompt_ids.size());
  check_prompt_fits(prompt_ids, cache);
  // Pinning moves the calling thread too; it gets its old cores back at the end.
  cpu_set_t caller_cpus;
  const bool restore = !pearl.verifier_cpus.empty() && sched_getaffinity(0, sizeof caller_cpus, &caller_cpus) == 0;
  if (!pearl.verifier_cpus.empty()) target.pool().pin(pearl.verifier_cpus);
  GenerationResult result;
  result.prompt_ids = prompt_ids;
  KvCache* caches[] = {&cache};

  // The drafter prefills its own cache on its first draft while the verifier prefills here.
  Shared shared(prompt_ids, std::max(1, pearl.max_window));
  auto start = Clock::now();
  std::thread drafter(drafter_loop, std::ref(shared), std::ref(draft), options.max_context, std::cref(pearl),
                      std::cref(options.sampling), std::ref(stats));
  feed_chain(target, cache, prompt_ids, 0, int64_t(prompt_ids.size()) - 1, options.prefill_chunk, false);
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  std::vector<BatchToken> batch;
  auto finish = [&](FinishReason reason) {
    result.finish = reason;
    std::lock_guard lock(shared.mutex);
    shared.finished = true;
    shared.changed.notify_all();
  };
  if (options.max_tokens <= 0) finish(FinishReason::Length);
  try {
    while (!shared.finished) {
      VerifyRequest request;
      {
        std::unique_lock lock(shared.mutex);
        auto idle_start = Clock::now();
        // Pre-verify: start as soon as the first draft(s) exist; the drafter keeps going.
        shared.changed.wait(lock, [&] {
          return shared.drafter_stopped ||
                 shared.pipeline.queued_drafts() >= std::min(pearl.pre_verify, shared.pipeline.window());
        });
        stats.verifier_idle_seconds += seconds_since(idle_start);
        request = *shared.pipeline.next_verify();
      }
      // Room in the cache for the pending token and its drafts.
      const int64_t room = cache.max_positions() - cache.length() - 1;
      if (room < 0) {
        finish(FinishReason::Length);
        break;
      }
      if (int64_t(request.drafts.size()) > room) {
        request.drafts.resize(size_t(room));
        request.alternatives.resize(size_t(room));
        if (!request.proposals.empty()) request.proposals.resize(size_t(room));
      }

      auto verify_start = Clock::now();
      PearlTree tree(request);
      batch.assign(1, BatchToken{request.pending, 0, cache.length(), -1, true});
      tree.tree().append_to(batch, 0, cache.length() + 1, 0);
      auto logits = target.forward(batch, caches);
      Verdict verdict = options.sampling.temperature <= 0.0f
                            ? verify_greedy(tree.tree(), logits.data(), logits.data() + vocab, vocab)
                            : verify_sampling(tree.tree(), logits.data(), logits.data() + vocab, vocab,
                                              options.sampling, cache.length() + 1);
      std::vector<int64_t> keep = {0};
      for (int32_t node : verdict.accepted) keep.push_back(1 + node);
      cache.commit(keep);
      stats.verify_seconds += seconds_since(verify_start);
      ++stats.passes;
      stats.drafted += tree.tree().size();
      stats.accepted += int64_t(verdict.accepted.size());
      const VerifyResult outcome = tree.result(verdict.accepted, verdict.bonus);
      {
        std::lock_guard lock(shared.mutex);
        shared.pipeline.on_verdict(outcome);
        shared.changed.notify_all();
      }

      std::vector<int32_t> produced;
      for (int32_t node : verdict.accepted) produced.push_back(tree.tree()[node].token);
      produced.push_back(verdict.bonus);
      for (int32_t token : produced) {
        if (model.tokenizer().is_stop(token)) {
          finish(FinishReason::Stop);
          break;
        }
        result.ids.push_back(token);
        if (!emit_token(on_token, token)) {
          finish(FinishReason::Stop);
          break;
        }
        if (int64_t(result.ids.size()) == options.max_tokens) {
          finish(FinishReason::Length);
          break;
        }
      }
      if (!shared.finished && cache.length() + 1 >= cache.max_positions()) finish(FinishReason::Length);
    }
  } catch (...) {
    finish(FinishReason::Length);
    drafter.join();
    if (restore) sched_setaffinity(0, sizeof caller_cpus, &caller_cpus);
    throw;
  }
  drafter.join();
  if (restore) sched_setaffinity(0, sizeof caller_cpus, &caller_cpus);
  result.decode_seconds = seconds_since(start);
  result.kv_cache_bytes = cache.bytes_allocated();
  return result;
}

}  // namespace tandem
