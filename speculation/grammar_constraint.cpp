#include "speculation/grammar_constraint.h"

#include <algorithm>
#include <limits>

namespace tandem {
namespace {

constexpr size_t kMaxCachedMasks = 512;  // per request: 512 × vocab bits (about 10 MB for 150k tokens)

}  // namespace

GrammarConstraint::GrammarConstraint(const Tokenizer& tokenizer, std::shared_ptr<const JsonGrammar> grammar)
    : tokenizer_(tokenizer), trie_(&tokenizer.byte_trie()), committed_(grammar) {}

bool GrammarConstraint::allows(const JsonMatcher& state, int32_t token) const {
  if (tokenizer_.is_stop(token)) return state.can_end();
  const std::string& bytes = trie_->bytes(token);
  if (bytes.empty()) return false;
  JsonMatcher next = state;
  return next.feed(bytes);
}

void GrammarConstraint::add_subtree(int32_t node, std::vector<int32_t>& tokens) const {
  const VocabTrie::Node& n = trie_->nodes()[size_t(node)];
  tokens.insert(tokens.end(), trie_->tokens().begin() + n.first_token,
                trie_->tokens().begin() + n.first_token + n.token_count);
  for (int32_t child = n.first_child; child >= 0; child = trie_->nodes()[size_t(child)].next_sibling)
    add_subtree(child, tokens);
}

// Below trie node `node`, whose bytes walk_states_[depth] has taken: sets the bits of the
// tokens the state allows. With `closing`, the walk is of a string alone, and the tokens
// below a byte that closes it are listed there instead (what follows depends on its holder).
void GrammarConstraint::walk(int32_t node, int depth, std::vector<uint64_t>& bits, std::vector<int32_t>* closing) {
  const auto& nodes = trie_->nodes();
  if (walk_states_.size() <= size_t(depth + 1)) walk_states_.resize(size_t(depth + 2), walk_states_[0]);
  for (int32_t child = nodes[size_t(node)].first_child; child >= 0; child = nodes[size_t(child)].next_sibling) {
    const VocabTrie::Node& n = nodes[size_t(child)];
    JsonMatcher& state = walk_states_[size_t(depth + 1)];
    state.copy_from(walk_states_[size_t(depth)]);
    if (!state.feed(n.byte)) continue;  // nothing below this byte is allowed either
    if (closing && state.done()) {
      add_subtree(child, *closing);
      continue;
    }
    for (int32_t i = 0; i < n.token_count; ++i) {
      const int32_t token = trie_->tokens()[size_t(n.first_token + i)];
      bits[size_t(token) / 64] |= uint64_t(1) << (token % 64);
    }
    walk(child, depth + 1, bits, closing);
  }
}

const GrammarConstraint::StringMask& GrammarConstraint::string_mask(const JsonMatcher& state) {
  const JsonMatcher alone = state.innermost();
  const std::string key = alone.key();
  auto it = string_cache_.find(key);
  if (it != string_cache_.end()) return it->second;
  if (string_cache_.size() >= kMaxCachedMasks) string_cache_.clear();
  StringMask mask;
  mask.inside.assign((size_t(tokenizer_.vocab_size()) + 63) / 64, 0);
  if (walk_states_.empty()) walk_states_.push_back(alone);
  walk_states_[0] = alone;
  walk(0, 0, mask.inside, &mask.closing);
  return string_cache_.emplace(key, std::move(mask)).first->second;
}

const std::vector<uint64_t>& GrammarConstraint::allowed(const JsonMatcher& state) {
  const std::string key = state.key();
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  std::vector<uint64_t> bits;
  if (state.in_string_body()) {
    // Inside a string the walk is the string's alone, shared by every string of its kind;
    // only the few tokens that close it are fed to the whole state.
    const StringMask& inner = string_mask(state);
    bits = inner.inside;
    for (int32_t token : inner.closing)
      if (allows(state, token)) bits[size_t(token) / 64] |= uint64_t(1) << (token % 64);
  } else {
    bits.assign((size_t(tokenizer_.vocab_size()) + 63) / 64, 0);
    if (walk_states_.empty()) walk_states_.push_back(state);
    walk_states_[0] = state;
    walk(0, 0, bits, nullptr);
  }
  const bool none = std::all_of(bits.begin(), bits.end(), [](uint64_t b) { return b == 0; });
  if (state.can_end() || none)  // (nothing allowed cannot happen with a byte vocabulary; then end)
    for (int32_t stop : tokenizer_.stop_ids()) bits[size_t(stop) / 64] |= uint64_t(1) << (stop % 64);
  return cache_.emplace(key, std::move(bits)).first->second;
}

TokenTree GrammarConstraint::prune(const TokenTree& tree) {
  const int32_t n = tree.size();
  std::vector<JsonMatcher> states(size_t(n), committed_);
  std::vector<bool> valid(static_cast<size_t>(n)), keep(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    const TreeNode& node = tree[i];
    const JsonMatcher& before = node.parent < 0 ? committed_ : states[size_t(node.parent)];
    states[size_t(i)] = before;
    const std::string& bytes = trie_->bytes(node.token);
    valid[size_t(i)] =
        tokenizer_.is_stop(node.token) ? before.can_end() : !bytes.empty() && states[size_t(i)].feed(bytes);
  }
  // Children drawn from a proposal stay or go together: the verifier tries them in order.
  for (int32_t parent = -1; parent < n; ++parent) {
    if (!tree.proposal(parent)) continue;
    const std::vector<int32_t> children = tree.children(parent);
    const bool all = std::all_of(children.begin(), children.end(), [&](int32_t c) { return bool(valid[size_t(c)]); });
    if (!all)
      for (int32_t c : children) valid[size_t(c)] = false;
  }
  TokenTree kept;
  std::vector<int32_t> index(size_t(n), -1);
  node_states_.clear();
  for (int32_t i = 0; i < n; ++i) {
    const TreeNode& node = tree[i];
    keep[size_t(i)] = valid[size_t(i)] && (node.parent < 0 || keep[size_t(node.parent)]);
    if (!keep[size_t(i)]) continue;
    index[size_t(i)] = kept.add(node.token, node.parent < 0 ? -1 : index[size_t(node.parent)], node.draft_prob);
    node_states_.push_back(states[size_t(i)]);
  }
  for (int32_t parent = -1; parent < n; ++parent) {
    const Proposal* q = tree.proposal(parent);
    if (q && (parent < 0 || keep[size_t(parent)]) && !kept.children(parent < 0 ? -1 : index[size_t(parent)]).empty())
      kept.set_proposal(parent < 0 ? -1 : index[size_t(parent)], *q);
  }
  return kept;
}

const float* GrammarConstraint::mask(const float* logits, int32_t rows, int32_t vocab) {
  masked_.assign(logits, logits + int64_t(rows) * vocab);
  for (int32_t row = 0; row < rows; ++row) {
    const JsonMatcher& state = row == 0 ? committed_ : node_states_.at(size_t(row - 1));
    const std::vector<uint64_t>& bits = allowed(state);
    float* out = masked_.data() + int64_t(row) * vocab;
    for (int32_t t = 0; t < vocab; ++t)
      if (!(bits[size_t(t) / 64] >> (t % 64) & 1)) out[t] = -std::numeric_limits<float>::infinity();
  }
  return masked_.data();
}

void GrammarConstraint::advance(int32_t token) {
  if (!tokenizer_.is_stop(token)) committed_.feed(trie_->bytes(token));
}

}  // namespace tandem
