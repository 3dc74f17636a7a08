#include "speculation/json_matcher.h"

#include <cstring>

namespace tandem {
namespace {

using Type = SchemaNode::Type;

constexpr uint8_t kMaxIndent = 32;   // spaces or tabs after a newline between tokens
constexpr uint16_t kMaxDigits = 32;  // digits in one number

bool is_space(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
bool is_hex(uint8_t b) { return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }

// Object phases: before '{', after '{', in a key, after a key, before a value, after a value, after ','.
enum ObjectPhase : uint8_t { kOpen, kFirst, kKey, kColon, kValue, kNext, kAfterComma };
// Array phases: before '[', after '[', after ',', after a value.
enum ArrayPhase : uint8_t { kArrayOpen, kArrayFirst, kArrayItem, kArrayNext };
// Number phases: start, after '-', after a leading 0, integer digits, after '.', fraction
// digits, after 'e', after the exponent's sign, exponent digits.
enum NumberPhase : uint8_t { kSign, kMinus, kZero, kInteger, kDot, kFraction, kE, kExpSign, kExponent };

}  // namespace

bool JsonMatcher::feed(const std::string& text) {
  for (unsigned char c : text)
    if (!feed(c)) return false;
  return true;
}

bool JsonMatcher::feed(uint8_t byte) {
  if (depth_ == 0) {
    if (started_) return false;
    started_ = true;
    return start_value(grammar_->root, byte);
  }
  Frame& f = frames_[size_t(depth_ - 1)];
  // A value expected inside an object or array: its first byte opens it.
  const Type type = schema(f).type;
  const bool wants_value = (type == Type::kObject && f.phase == kValue) ||
                           (type == Type::kArray && (f.phase == kArrayItem || f.phase == kArrayFirst));
  if (wants_value && !is_space(byte) && !(type == Type::kArray && f.phase == kArrayFirst && byte == ']')) {
    const SchemaNode& s = schema(f);
    const int32_t child = type == Type::kArray ? s.items : f.at >= 0 ? s.properties[size_t(f.at)] : s.additional;
    if (type == Type::kArray && s.max_count >= 0 && f.count >= s.max_count) return false;
    return start_value(child, byte);
  }
  switch (step(f, byte)) {
    case Step::kTaken: return true;
    case Step::kClosed: close_innermost(); return true;
    case Step::kEndsBefore: close_innermost(); return feed(byte);  // the byte belongs to what holds the value
    case Step::kRefused: return false;
  }
  return false;
}

bool JsonMatcher::start_value(int32_t node, uint8_t byte) {
  // Any value, or one of several alternatives: the first byte says which.
  for (int hops = 0; hops < 64; ++hops) {
    const SchemaNode& s = grammar_->nodes[size_t(node)];
    if (s.type == Type::kAny) {
      node = byte == '{'                                   ? grammar_->any_object
             : byte == '['                                 ? grammar_->any_array
             : byte == '"'                                 ? grammar_->any_string
             : (byte == '-' || is_digit(byte))             ? grammar_->any_number
             : (byte == 't' || byte == 'f' || byte == 'n') ? grammar_->any_literal
                                                           : -1;
    } else if (s.type == Type::kUnion) {
      int32_t chosen = -1;
      for (int32_t option : s.options) {
        JsonMatcher probe(grammar_);
        probe.started_ = true;
        if (probe.start_value(option, byte)) {
          chosen = option;
          break;
        }
      }
      node = chosen;
    } else {
      break;
    }
    if (node < 0) return false;
  }
  if (depth_ == kMaxDepth) return false;
  Frame& f = frames_[size_t(depth_++)];
  f = Frame{};
  f.node = node;
  switch (step(f, byte)) {
    case Step::kTaken: return true;
    case Step::kClosed: close_innermost(); return true;
    default: --depth_; return false;
  }
}

void JsonMatcher::close_innermost() {
  --depth_;
  if (depth_ == 0) return;
  Frame& parent = frames_[size_t(depth_ - 1)];
  if (schema(parent).type == Type::kObject) {
    if (parent.at >= 0) parent.seen |= uint64_t(1) << parent.at;
    parent.phase = kNext;
  } else {
    parent.phase = kArrayNext;
    if (parent.count < UINT16_MAX) ++parent.count;
  }
  parent.spaces = 0;
}

// Between tokens, as llama.cpp's JSON grammars allow: nothing, one space, or one newline and
// up to kMaxIndent spaces or tabs. A model cannot spend its tokens on blank lines.
bool JsonMatcher::whitespace(Frame& f, uint8_t byte) {
  constexpr uint8_t kOneSpace = 255;
  if (f.spaces == 0 && (byte == ' ' || byte == '\n')) {
    f.spaces = byte == ' ' ? kOneSpace : 1;
    return true;
  }
  if (f.spaces == kOneSpace || f.spaces == 0 || (byte != ' ' && byte != '\t') || f.spaces > kMaxIndent) return false;
  ++f.spaces;
  return true;
}

JsonMatcher::Step JsonMatcher::step(Frame& f, uint8_t byte) {
  switch (schema(f).type) {
    case Type::kObject: return step_object(f, byte);
    case Type::kArray: return step_array(f, byte);
    case Type::kString: return step_string(f, byte);
    case Type::kNumber:
    case Type::kInteger: return step_number(f, byte);
    case Type::kLiteral: return step_literal(f, byte);
    default: return Step::kRefused;
  }
}

JsonMatcher::Step JsonMatcher::step_object(Frame& f, uint8_t byte) {
  const SchemaNode& s = schema(f);
  const bool complete = (f.seen & s.required) == s.required;
  if (f.phase != kKey && whitespace(f, byte)) return f.phase == kOpen ? Step::kRefused : Step::kTaken;
  f.spaces = 0;
  switch (f.phase) {
    case kOpen:
      if (byte != '{') return Step::kRefused;
      f.phase = kFirst;
      return Step::kTaken;
    case kFirst:
    case kAfterComma:
      if (byte == '}' && f.phase == kFirst && complete) return Step::kClosed;
      if (byte != '"') return Step::kRefused;
      f.phase = kKey;
      f.at = 0;
      return Step::kTaken;
    case kKey: {
      if (byte == '"') {
        const int32_t named = f.at >= 0 ? s.keys.nodes[size_t(f.at)].ends : -1;
        if (named >= 0 && !(f.seen >> named & 1)) {
          f.at = named;
        } else if (s.additional >= 0) {
          f.at = -2;
        } else {
          return Step::kRefused;
        }
        f.phase = kColon;
        return Step::kTaken;
      }
      if (byte < 0x20 || byte == '\\') return Step::kRefused;  // keys are plain text
      // A name's next byte, if a name not yet written goes on that way (no dead ends).
      const int32_t next = f.at >= 0 ? s.keys.child(f.at, byte) : -1;
      if (next >= 0 && (s.keys.nodes[size_t(next)].below & ~f.seen) != 0) {
        f.at = next;
        return Step::kTaken;
      }
      if (s.additional < 0) return Step::kRefused;
      f.at = -1;  // a key of its own
      return Step::kTaken;
    }
    case kColon:
      if (byte != ':') return Step::kRefused;
      f.phase = kValue;
      return Step::kTaken;
    case kNext: {
      if (byte == '}') return complete ? Step::kClosed : Step::kRefused;
      const uint64_t all_named = s.names.size() >= 64 ? ~uint64_t(0) : (uint64_t(1) << s.names.size()) - 1;
      const bool more = s.additional >= 0 || (f.seen & all_named) != all_named;
      if (byte != ',' || !more) return Step::kRefused;
      f.phase = kAfterComma;
      return Step::kTaken;
    }
    default: return Step::kRefused;
  }
}

JsonMatcher::Step JsonMatcher::step_array(Frame& f, uint8_t byte) {
  const SchemaNode& s = schema(f);
  if (f.phase != kArrayOpen && whitespace(f, byte)) return Step::kTaken;
  f.spaces = 0;
  switch (f.phase) {
    case kArrayOpen:
      if (byte != '[') return Step::kRefused;
      f.phase = kArrayFirst;
      return Step::kTaken;
    case kArrayFirst: return byte == ']' && s.min_count == 0 ? Step::kClosed : Step::kRefused;
    case kArrayNext:
      if (byte == ']') return f.count >= s.min_count ? Step::kClosed : Step::kRefused;
      if (byte != ',' || (s.max_count >= 0 && f.count >= s.max_count)) return Step::kRefused;
      f.phase = kArrayItem;
      return Step::kTaken;
    default: return Step::kRefused;
  }
}

JsonMatcher::Step JsonMatcher::step_string(Frame& f, uint8_t byte) {
  const SchemaNode& s = schema(f);
  const bool counted = s.min_count > 0 || s.max_count >= 0;  // else the count stays 0: states repeat
  auto one_more = [&]() {
    if (s.max_count >= 0 && f.count >= s.max_count) return false;
    if (counted && f.count < UINT16_MAX) ++f.count;
    return true;
  };
  switch (f.phase) {
    case 0:
      if (byte != '"') return Step::kRefused;
      f.phase = 1;
      return Step::kTaken;
    case 1:
      if (byte == '"') return f.count >= s.min_count ? Step::kClosed : Step::kRefused;
      if (byte < 0x20) return Step::kRefused;  // control characters are written escaped
      if (byte == '\\') {
        if (s.max_count >= 0 && f.count >= s.max_count) return Step::kRefused;
        f.phase = 2;
        return Step::kTaken;
      }
      if ((byte & 0xc0) == 0x80) return Step::kTaken;  // a UTF-8 continuation: the same character
      return one_more() ? Step::kTaken : Step::kRefused;
    case 2:
      if (byte == 'u') {
        f.phase = 3;
        return Step::kTaken;
      }
      if (std::strchr("\"\\/bfnrt", byte) == nullptr || byte == 0) return Step::kRefused;
      f.phase = 1;
      return one_more() ? Step::kTaken : Step::kRefused;
    default:  // 3 to 6: \u and the hex digits read so far
      if (!is_hex(byte)) return Step::kRefused;
      if (++f.phase < 7) return Step::kTaken;
      f.phase = 1;
      return one_more() ? Step::kTaken : Step::kRefused;
  }
}

JsonMatcher::Step JsonMatcher::step_number(Frame& f, uint8_t byte) {
  const bool integer = schema(f).type == Type::kInteger;
  const bool digit = is_digit(byte);
  // A long run of digits stops where the number could end anyway (no dead ends).
  if (digit && ++f.count > kMaxDigits && (f.phase == kInteger || f.phase == kFraction || f.phase == kExponent))
    return Step::kRefused;
  auto go = [&](uint8_t phase) {
    f.phase = phase;
    return Step::kTaken;
  };
  switch (f.phase) {
    case kSign:
      if (byte == '-') return go(kMinus);
      [[fallthrough]];
    case kMinus:
      if (byte == '0') return go(kZero);
      return digit ? go(kInteger) : Step::kRefused;
    case kZero:
    case kInteger:
      if (digit && f.phase == kInteger) return go(kInteger);
      if (byte == '.' && !integer) return go(kDot);
      if ((byte == 'e' || byte == 'E') && !integer) return go(kE);
      return digit ? Step::kRefused : Step::kEndsBefore;  // 01 is not JSON
    case kDot: return digit ? go(kFraction) : Step::kRefused;
    case kFraction:
      if (digit) return go(kFraction);
      if (byte == 'e' || byte == 'E') return go(kE);
      return Step::kEndsBefore;
    case kE:
      if (byte == '+' || byte == '-') return go(kExpSign);
      [[fallthrough]];
    case kExpSign: return digit ? go(kExponent) : Step::kRefused;
    case kExponent: return digit ? go(kExponent) : Step::kEndsBefore;
    default: return Step::kRefused;
  }
}

JsonMatcher::Step JsonMatcher::step_literal(Frame& f, uint8_t byte) {
  const ByteTrie& trie = schema(f).literals;
  const int32_t next = trie.child(f.at, byte);
  if (next >= 0) {
    f.at = next;
    const ByteTrie::Node& n = trie.nodes[size_t(next)];
    return n.ends >= 0 && n.children.empty() ? Step::kClosed : Step::kTaken;
  }
  return trie.nodes[size_t(f.at)].ends >= 0 ? Step::kEndsBefore : Step::kRefused;
}

bool JsonMatcher::frame_can_end(const Frame& f) const {
  const Type type = schema(f).type;
  if (type == Type::kNumber || type == Type::kInteger)
    return f.phase == kZero || f.phase == kInteger || f.phase == kFraction || f.phase == kExponent;
  if (type == Type::kLiteral) return schema(f).literals.nodes[size_t(f.at)].ends >= 0;
  return false;
}

bool JsonMatcher::can_end() const { return started_ && (depth_ == 0 || (depth_ == 1 && frame_can_end(frames_[0]))); }

bool JsonMatcher::in_string_body() const {
  return depth_ > 0 && schema(frames_[size_t(depth_ - 1)]).type == Type::kString &&
         frames_[size_t(depth_ - 1)].phase == 1;
}

JsonMatcher JsonMatcher::innermost() const {
  JsonMatcher alone(grammar_);
  alone.started_ = true;
  alone.depth_ = depth_ > 0 ? 1 : 0;
  if (depth_ > 0) alone.frames_[0] = frames_[size_t(depth_ - 1)];
  return alone;
}

void JsonMatcher::copy_from(const JsonMatcher& other) {
  grammar_ = other.grammar_;
  depth_ = other.depth_;
  started_ = other.started_;
  std::copy(other.frames_.begin(), other.frames_.begin() + depth_, frames_.begin());
}

std::string JsonMatcher::key() const {
  std::string k(1, char(started_));
  for (int i = 0; i < depth_; ++i) {
    const Frame& f = frames_[size_t(i)];
    const uint64_t fields[] = {uint64_t(uint32_t(f.node)),
                               uint64_t(f.phase) | uint64_t(f.spaces) << 8 | uint64_t(f.count) << 16,
                               uint64_t(uint32_t(f.at)), f.seen};
    k.append(reinterpret_cast<const char*>(fields), sizeof fields);
  }
  return k;
}

}  // namespace tandem
