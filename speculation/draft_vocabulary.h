#pragma once
// FR-Spec's vocabulary for a draft model: the tokens a corpus uses most. A draft model whose
// classifier computes only these (Transformer::restrict_vocabulary) drafts more cheaply; the
// output stays exact, since a draft is only a guess and a sampled draft's q (a distribution
// over these tokens) is what the verifier's p/q test uses.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

class Tokenizer;

/// Counts of each token id over texts encoded by one tokenizer.
class TokenCounter {
 public:
  explicit TokenCounter(const Tokenizer& tokenizer);
  /// Encodes `text` (no BOS; control tokens as plain text) and counts its tokens.
  void add(std::string_view text);
  /// Tokens counted so far.
  int64_t total() const { return total_; }
  /// The share of the counted tokens that `ids` holds (0 when none were counted).
  double coverage(const std::vector<int32_t>& ids) const;
  /// The `top` most frequent ids, most frequent first (ties: lower id first); ids never seen are left out.
  std::vector<int32_t> most_frequent(int32_t top) const;

 private:
  const Tokenizer& tokenizer_;
  std::vector<int64_t> counts_;
  int64_t total_ = 0;
};

/// Writes `ids` (most frequent first) as a draft vocabulary file: a header naming the
/// tokenizer's vocabulary fingerprint and the corpus, then one id a line. Throws
/// std::runtime_error when the file cannot be written.
void write_draft_vocabulary(const std::string& path, const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                            const std::string& corpus_note);

/// The first `top` ids of a draft vocabulary file, plus the tokenizer's stop tokens (so a
/// draft can always end). Throws std::runtime_error when the file is missing or malformed,
/// was counted with another vocabulary, or names an id outside it.
std::vector<int32_t> read_draft_vocabulary(const std::string& path, const Tokenizer& tokenizer, int32_t top);

}  // namespace tandem
