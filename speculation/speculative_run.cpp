#include "speculation/speculative_run.h"

#include <stdexcept>

#include "speculation/verify.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

SpeculativeRun::SpeculativeRun(const Model& target, Drafter* drafter, std::vector<int32_t> prompt_ids,
                               GenerationOptions options, SpeculationOptions speculation,
                               std::function<void(int32_t)> on_token)
    : model_(target),
      drafter_(drafter),
      options_(options),
      speculation_(speculation),
      on_token_(std::move(on_token)),
      cache_(request_cache(target.config(), options, prompt_ids.size())),
      depth_(speculation.max_depth, speculation.verify_cost, speculation.draft_cost),
      context_(std::move(prompt_ids)) {
  check_prompt_fits(context_, cache_);
  if (drafter_ && speculation_.draft_aware) drafter_->sample_with(options_.sampling);
  if (options_.grammar) grammar_ = std::make_unique<GrammarConstraint>(target.tokenizer(), options_.grammar);
  result_.prompt_ids = context_;
  pending_ = context_.back();
  finished_ = options_.max_tokens <= 0;
  decode_start_ = Clock::now();
}

void SpeculativeRun::prefill(Transformer& target) {
  auto start = Clock::now();
  const int64_t prompt = int64_t(context_.size());
  if (finished_) {  // nothing to produce: the prompt's positions only, as a pass would find them
    feed_chain(target, cache_, context_, 0, prompt - 1, options_.prefill_chunk, false);
    prefilled_ = prompt - 1;
    result_.prefill_seconds = seconds_since(start);
    return;
  }
  // The whole prompt, with the last token's logits: the first token comes out of the
  // prefill, as in plain decoding, not out of a pass of its own (a decode step saved).
  const std::vector<float> logits = feed_chain(target, cache_, context_, 0, prompt, options_.prefill_chunk, true);
  prefilled_ = prompt;
  result_.prefill_seconds = seconds_since(start);
  decode_start_ = verify_start_ = Clock::now();
  take_first_token(logits.data());
}

void SpeculativeRun::take_first_token(const float* last_logits) {
  tree_ = TokenTree();
  pass_ids_.assign(1, pending_);
  conclude_pass(last_logits, true);
}

int64_t SpeculativeRun::add_prefill_chunk(std::vector<BatchToken>& batch, int32_t seq, int64_t max_tokens) {
  if (prefilled_ == cached_positions_) decode_start_ = Clock::now();  // the request's first pass: its clock starts
  const int64_t prompt = int64_t(result_.prompt_ids.size());
  chunk_ = std::min<int64_t>(max_tokens, prompt - prefilled_);
  for (int64_t i = 0; i < chunk_; ++i) {
    const int64_t pos = prefilled_ + i;
    batch.push_back({context_[size_t(pos)], seq, pos, i == 0 ? -1 : int32_t(batch.size()) - 1, pos == prompt - 1});
  }
  return chunk_;
}

bool SpeculativeRun::chunk_ends_prompt() const {
  return chunk_ > 0 && prefilled_ + chunk_ == int64_t(result_.prompt_ids.size());
}

void SpeculativeRun::finish_prefill_chunk(const float* last_logits) {
  const bool ends_prompt = chunk_ends_prompt();
  if (ends_prompt && !last_logits) throw std::logic_error("finish_prefill_chunk: the prompt's last logits are missing");
  cache_.commit_all();
  prefilled_ += chunk_;
  chunk_ = 0;
  if (!prefilling()) {
    // Prefill time is from the first chunk until the prompt is in; decode starts now.
    result_.prefill_seconds = seconds_since(decode_start_);
    decode_start_ = verify_start_ = Clock::now();
  }
  if (ends_prompt && !finished_) take_first_token(last_logits);
}

