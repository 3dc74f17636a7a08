#pragma once
// Reading an OpenAI-style request body (/v1/completions, /v1/chat/completions) into a
// SubmitRequest. Every field is type- and range-checked before conversion: no silent
// wrap of a large integer, no NaN or infinite temperature.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/sampler.h"
#include "proto/client.pb.h"
#include "server/request_spec.h"

namespace tandem {

/// Deepest nesting of arrays and objects a body may have (tools' schemas and messages are
/// walked, rendered and dumped recursively later).
constexpr size_t kMaxBodyNesting = 64;

/// Most samples (`n`) a body may ask for; the server's batch size may allow fewer.
constexpr int64_t kMaxSamples = 128;

/// The request for `body`; throws std::invalid_argument with a message fit for the client.
wire::SubmitRequest openai_submit(const nlohmann::ordered_json& body, bool chat);

/// OpenAI's chat `messages`: objects with a string `role` and a `content` that is a string,
/// null, or an array of text parts (joined with newlines); their other fields (tool_calls,
/// tool_call_id, name) go to the template as they are. Throws std::invalid_argument.
std::vector<ChatMessage> chat_messages(const nlohmann::ordered_json& messages);

/// Parses a request body, its objects' keys in the client's order (a chat template's tojson
/// shows tools as the client wrote them); throws std::invalid_argument saying where it is
/// not JSON (or not UTF-8), without echoing the bytes.
nlohmann::ordered_json parse_body(const std::string& body);

}  // namespace tandem
