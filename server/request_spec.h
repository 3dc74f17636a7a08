#pragma once
// A client request as the worker runs it: the SubmitRequest parsed and checked once, when
// it reaches the worker, into typed settings (mode, limits, sampling, who asked). Every
// later stage reads this, never the wire message.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "proto/client.pb.h"
#include "speculation/generation.h"
#include "speculation/mode.h"

namespace tandem {

/// Serving limits and defaults.
struct ServingOptions {
  ModeSettings defaults;                             // mode and knobs when a request names none
  int default_max_tokens = 256;                      // when a request asks for 0
  int max_tokens_limit = 4096;                       // most a request may ask for
  int64_t max_context = 4096;                        // KV positions per request
  size_t queue_limit = 64;                           // requests waiting or running; beyond it: OVERLOADED
  size_t client_limit = 16;                          // of those, most from one client (client_group)
  int max_batch = 8;                                 // requests decoded together in one target forward per pass
  int64_t prefill_chunk = 128;                       // most prompt tokens of joining requests per pass
  std::chrono::milliseconds drafter_timeout{30000};  // a remote drafter silent this long is dropped
  RemoteKvFactory kv_remote;                         // KV shards for each request's cache (empty: none)
  size_t prefix_cache_bytes = size_t(1) << 30;       // prompts' keys and values kept for later prompts (0: none)
  bool prefix_cache_per_client = false;              // each client group sees only its own cached prefixes
};

/// Most alternatives a request may ask for with each token's log probability (OpenAI's limit).
constexpr uint32_t kMaxTopLogprobs = 20;

/// What to tokenize into the prompt: token ids as given, or text (a chat's turns through the
/// model's template).
struct PromptSource {
  std::optional<std::vector<int32_t>> ids;
  std::string text;
  bool chat = false;               // text is one user turn of a chat
  std::vector<ChatMessage> turns;  // a whole conversation (chat)
  ChatOptions chat_options;        // its tools and extra template variables
};

/// A request, parsed.
struct RequestSpec {
  std::string client;  // who asked, as the endpoint names it ("zmq:...", "http:...")
  std::string group;   // client_group(client), server/client_id.h: whom the fair share and limits count
  std::string id;      // the client's request id
  PromptSource prompt;
  ModeSettings mode;             // the server's defaults with the request's mode
  GenerationOptions generation;  // max tokens, context, sampling (sample 0's seed), KV shards
  uint32_t samples = 1;          // n: samples of one prompt
  bool first_finish = false;     // answer with the first sample to finish
  bool stream = false;           // stream chunks as tokens are released
  std::vector<std::string> stop;
  int64_t heartbeat_ms = 0;  // the client's heartbeat interval (0: none)
  int64_t deadline_ms = 0;   // from arrival (0: none)
  bool prefix_cache = true;  // may read its prompt's start from the prefix cache, and leave its prompt there
};

/// `request` from `client`, checked against `serving`: std::invalid_argument names the first
/// bad field (stop sequences, mode and its knobs, max_tokens, n, sampling).
RequestSpec parse_request(const std::string& client, const wire::SubmitRequest& request, const ServingOptions& serving);

/// Refuses, before any tokenizing, a prompt too long for the context whatever its tokens: a
/// text of N bytes makes at least N / max_bytes_per_token tokens.
void check_prompt_fits(const PromptSource& prompt, const Tokenizer& tokenizer, int64_t max_context);

/// The prompt as token ids; std::invalid_argument for an id outside the vocabulary, a chat on
/// a model without a chat template, or an empty prompt.
std::vector<int32_t> prompt_ids(const PromptSource& prompt, const Tokenizer& tokenizer);

}  // namespace tandem
