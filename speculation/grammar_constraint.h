#pragma once
// Decoding under a grammar (structured output): which tokens a JSON schema allows next, as a
// mask over the vocabulary, applied to the target's logits before a token is chosen and to
// the drafted tree before it is verified, so that every mode gives schema-valid output and
// greedy output is the same in every mode.
//
// The mask walks a byte trie of the vocabulary with the matcher (json_matcher.h), branching
// its state at each byte, so tokens sharing a prefix share the work and a refused byte cuts
// off everything below it; masks are cached by matcher state (inside a string or a number
// the same states come back token after token).
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/tokenizer.h"
#include "model/vocab_trie.h"
#include "speculation/json_matcher.h"
#include "speculation/token_tree.h"

namespace tandem {

/// One request's constraint: its committed matcher state, and the masks of a pass.
class GrammarConstraint {
 public:
  GrammarConstraint(const Tokenizer& tokenizer, std::shared_ptr<const JsonGrammar> grammar);

  /// Whether `token` may follow `state` (a stop token: when the output may end there).
  bool allows(const JsonMatcher& state, int32_t token) const;
  /// `tree` without the drafts the grammar refuses after the committed output (and, where a
  /// node's children were drawn from a proposal, all of them if any is refused, so that
  /// speculative sampling stays exact). Remembers each kept node's state for mask().
  TokenTree prune(const TokenTree& tree);
  /// The pass's logits ([1 + tree.size()][vocab], the tree prune() returned) with what the
  /// grammar refuses at each row set to -infinity: a copy, valid until the next call.
  const float* mask(const float* logits, int32_t rows, int32_t vocab);
  /// Commits a token of the output.
  void advance(int32_t token);

 private:
  // The tokens a string's characters allow whatever holds it: those that stay inside it
  // (bits), and those that close it (checked against the whole state each time).
  struct StringMask {
    std::vector<uint64_t> inside;
    std::vector<int32_t> closing;
  };
  const std::vector<uint64_t>& allowed(const JsonMatcher& state);
  const StringMask& string_mask(const JsonMatcher& state);
  void walk(int32_t node, int depth, std::vector<uint64_t>& bits, std::vector<int32_t>* closing);
  void add_subtree(int32_t node, std::vector<int32_t>& tokens) const;

  const Tokenizer& tokenizer_;
  const VocabTrie* trie_;
  JsonMatcher committed_;
  std::vector<JsonMatcher> node_states_;  // this pass: after each kept node
  std::vector<JsonMatcher> walk_states_;  // the trie walk's state at each depth
  std::unordered_map<std::string, std::vector<uint64_t>> cache_;
  std::unordered_map<std::string, StringMask> string_cache_;  // by the string's own frame
  std::vector<float> masked_;
};

}  // namespace tandem
