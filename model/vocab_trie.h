#pragma once
// The vocabulary's tokens that stand for text (no control tokens) as a trie of their bytes:
// tokens that share a prefix share its nodes, so a walk that refuses a byte skips every token
// below it (structured output's token masks, speculation/grammar_constraint.h).
#include <cstdint>
#include <string>
#include <vector>

namespace tandem {

class Tokenizer;

class VocabTrie {
 public:
  explicit VocabTrie(const Tokenizer& tokenizer);

  struct Node {
    int32_t first_child = -1, next_sibling = -1;
    int32_t first_token = -1, token_count = 0;  // tokens whose bytes end here: tokens()[first, first + count)
    uint8_t byte = 0;
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  /// Each token's bytes (empty for control tokens).
  const std::string& bytes(int32_t token) const { return bytes_[size_t(token)]; }

 private:
  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_;
  std::vector<std::string> bytes_;
};

}  // namespace tandem