std::shared_ptr<const KvCache> SpeculativeRun::share_prompt() {
  const int64_t positions = int64_t(result_.prompt_ids.size()) - 1;
  if (prefilling() || stats_.passes > 0 || cache_.remote())
    throw std::logic_error("share_prompt: only a run whose prompt is in, before its first pass, on a local cache");
  if (shared_prompt_ && cache_.shared_prefix() == shared_prompt_.get()) return shared_prompt_;
  const int64_t max_positions = cache_.max_positions();
  auto prompt = std::make_shared<KvCache>(cache_.shared_prefix() ? cache_.flat_copy() : std::move(cache_));
  prompt->shrink_to_committed();
  // The prompt's positions, and its last token's too when the first token came from the prefill.
  if (prompt->length() != positions && prompt->length() != positions + 1)
    throw std::logic_error("share_prompt: the cache does not hold the prompt");
  cache_ = KvCache(model_.config(), max_positions, prompt);
  shared_prompt_ = prompt;
  return prompt;
}

void SpeculativeRun::adopt_prompt(std::shared_ptr<const KvCache> prompt) {
  const int64_t positions = int64_t(result_.prompt_ids.size()) - 1;  // all but the token opening the first pass
  if (!prompt || prompt->length() < positions || prompt->length() > positions + 1 || prefilled_ > 0 ||
      stats_.passes > 0 || cache_.remote())
    throw std::logic_error("adopt_prompt: a prompt's cache of another length, or a run already started");
  cache_ = KvCache(model_.config(), cache_.max_positions(), prompt, positions);
  shared_prompt_ = std::move(prompt);
  prefilled_ = positions;
  decode_start_ = Clock::now();
}

void SpeculativeRun::adopt_prefix(std::shared_ptr<const KvCache> prefix, int64_t positions) {
  if (!prefix || positions <= 0 || positions > int64_t(result_.prompt_ids.size()) - 1 || prefilled_ > 0 ||
      stats_.passes > 0 || cache_.remote())
    throw std::logic_error("adopt_prefix: a prefix longer than the prompt's positions, or a run already started");
  const bool whole_prompt = positions == prefix->length() && positions == int64_t(result_.prompt_ids.size()) - 1;
  if (whole_prompt) shared_prompt_ = prefix;  // share_prompt() need not copy it
  cache_ = KvCache(model_.config(), cache_.max_positions(), std::move(prefix), positions);
  prefilled_ = cached_positions_ = positions;
  if (!prefilling()) decode_start_ = Clock::now();
}

int64_t SpeculativeRun::adopt_remote_prefix(const KvCache& prefix, int64_t positions) {
  if (positions <= 0 || positions > int64_t(result_.prompt_ids.size()) - 1 || prefilled_ > 0 || stats_.passes > 0 ||
      !cache_.remote())
    throw std::logic_error(
        "adopt_remote_prefix: a prefix longer than the prompt's positions, or a run already started");
  prefilled_ = cached_positions_ = cache_.adopt_remote_prefix(prefix, positions);
  if (!prefilling()) decode_start_ = Clock::now();
  return cached_positions_;
}

int SpeculativeRun::planned_depth() {
  if (planned_depth_ < 0) planned_depth_ = speculation_.adaptive ? depth_.next() : speculation_.max_depth;
  return planned_depth_;
}

void SpeculativeRun::announce_pass() {
  if (finished_ || prefilling() || planned_depth_ >= 0) return;
  const int depth = planned_depth();
  if (drafter_) drafter_->prepare(context_, depth);
}

