#include "runner/remote_drafter.h"

#include "spec/tree_wire.h"

namespace tandem {

RemoteDrafter::~RemoteDrafter() {
  if (link_.lost || sent_.empty()) return;
  wire::DrafterMessage m;
  m.mutable_release()->set_request_id(request_id_);
  send_message(*link_.channel, m);
}

TokenTree RemoteDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  if (link_.lost || max_depth <= 0 || context.empty()) return {};
  size_t keep = 0;
  while (keep < sent_.size() && keep < context.size() && sent_[keep] == context[keep]) ++keep;
  wire::DrafterMessage m;
  wire::DraftRequest* r = m.mutable_draft();
  r->set_request_id(request_id_);
  r->set_keep(int32_t(keep));
  for (size_t i = keep; i < context.size(); ++i) r->add_tokens(context[i]);
  r->set_max_depth(max_depth);
  if (!send_message(*link_.channel, m)) {
    link_.lost = true;
    return {};
  }
  sent_ = context;
  try {
    const auto deadline = std::chrono::steady_clock::now() + link_.timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wire::TokenTree reply;
      if (left.count() <= 0 || !receive_message(*link_.channel, reply, left)) break;
      if (reply.request_id() == request_id_) return tree_from_wire(reply, link_.vocab);
      // An answer another request gave up waiting for: skip it.
    }
  } catch (const std::invalid_argument&) {
    // A drafter that sends garbage is as good as gone.
  }
  link_.lost = true;  // silent or broken: the verifier carries on alone
  return {};
}

DrafterService::DrafterService(Transformer& draft, ModeSettings settings, int64_t max_context)
    : draft_(draft), settings_(std::move(settings)), max_context_(max_context) {}

void DrafterService::serve(Channel& channel, const std::atomic<bool>& stop) {
  while (!stop) {
    wire::DrafterMessage m;
    try {
      if (!receive_message(channel, m, std::chrono::milliseconds(100))) continue;
    } catch (const std::invalid_argument&) {
      continue;  // not ours: ignore the frame
    }
    if (m.has_release()) {
      requests_.erase(m.release().request_id());
      continue;
    }
    const wire::DraftRequest& r = m.draft();
    Request& request = requests_[r.request_id()];
    if (!request.drafter) request.drafter = make_drafter(settings_, &draft_, max_context_);
    wire::TokenTree reply;
    reply.set_request_id(r.request_id());
    const int32_t vocab = draft_.model().config().vocab_size;
    bool valid = r.keep() >= 0 && size_t(r.keep()) <= request.context.size();
    for (int32_t t : r.tokens()) valid = valid && t >= 0 && t < vocab;
    if (valid) {
      request.context.resize(size_t(r.keep()));
      request.context.insert(request.context.end(), r.tokens().begin(), r.tokens().end());
      if (!request.context.empty()) {
        try {
          reply = tree_to_wire(request.drafter->draft(request.context, r.max_depth()), r.request_id(),
                               int64_t(request.context.size()), 0);
        } catch (const std::exception&) {
          reply.Clear();  // could not draft (its context is full): an empty tree
          reply.set_request_id(r.request_id());
        }
      }
    }
    send_message(channel, reply);
  }
}

}  // namespace tandem
