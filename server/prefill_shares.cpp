#include "server/prefill_shares.h"

#include <algorithm>

namespace tandem {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return b <= 0 ? a : (a + b - 1) / b; }

}  // namespace

PrefillShares::PrefillShares(int64_t budget, const std::vector<std::string>& clients)
    : left_(std::max<int64_t>(budget, 0)) {
  for (const std::string& client : clients) ++prompts_left_[client];
  clients_waiting_ = prompts_left_.size();
}

int64_t PrefillShares::share(const std::string& client) {
  auto part = client_left_.find(client);
  if (part == client_left_.end()) {  // its part: an even split of what is left among the clients still waiting
    part = client_left_.emplace(client, ceil_div(left_, int64_t(clients_waiting_))).first;
    if (clients_waiting_ > 0) --clients_waiting_;
  }
  int64_t& prompts = prompts_left_[client];
  const int64_t mine = ceil_div(part->second, std::max<int64_t>(prompts, 1));
  if (prompts > 0) --prompts;
  return std::min(mine, left_);
}

void PrefillShares::took(const std::string& client, int64_t tokens) {
  client_left_[client] -= tokens;
  left_ -= tokens;
}

}  // namespace tandem
