#pragma once
// Stop sequences (OpenAI's `stop`): text is released to the client only once it
// can no longer be the start of a stop sequence, so a sequence split across tokens
// (or across the tokens of one speculative pass) is still found, and nothing after
// it ever leaves the server.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tandem {

/// Most stop sequences a request may give, and most bytes in one.
constexpr size_t kMaxStopSequences = 16;
constexpr size_t kMaxStopBytes = 256;

/// Throws std::invalid_argument unless `stops` are within the limits above and none is empty.
void check_stop_sequences(const std::vector<std::string>& stops);

/// Holds back the generated text that could begin a stop sequence.
class StopMatcher {
 public:
  /// What may go to the client now: token ids and text. A token is released with the
  /// first of its text; the tokens whose text starts at or after a stop are never released.
  struct Released {
    std::vector<int32_t> ids;
    std::string text;
  };

  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  /// Adds a decided token and the text it completed (possibly empty).
  Released push(int32_t id, const std::string& text);
  /// At the end of generation: whatever is still held (`tail`: text decided after the last token).
  Released flush(const std::string& tail = "");
  /// Whether a stop sequence was found; the output ends before it.
  bool stopped() const { return stopped_; }

 private:
  // Releases the held text before byte `end` and the tokens that start before it.
  Released release(size_t end);

  std::vector<std::string> stops_;
  std::string held_;
  std::vector<std::pair<int32_t, size_t>> held_ids_;  // token and where its text starts in held_
  bool stopped_ = false;
};

}  // namespace tandem
