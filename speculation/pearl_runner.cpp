#include "speculation/pearl_runner.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

#include "speculation/ahead_drafting.h"

namespace tandem {
namespace {

// Pins `pool` (and the calling thread) to `cpus` for its lifetime; the calling thread gets
// its old cores back at the end.
class PinnedVerifier {
 public:
  PinnedVerifier(ThreadPool& pool, const std::vector<int>& cpus) {
    if (cpus.empty()) return;
    restore_ = sched_getaffinity(0, sizeof caller_cpus_, &caller_cpus_) == 0;
    pool.pin(cpus);
  }
  ~PinnedVerifier() {
    if (restore_) sched_setaffinity(0, sizeof caller_cpus_, &caller_cpus_);
  }
  PinnedVerifier(const PinnedVerifier&) = delete;
  PinnedVerifier& operator=(const PinnedVerifier&) = delete;

 private:
  cpu_set_t caller_cpus_;
  bool restore_ = false;
};

}  // namespace

AheadDraftingOptions pearl_drafting_options(const PearlOptions& pearl) {
  AheadDraftingOptions o;
  o.pre_verify = pearl.pre_verify;
  o.branch_below = pearl.tree ? pearl.branch_below : 0.0f;
  o.cpus = pearl.drafter_cpus;
  return o;
}

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
  PinnedVerifier pinned(target.pool(), pearl.verifier_cpus);
  const auto start = std::chrono::steady_clock::now();
  AheadDrafting drafting(draft, options.max_context, pearl_drafting_options(pearl));
  drafting.allow_waiting(true);
  std::unique_ptr<Drafter> drafter = drafting.drafter();
  // Drafting for the prompt begins now: the drafter prefills while the verifier does.
  const int max_depth = std::max(1, pearl.max_window);
  drafter->sample_with(options.sampling);
  drafter->prepare(prompt_ids, max_depth);

  // The depth adapts to acceptance; drafting costs the verifier nothing (the other side drafts).
  SpeculationOptions speculation;
  speculation.max_depth = max_depth;
  speculation.adaptive = true;
  speculation.draft_cost = 0.0;
  SpeculationStats run;
  GenerationResult result = generate_speculative(target, *drafter, prompt_ids, options, run, on_token, speculation);
  drafter.reset();
  const double busy = drafting.busy_seconds();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.passes += run.passes;
  stats.drafted += run.drafted;
  stats.accepted += run.accepted;
  stats.verify_seconds += run.verify_seconds;
  stats.draft_seconds += busy;
  stats.drafter_idle_seconds += std::max(0.0, wall - busy);
  stats.verifier_idle_seconds += drafting.waited_seconds();
  return result;
}

}  // namespace tandem
