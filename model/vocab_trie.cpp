#include "model/vocab_trie.h"

#include "model/tokenizer.h"

namespace tandem {
namespace {

bool stands_for_text(TokenType type) {
  return type == TokenType::Normal || type == TokenType::Byte || type == TokenType::UserDefined;
}

}  // namespace

VocabTrie::VocabTrie(const Tokenizer& tokenizer) {
  nodes_.emplace_back();
  bytes_.resize(size_t(tokenizer.vocab_size()));
  std::vector<std::vector<int32_t>> ending(1);
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (!stands_for_text(tokenizer.token_type(id))) continue;
    bytes_[size_t(id)] = tokenizer.token_bytes(id);
    if (bytes_[size_t(id)].empty()) continue;
    int32_t at = 0;
    for (unsigned char c : bytes_[size_t(id)]) {
      int32_t child = nodes_[size_t(at)].first_child;
      while (child >= 0 && nodes_[size_t(child)].byte != c) child = nodes_[size_t(child)].next_sibling;
      if (child < 0) {
        child = int32_t(nodes_.size());
        Node n;
        n.byte = c;
        n.next_sibling = nodes_[size_t(at)].first_child;
        nodes_.push_back(n);
        nodes_[size_t(at)].first_child = child;
        ending.emplace_back();
      }
      at = child;
    }
    ending[size_t(at)].push_back(id);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nodes_[i].first_token = int32_t(tokens_.size());
    nodes_[i].token_count = int32_t(ending[i].size());
    tokens_.insert(tokens_.end(), ending[i].begin(), ending[i].end());
  }
}

}  // namespace tandem
