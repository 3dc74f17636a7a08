#include "server/request_spec.h"

#include <algorithm>
#include <stdexcept>

#include "proto/tree_wire.h"
#include "server/client_id.h"
#include "speculation/stop_matcher.h"

namespace tandem {

RequestSpec parse_request(const std::string& client, const wire::SubmitRequest& r, const ServingOptions& serving) {
  RequestSpec spec;
  spec.client = client;
  spec.group = client_group(client);
  spec.id = r.request_id();
  if (r.has_ids()) spec.prompt.ids.emplace(r.ids().ids().begin(), r.ids().ids().end());
  spec.prompt.text = r.text();
  spec.prompt.chat = r.chat() || r.messages_size() > 0;
  for (const wire::ChatTurn& t : r.messages()) spec.prompt.turns.push_back({t.role(), t.content(), t.fields_json()});
  spec.prompt.chat_options.tools_json = r.tools_json();
  spec.prompt.chat_options.template_kwargs_json = r.template_kwargs_json();

  spec.stop.assign(r.stop().begin(), r.stop().end());
  check_stop_sequences(spec.stop);
  spec.mode = serving.defaults;
  if (!r.mode().empty()) spec.mode.mode = parse_mode(r.mode());
  check_mode_settings(spec.mode);
  GenerationOptions& g = spec.generation;
  g.max_context = serving.max_context;
  g.kv_remote = serving.kv_remote;
  g.max_tokens = r.max_tokens() > 0 ? r.max_tokens() : serving.default_max_tokens;
  if (r.max_tokens() < 0 || g.max_tokens > serving.max_tokens_limit)
    throw std::invalid_argument("max_tokens must be between 0 and " + std::to_string(serving.max_tokens_limit));
  spec.samples = std::max(r.n(), 1u);
  if (spec.samples > uint32_t(serving.max_batch))
    throw std::invalid_argument("n must be between 1 and " + std::to_string(serving.max_batch) +
                                ", this server's batch size");
  g.sampling = sampling_from_wire(r.sampling());
  if (r.top_logprobs() > kMaxTopLogprobs)
    throw std::invalid_argument("top_logprobs must be between 0 and " + std::to_string(kMaxTopLogprobs));
  if (r.top_logprobs() > 0 && !r.logprobs()) throw std::invalid_argument("top_logprobs needs logprobs");
  g.logprobs = r.logprobs() ? int(r.top_logprobs()) : -1;
  if (!r.response_format_json().empty()) {
    nlohmann::json format;
    try {
      format = nlohmann::json::parse(r.response_format_json());
    } catch (const nlohmann::json::exception&) { throw std::invalid_argument("'response_format' is not valid JSON"); }
    g.grammar = response_format_grammar(format);
  }
  spec.first_finish = r.first_finish();
  spec.prefix_cache = !r.no_prefix_cache();
  spec.stream = r.stream();
  spec.heartbeat_ms = r.heartbeat_ms();
  spec.deadline_ms = r.deadline_ms();
  return spec;
}

void check_prompt_fits(const PromptSource& prompt, const Tokenizer& tokenizer, int64_t max_context) {
  size_t bytes = prompt.text.size();
  for (const ChatMessage& turn : prompt.turns) bytes += turn.content.size();
  bytes += prompt.chat_options.tools_json.size();
  const int64_t fewest = int64_t(bytes / tokenizer.max_bytes_per_token());
  const bool ids = prompt.ids.has_value();
  if (fewest >= max_context || (ids && int64_t(prompt.ids->size()) >= max_context))
    throw std::invalid_argument("the prompt (" + std::to_string(ids ? prompt.ids->size() : bytes) +
                                (ids ? " token ids" : " bytes, so at least " + std::to_string(fewest) + " tokens") +
                                ") does not fit in the context of " + std::to_string(max_context) + " positions");
}

std::vector<int32_t> prompt_ids(const PromptSource& prompt, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  if (prompt.ids) {
    ids = *prompt.ids;
    for (int32_t id : ids)
      if (id < 0 || id >= tok.vocab_size())
        throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                    std::to_string(tok.vocab_size()));
  } else {
    std::string text = prompt.text;
    if (prompt.chat) try {
        text = prompt.turns.empty() ? chat_prompt(tok, prompt.text)
                                    : chat_conversation(tok, prompt.turns, prompt.chat_options);
      } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what());  // a base model: the request asked for what it cannot have
      }
    ids = prompt.chat ? encode_chat(tok, text) : tok.encode(text, tok.add_bos());
  }
  if (ids.empty()) throw std::invalid_argument("the prompt is empty");
  return ids;
}

}  // namespace tandem
