#pragma once
// One pass's budget of prompt tokens (--prefill-chunk), shared fairly among the prompts coming
// in: first among their clients, then among each client's prompts, so that neither a long
// prompt nor a client with many holds another client's prompt up by more than a pass. What a
// prompt leaves goes to those asking after it. Plain bookkeeping, tested on its own.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tandem {

class PrefillShares {
 public:
  /// `clients`: the client (client_group) of each prompt coming in this pass, in any order.
  PrefillShares(int64_t budget, const std::vector<std::string>& clients);
  /// The most tokens the next prompt of `client` may take now.
  int64_t share(const std::string& client);
  /// That prompt took `tokens` (at most its share).
  void took(const std::string& client, int64_t tokens);

 private:
  int64_t left_;                                 // of the pass's budget
  size_t clients_waiting_ = 0;                   // clients not yet given their part
  std::map<std::string, int64_t> prompts_left_;  // per client: its prompts not yet served
  std::map<std::string, int64_t> client_left_;   // per client given its part: what remains of it
};

}  // namespace tandem
