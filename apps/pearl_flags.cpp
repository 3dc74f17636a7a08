#include "apps/pearl_flags.h"

namespace tandem {

void add_pearl_flags(Flags& f) {
  f.add("pre-verify", "1", "pearl: drafts the verifier waits for before a pass (0: never wait)");
  f.add("pearl-drafts", "chain",
        "pearl: chain (greedy drafts) or tree (a draft under --branch-below probability gets its runner-up as a "
        "sibling)");
  f.add("branch-below", "0.8", "pearl tree: draft probability under which the runner-up is drafted too");
}

void read_pearl_flags(const Flags& flags, PearlOptions& pearl) {
  pearl.pre_verify = int(flags.get_int("pre-verify"));
  const std::string& drafts = flags.get("pearl-drafts");
  if (drafts != "chain" && drafts != "tree")
    throw UsageError("--pearl-drafts must be chain or tree, got '" + drafts + "'");
  pearl.tree = drafts == "tree";
  pearl.branch_below = float(flags.get_double("branch-below"));
}

}  // namespace tandem
