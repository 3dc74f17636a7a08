#include "server/sample_group.h"

#include <algorithm>

namespace tandem {

uint64_t sample_seed(uint64_t seed, uint32_t index) {
  if (index == 0) return seed;
  // splitmix64 of (seed, index): neighbouring seeds and indices give unrelated streams.
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t(index) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::optional<wire::ServerMessage> SampleGroup::finished(uint32_t index, const wire::ServerMessage& final) {
  if (ended_ || index >= n_ || finals_[index]) return std::nullopt;
  finals_[index] = final.final();
  const bool complete =
      first_finish_ || std::all_of(finals_.begin(), finals_.end(), [](const auto& f) { return f.has_value(); });
  if (!complete) return std::nullopt;
  ended_ = true;
  return merged();
}

wire::ServerMessage SampleGroup::merged() const {
  wire::ServerMessage m;
  wire::FinalResult& out = *m.mutable_final();
  wire::Statistics& total = *out.mutable_stats();
  int64_t kv_bytes = prompt ? int64_t(prompt->bytes_allocated()) : 0;  // the shared prompt, once
  bool first = true;
  for (uint32_t i = 0; i < n_; ++i) {
    if (!finals_[i]) continue;
    const wire::FinalResult& f = *finals_[i];
    if (first) {
      out.set_request_id(f.request_id());
      *out.mutable_ids() = f.ids();
      *out.mutable_logprobs() = f.logprobs();
      out.set_text(f.text());
      out.set_finish_reason(f.finish_reason());
    }
    wire::Choice& choice = *out.add_choices();
    choice.set_index(i);
    *choice.mutable_ids() = f.ids();
    choice.set_text(f.text());
    choice.set_finish_reason(f.finish_reason());
    *choice.mutable_logprobs() = f.logprobs();
    const wire::Statistics& s = f.stats();
    kv_bytes += s.kv_cache_bytes();
    if (first) {  // the others' counters are added to the first's
      total = s;
      first = false;
      continue;
    }
    total.set_generated_tokens(total.generated_tokens() + s.generated_tokens());
    total.set_verifier_passes(total.verifier_passes() + s.verifier_passes());
    total.set_drafted_tokens(total.drafted_tokens() + s.drafted_tokens());
    total.set_accepted_tokens(total.accepted_tokens() + s.accepted_tokens());
    total.set_drafter_idle_seconds(total.drafter_idle_seconds() + s.drafter_idle_seconds());
    total.set_verifier_idle_seconds(total.verifier_idle_seconds() + s.verifier_idle_seconds());
    total.set_prefill_seconds(std::max(total.prefill_seconds(), s.prefill_seconds()));
    total.set_decode_seconds(std::max(total.decode_seconds(), s.decode_seconds()));
    total.set_cached_tokens(std::max(total.cached_tokens(), s.cached_tokens()));  // one prompt, read once
  }
  // Tokens a pass and acceptance over every sample's passes.
  const int64_t passes = total.verifier_passes(), drafted = total.drafted_tokens();
  total.set_tokens_per_pass(passes > 0 ? double(total.accepted_tokens() + passes) / double(passes) : 0.0);
  total.set_acceptance_rate(drafted > 0 ? double(total.accepted_tokens()) / double(drafted) : 0.0);
  total.set_kv_cache_bytes(kv_bytes);
  return m;
}

}  // namespace tandem
