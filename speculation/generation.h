#pragma once
// Plain autoregressive generation: the baseline every speculative mode must match.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/sampler.h"
#include "model/transformer.h"
#include "speculation/json_schema.h"

namespace tandem {

/// Why generation ended.
enum class FinishReason { Stop, Length };

/// What one request produced and how long it took.
struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;  // generated, stop token excluded
  FinishReason finish = FinishReason::Length;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  size_t kv_cache_bytes = 0;  // KV cache allocated for this request at the end
};

/// Settings of one generation.
struct GenerationOptions {
  int max_tokens = 128;
  SamplingParams sampling;
  int64_t max_context = 4096;                  // KV cache positions for this request
  int prefill_chunk = 256;                     // prompt tokens per forward pass
  std::shared_ptr<const JsonGrammar> grammar;  // SpeculativeRun: output constrained to this (null: free text)
  int logprobs = -1;  // SpeculativeRun: each token's log probability and this many alternatives (-1: none)
  // Where the request's committed KV segments go (KV shards); empty: its cache holds them all.
  RemoteKvFactory kv_remote;
};

/// The target's cache for a request with a prompt of `prompt_tokens`: max_context positions,
/// on a remote from options.kv_remote if it gives one.
KvCache request_cache(const ModelConfig& config, const GenerationOptions& options, size_t prompt_tokens);

/// Throws std::invalid_argument if the prompt is empty or leaves no room in `cache` for output.
void check_prompt_fits(const std::vector<int32_t>& prompt_ids, const KvCache& cache);

/// Runs tokens [begin, end) of `ids` as a chain into `cache` (which must hold exactly the
/// first `begin`), `chunk` tokens per forward pass, and commits them. Returns the logits
/// after token end - 1 when `want_logits`, else nothing.
std::vector<float> feed_chain(Transformer& transformer, KvCache& cache, const std::vector<int32_t>& ids, int64_t begin,
                              int64_t end, int chunk, bool want_logits);

/// Generates after `prompt_ids`, one token per forward pass, calling `on_token` with each new id.
/// Throws std::invalid_argument if the prompt is empty or does not fit in max_context.
GenerationResult generate_autoregressive(Transformer& transformer, const std::vector<int32_t>& prompt_ids,
                                         const GenerationOptions& options,
                                         const std::function<void(int32_t)>& on_token = {});

/// Thrown by an on_token callback to end generation as finished, not failed: the
/// output is complete (a stop sequence was found in its text).
struct StopGeneration {};

/// Calls on_token(id) if it is set; false when it threw StopGeneration.
bool emit_token(const std::function<void(int32_t)>& on_token, int32_t id);

/// "stop" or "length".
const char* finish_reason_name(FinishReason reason);

}  // namespace tandem
