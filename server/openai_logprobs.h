#pragma once
// Log probabilities in OpenAI's response formats: chat's `logprobs.content` (token, logprob,
// bytes, top_logprobs) and completions' legacy `tokens` / `token_logprobs` / `top_logprobs`
// / `text_offset`.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "model/tokenizer.h"
#include "proto/client.pb.h"

namespace tandem {

using WireLogprobs = google::protobuf::RepeatedPtrField<wire::TokenLogprob>;

/// {"content": [...], "refusal": null} for a chat choice or a streamed chunk's choice.
nlohmann::json chat_logprobs(const Tokenizer& tokenizer, const WireLogprobs& logprobs);

/// The completions format; `text_offset` counts the bytes of the choice's text before the
/// first of these tokens (0 for a whole answer, the text streamed so far for a chunk), and
/// comes back advanced past them.
nlohmann::json completion_logprobs(const Tokenizer& tokenizer, const WireLogprobs& logprobs, int64_t& text_offset);

}  // namespace tandem
