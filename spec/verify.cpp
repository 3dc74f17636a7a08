#include "spec/verify.h"

#include "kernels/ops.h"

namespace tandem {

Verdict verify_greedy(const TokenTree& tree, const float* root_logits, const float* node_logits, int32_t vocab) {
  Verdict verdict;
  int32_t node = -1;
  const float* logits = root_logits;
  for (;;) {
    int32_t want = int32_t(argmax(logits, vocab));
    int32_t next = -1;
    for (int32_t child : tree.children(node))
      if (tree[child].token == want) {
        next = child;
        break;
      }
    if (next < 0) {
      verdict.bonus = want;
      return verdict;
    }
    verdict.accepted.push_back(next);
    node = next;
    logits = node_logits + size_t(next) * size_t(vocab);
  }
}

}  // namespace tandem
