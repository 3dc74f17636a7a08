#include "speculation/token_tree.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tandem {

int32_t TokenTree::add(int32_t token, int32_t parent, float draft_prob) {
  if (parent < -1 || parent >= size())
    throw std::invalid_argument("tree parent " + std::to_string(parent) + " does not exist");
  int32_t depth = parent < 0 ? 1 : nodes_[size_t(parent)].depth + 1;
  nodes_.push_back({token, parent, depth, draft_prob});
  return size() - 1;
}

std::string TokenTree::node_bytes() const {
  return std::string(reinterpret_cast<const char*>(nodes_.data()), nodes_.size() * sizeof(TreeNode));
}

TokenTree TokenTree::from_node_bytes(std::string_view bytes, int32_t vocab) {
  if (bytes.size() % sizeof(TreeNode) != 0)
    throw std::invalid_argument(std::to_string(bytes.size()) + " bytes are not whole tree nodes");
  TokenTree tree;
  tree.nodes_.reserve(bytes.size() / sizeof(TreeNode));
  for (size_t at = 0; at < bytes.size(); at += sizeof(TreeNode)) {
    TreeNode node;
    std::memcpy(&node, bytes.data() + at, sizeof node);
    if (node.token < 0 || node.token >= vocab)
      throw std::invalid_argument("tree token " + std::to_string(node.token) + " is not in the vocabulary");
    if (tree.add(node.token, node.parent, node.draft_prob) != int32_t(at / sizeof(TreeNode)) ||
        tree.nodes_.back().depth != node.depth)
      throw std::invalid_argument("tree node depth " + std::to_string(node.depth) + " does not follow its parent's");
  }
  return tree;
}

void TokenTree::set_proposal(int32_t parent, Proposal q) {
  if (parent < -1 || parent >= size())
    throw std::invalid_argument("tree parent " + std::to_string(parent) + " does not exist");
  if (proposals_.size() <= size_t(parent + 1)) proposals_.resize(size_t(parent + 2));
  proposals_[size_t(parent + 1)] = std::move(q);
}

const Proposal* TokenTree::proposal(int32_t parent) const {
  const size_t at = size_t(parent + 1);
  return at < proposals_.size() && !proposals_[at].empty() ? &proposals_[at] : nullptr;
}

std::vector<int32_t> TokenTree::children(int32_t node) const {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < size(); ++i)
    if (nodes_[size_t(i)].parent == node) out.push_back(i);
  return out;
}

std::vector<int32_t> TokenTree::path_to(int32_t node) const {
  std::vector<int32_t> path;
  for (int32_t i = node; i >= 0; i = nodes_.at(size_t(i)).parent) path.push_back(i);
  std::reverse(path.begin(), path.end());
  return path;
}

std::vector<int32_t> TokenTree::tokens_to(int32_t node) const {
  std::vector<int32_t> tokens;
  for (int32_t i : path_to(node)) tokens.push_back(nodes_[size_t(i)].token);
  return tokens;
}

int32_t TokenTree::depth() const {
  int32_t d = 0;
  for (const auto& n : nodes_) d = std::max(d, n.depth);
  return d;
}

TokenTree TokenTree::subtree(int32_t node, int max_depth) const {
  TokenTree out;
  std::vector<int32_t> index_in_out(nodes_.size(), -1);
  const int32_t base = node < 0 ? 0 : nodes_.at(size_t(node)).depth;
  for (int32_t i = node + 1; i < size(); ++i) {  // parents come before their children
    const TreeNode& n = nodes_[size_t(i)];
    if (n.depth - base > max_depth) continue;
    if (n.parent == node)
      index_in_out[size_t(i)] = out.add(n.token, -1, n.draft_prob);
    else if (n.parent >= 0 && index_in_out[size_t(n.parent)] >= 0)
      index_in_out[size_t(i)] = out.add(n.token, index_in_out[size_t(n.parent)], n.draft_prob);
  }
  if (const Proposal* q = proposal(node); q && !out.empty()) out.set_proposal(-1, *q);
  for (int32_t i = node + 1; i < size(); ++i)
    if (const Proposal* q = proposal(i);
        q && index_in_out[size_t(i)] >= 0 && !out.children(index_in_out[size_t(i)]).empty())
      out.set_proposal(index_in_out[size_t(i)], *q);
  return out;
}

void TokenTree::append_to(std::vector<BatchToken>& batch, int32_t seq, int64_t first_pos, int32_t root) const {
  const int32_t offset = int32_t(batch.size());
  for (const TreeNode& n : nodes_)
    batch.push_back({n.token, seq, first_pos + n.depth - 1, n.parent < 0 ? root : offset + n.parent, true});
}

}  // namespace tandem
