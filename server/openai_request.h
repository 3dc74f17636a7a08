#pragma once
// Reading an OpenAI-style request body (/v1/completions, /v1/chat/completions) into a
// SubmitRequest. Every field is type- and range-checked before conversion: no silent
// wrap of a large integer, no NaN or infinite temperature.
#include <nlohmann/json.hpp>
#include <string>

#include "model/sampler.h"
#include "proto/client.pb.h"

namespace tandem {

/// Most samples (`n`) a body may ask for; the server's batch size may allow fewer.
constexpr int64_t kMaxSamples = 128;

/// The request for `body`; throws std::invalid_argument with a message fit for the client.
wire::SubmitRequest openai_submit(const nlohmann::json& body, bool chat);

/// Parses a request body; throws std::invalid_argument saying where it is not JSON (or not
/// UTF-8), without echoing the bytes.
nlohmann::json parse_body(const std::string& body);

}  // namespace tandem
