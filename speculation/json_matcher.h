#pragma once
// Where a JSON output stands against a compiled schema (json_schema.h), advanced byte by
// byte: a stack of frames, one per open value, each a few integers, so a state is cheap to
// copy (token masks branch it at every byte of the vocabulary's trie) and to use as a key.
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "speculation/json_schema.h"

namespace tandem {

class JsonMatcher {
 public:
  /// Most values open at once; a byte that would open one more is refused.
  static constexpr int kMaxDepth = 32;

  explicit JsonMatcher(std::shared_ptr<const JsonGrammar> grammar) : grammar_(std::move(grammar)) {}

  /// Takes one byte of output; false (and the state unchanged in meaning but not to be used
  /// further) when the schema does not allow it here.
  bool feed(uint8_t byte);
  /// Takes every byte of `text`; false at the first one refused.
  bool feed(const std::string& text);
  /// Whether the output may end here: a whole value that the schema allows.
  bool can_end() const;
  /// Whether a value is complete and nothing more may follow.
  bool done() const { return started_ && depth_ == 0; }
  /// Whether the innermost open value is a string, between characters (no escape begun).
  bool in_string_body() const;
  /// That string alone, as if it were the whole output: what it takes does not depend on
  /// what holds it until it closes (token masks share that work across contexts).
  JsonMatcher innermost() const;
  /// Copies `other`'s state (only the frames in use).
  void copy_from(const JsonMatcher& other);
  /// The state as bytes: equal keys, equal futures (token masks are cached by it).
  std::string key() const;

 private:
  struct Frame {
    int32_t node = 0;    // the schema node
    uint8_t phase = 0;   // where in the value: per type
    uint8_t spaces = 0;  // whitespace bytes in a row
    uint16_t count = 0;  // string characters, array items, number digits
    int32_t at =
        0;  // object: key trie node (-1: a key of its own), then the property (-2: additional); literal: trie node
    uint64_t seen = 0;  // object: properties written
  };
  enum class Step { kTaken, kClosed, kEndsBefore, kRefused };

  const SchemaNode& schema(const Frame& f) const { return grammar_->nodes[size_t(f.node)]; }
  bool start_value(int32_t node, uint8_t byte);
  // Pops the innermost value, complete, and moves what holds it past it.
  void close_innermost();
  bool whitespace(Frame& f, uint8_t byte);
  Step step(Frame& f, uint8_t byte);
  Step step_object(Frame& f, uint8_t byte);
  Step step_array(Frame& f, uint8_t byte);
  Step step_string(Frame& f, uint8_t byte);
  Step step_number(Frame& f, uint8_t byte);
  Step step_literal(Frame& f, uint8_t byte);
  bool frame_can_end(const Frame& f) const;

  std::shared_ptr<const JsonGrammar> grammar_;
  std::array<Frame, kMaxDepth> frames_{};
  int depth_ = 0;
  bool started_ = false;
};

}  // namespace tandem