void SpeculativeRun::add_pass(std::vector<BatchToken>& batch, int32_t seq) {
  auto draft_start = Clock::now();
  tree_ = TokenTree();
  const int depth = planned_depth();
  planned_depth_ = -1;
  if (drafter_) {
    drafter_->expect_remaining(options_.max_tokens - int64_t(result_.ids.size()));
    tree_ = drafter_->draft(context_, depth);
  }
  if (grammar_) tree_ = grammar_->prune(tree_);  // no draft the grammar refuses is verified
  if (cache_.length() + 1 + tree_.depth() >= cache_.max_positions()) tree_ = TokenTree();  // no room: one token
  stats_.draft_seconds += seconds_since(draft_start);
  verify_start_ = Clock::now();
  const int32_t root = int32_t(batch.size());
  batch.push_back({pending_, seq, cache_.length(), -1, true});
  tree_.append_to(batch, seq, cache_.length() + 1, root);
  pass_ids_.assign(1, pending_);
  for (int32_t i = 0; i < tree_.size(); ++i) pass_ids_.push_back(tree_[i].token);
}

void SpeculativeRun::finish_pass(const float* raw_logits) { conclude_pass(raw_logits, false); }

void SpeculativeRun::conclude_pass(const float* raw_logits, bool in_cache) {
  const int32_t vocab = model_.config().vocab_size;
  // Under a grammar the target chooses among the tokens it allows (drafters still learn from
  // the raw logits).
  const float* logits = grammar_ ? grammar_->mask(raw_logits, pass_tokens(), vocab) : raw_logits;
  const int64_t first_pos = cache_.length() + (in_cache ? 0 : 1);  // where the first decided token goes
  Verdict verdict;
  if (options_.sampling.temperature <= 0.0f)
    verdict = verify_greedy(tree_, logits, logits + vocab, vocab);
  else if (tree_.empty())  // nothing drafted: the target's own sample, exactly as plain decoding draws it
    verdict.bonus = sample_token(logits, vocab, options_.sampling, first_pos);
  else
    verdict = verify_sampling(tree_, logits, logits + vocab, vocab, options_.sampling, first_pos);
  if (drafter_) drafter_->observe(pass_ids_, raw_logits, vocab);
  std::vector<int64_t> keep = {0};
  for (int32_t node : verdict.accepted) keep.push_back(1 + node);
  if (!in_cache) cache_.commit(keep);
  stats_.verify_seconds += seconds_since(verify_start_);
  if (!in_cache) {  // the prefill's token is no pass: nothing was drafted for it
    ++stats_.passes;
    stats_.drafted += tree_.size();
    stats_.accepted += int64_t(verdict.accepted.size());
    depth_.update(tree_.depth(), int(verdict.accepted.size()));
    if (drafter_) drafter_->learn(tree_.depth(), int(verdict.accepted.size()));
  }

  std::vector<int32_t> produced, rows;  // rows: the logits row that decided each token
  for (int32_t node : verdict.accepted) {
    rows.push_back(produced.empty() ? 0 : 1 + verdict.accepted[produced.size() - 1]);
    produced.push_back(tree_[node].token);
  }
  rows.push_back(produced.empty() ? 0 : 1 + verdict.accepted.back());
  produced.push_back(verdict.bonus);
  for (size_t i = 0; i < produced.size(); ++i) {
    const int32_t token = produced[i];
    if (model_.tokenizer().is_stop(token)) {
      result_.finish = FinishReason::Stop;
      finished_ = true;
      break;
    }
    result_.ids.push_back(token);
    context_.push_back(token);
    if (grammar_) grammar_->advance(token);
    if (options_.logprobs >= 0)
      latest_logprobs_ =
          token_logprobs(logits + int64_t(rows[i]) * vocab, vocab, options_.sampling, token, options_.logprobs);
    if (!emit_token(on_token_, token)) {
      result_.finish = FinishReason::Stop;
      finished_ = true;
      break;
    }
    if (int64_t(result_.ids.size()) == options_.max_tokens) {
      finished_ = true;
      break;
    }
  }
  pending_ = verdict.bonus;
  if (cache_.length() + 1 >= cache_.max_positions()) finished_ = true;
  result_.decode_seconds = seconds_since(decode_start_);
  result_.kv_cache_bytes = cache_.bytes_allocated();
}

GenerationResult SpeculativeRun::result() const { return result_; }

}  // namespace tandem
