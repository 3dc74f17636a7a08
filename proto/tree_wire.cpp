#include "proto/tree_wire.h"

#include <cmath>
#include <set>
#include <stdexcept>

namespace tandem {
namespace {

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

// A proposal must be a distribution (distinct tokens of the vocabulary, probabilities in
// (0, 1] summing to 1) holding every child, each child once: the verifier's p/q
// acceptance is exact only for what the drafter really drew from.
Proposal proposal_from_wire(const wire::Proposal& w, const std::vector<int32_t>& children, const TokenTree& tree,
                            int32_t vocab) {
  const std::string what = "proposal for node " + std::to_string(w.parent()) + ": ";
  if (w.tokens_size() != w.probs_size()) bad(what + "tokens and probabilities differ in number");
  if (w.tokens_size() > kMaxProposalTokens || w.tokens_size() == 0)
    bad(what + std::to_string(w.tokens_size()) + " tokens, not between 1 and " + std::to_string(kMaxProposalTokens));
  Proposal q;
  std::set<int32_t> seen;
  double total = 0.0;
  for (int i = 0; i < w.tokens_size(); ++i) {
    const int32_t token = w.tokens(i);
    const float p = w.probs(i);
    if (token < 0 || token >= vocab || !seen.insert(token).second)
      bad(what + "token " + std::to_string(token) + " is outside the vocabulary or repeated");
    if (!(p > 0.0f && p <= 1.0f)) bad(what + "probability " + std::to_string(p) + " is not in (0, 1]");
    total += p;
    q.push_back({token, p});
  }
  if (std::abs(total - 1.0) > 1e-3) bad(what + "probabilities sum to " + std::to_string(total) + ", not 1");
  std::set<int32_t> child_tokens;
  for (int32_t child : children)
    if (!seen.count(tree[child].token) || !child_tokens.insert(tree[child].token).second)
      bad(what + "child token " + std::to_string(tree[child].token) + " is not in it, or repeated");
  return q;
}

}  // namespace

wire::TokenTree tree_to_wire(const TokenTree& tree, uint64_t request_id, int64_t first_position) {
  wire::TokenTree m;
  m.set_request_id(request_id);
  m.set_first_position(first_position);
  for (int32_t i = 0; i < tree.size(); ++i) {
    m.add_tokens(tree[i].token);
    m.add_parents(tree[i].parent);
    m.add_draft_probs(tree[i].draft_prob);
  }
  for (int32_t parent = -1; parent < tree.size(); ++parent)
    if (const Proposal* q = tree.proposal(parent)) {
      wire::Proposal* w = m.add_proposals();
      w->set_parent(parent);
      for (const auto& [token, p] : *q) {
        w->add_tokens(token);
        w->add_probs(p);
      }
    }
  return m;
}

TokenTree tree_from_wire(const wire::TokenTree& m, int32_t vocab) {
  const int n = m.tokens_size();
  if (n > kMaxWireTreeNodes)
    bad("token tree of " + std::to_string(n) + " nodes exceeds the limit of " + std::to_string(kMaxWireTreeNodes));
  if (m.parents_size() != n || m.draft_probs_size() != n)
    bad("token tree arrays differ in length: " + std::to_string(n) + " tokens, " + std::to_string(m.parents_size()) +
        " parents, " + std::to_string(m.draft_probs_size()) + " probabilities");
  if (m.first_position() < 0) bad("token tree starts at negative position " + std::to_string(m.first_position()));
  TokenTree tree;
  for (int i = 0; i < n; ++i) {
    const int32_t token = m.tokens(i), parent = m.parents(i);
    const float prob = m.draft_probs(i);
    const std::string node = "token tree node " + std::to_string(i);
    if (token < 0 || token >= vocab)
      bad(node + ": token id " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(vocab));
    if (parent < -1 || parent >= i) bad(node + ": parent " + std::to_string(parent) + " is not an earlier node");
    if (!(prob >= 0.0f && prob <= 1.0f))
      bad(node + ": draft probability " + std::to_string(prob) + " is not in [0, 1]");
    tree.add(token, parent, prob);
  }
  for (const wire::Proposal& w : m.proposals()) {
    const int32_t parent = w.parent();
    if (parent < -1 || parent >= n || tree.proposal(parent))
      bad("proposal for node " + std::to_string(parent) + ": no such node, or a second proposal for it");
    tree.set_proposal(parent, proposal_from_wire(w, tree.children(parent), tree, vocab));
  }
  return tree;
}

SamplingParams sampling_from_wire(const wire::Sampling& s) {
  if (!(s.temperature() >= 0.0f && s.temperature() <= kMaxTemperature) || s.top_k() < 0 ||
      !(s.top_p() >= 0.0f && s.top_p() <= 1.0f))
    bad("sampling needs temperature in [0, " + std::to_string(int(kMaxTemperature)) +
        "], top_k >= 0 and top_p in [0, 1]");
  return {s.temperature(), s.top_k(), s.top_p() > 0.0f ? s.top_p() : 1.0f, s.seed()};
}

wire::Sampling sampling_to_wire(const SamplingParams& params) {
  wire::Sampling s;
  s.set_temperature(params.temperature);
  s.set_top_k(params.top_k);
  s.set_top_p(params.top_p);
  s.set_seed(params.seed);
  return s;
}

}  // namespace tandem
