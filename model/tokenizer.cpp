#include "model/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <queue>
#include <stdexcept>

#include "model/gguf_file.h"
#include "model/mapped_file.h"
#include "model/unicode.h"
#include "model/vocab_trie.h"

namespace tandem {
namespace {

constexpr std::string_view kSpmSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space

// GPT-2's reversible map from bytes to printable code points.
const std::vector<uint32_t>& byte_to_codepoint() {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256, 0);
    std::vector<bool> direct(256, false);
    for (int b = '!'; b <= '~'; ++b) direct[size_t(b)] = true;
    for (int b = 0xa1; b <= 0xac; ++b) direct[size_t(b)] = true;
    for (int b = 0xae; b <= 0xff; ++b) direct[size_t(b)] = true;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) t[size_t(b)] = direct[size_t(b)] ? uint32_t(b) : next++;
    return t;
  }();
  return table;
}

const std::unordered_map<uint32_t, uint8_t>& codepoint_to_byte() {
  static const std::unordered_map<uint32_t, uint8_t> table = [] {
    std::unordered_map<uint32_t, uint8_t> t;
    const auto& fwd = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) t[fwd[size_t(b)]] = uint8_t(b);
    return t;
  }();
  return table;
}

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// "<0xAB>" -> 0xAB, or -1.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

// Merges adjacent symbols best-first. `priority(left, right)` gives (found, key, merged id);
// smaller keys merge first and ties go to the leftmost pair.
template <typename Symbol, typename Priority, typename Merge>
void merge_best_first(std::vector<Symbol>& symbols, Priority priority, Merge merge) {
  const int n = int(symbols.size());
  std::vector<int> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  std::vector<bool> alive(static_cast<size_t>(n), true);
  std::vector<uint32_t> version(static_cast<size_t>(n), 0);  // bumped when a symbol changes
  for (int i = 0; i < n; ++i) {
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    double key;
    int left;
    uint32_t left_version, right_version;
  };
  auto worse = [](const Candidate& a, const Candidate& b) { return a.key != b.key ? a.key > b.key : a.left > b.left; };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> heap(worse);
  auto consider = [&](int left) {
    if (left < 0 || next[size_t(left)] < 0) return;
    int right = next[size_t(left)];
    double key;
    if (priority(symbols[size_t(left)], symbols[size_t(right)], key))
      heap.push({key, left, version[size_t(left)], version[size_t(right)]});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    int right = next[size_t(c.left)];
    if (!alive[size_t(c.left)] || right < 0 || version[size_t(c.left)] != c.left_version ||
        version[size_t(right)] != c.right_version)
      continue;  // stale: one side has changed since this pair was queued
    merge(symbols[size_t(c.left)], symbols[size_t(right)]);
    ++version[size_t(c.left)];
    alive[size_t(right)] = false;
    next[size_t(c.left)] = next[size_t(right)];
    if (next[size_t(right)] >= 0) prev[size_t(next[size_t(right)])] = c.left;
    consider(prev[size_t(c.left)]);
    consider(c.left);
  }
  std::vector<Symbol> kept;
  for (int i = 0; i < n; ++i)
    if (alive[size_t(i)]) kept.push_back(std::move(symbols[size_t(i)]));
  symbols = std::move(kept);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& gguf) {
  Tokenizer t;
  std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model == "gpt2") {
    t.kind_ = Kind::ByteLevelBpe;
  } else if (model == "llama") {
    t.kind_ = Kind::SentencePieceBpe;
  } else {
    gguf.fail("unsupported tokenizer model '" + model + "' (supported: gpt2, llama)");
  }
  for (auto s : gguf.get_array("tokenizer.ggml.tokens").strings) t.tokens_.emplace_back(s);
  if (t.tokens_.empty()) gguf.fail("tokenizer.ggml.tokens is empty");
  t.types_.assign(t.tokens_.size(), TokenType::Normal);
  if (gguf.find("tokenizer.ggml.token_type")) {
    const auto& types = gguf.get_array("tokenizer.ggml.token_type").numbers;
    if (types.size() != t.tokens_.size())
      gguf.fail("tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                std::to_string(t.tokens_.size()) + " tokens");
    for (size_t i = 0; i < types.size(); ++i) t.types_[i] = TokenType(int32_t(types[i]));
  }
  if (gguf.find("tokenizer.ggml.scores")) {
    const auto& scores = gguf.get_array("tokenizer.ggml.scores").numbers;
    if (scores.size() != t.tokens_.size())
      gguf.fail("tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries for " +
                std::to_string(t.tokens_.size()) + " tokens");
    t.scores_.assign(scores.begin(), scores.end());
  } else if (t.kind_ == Kind::SentencePieceBpe) {
    gguf.fail("a llama (SentencePiece) vocabulary needs tokenizer.ggml.scores");
  }
  auto id_or_none = [&](const char* key) {
    int64_t id = gguf.get_int(key, -1);
    if (id >= int64_t(t.tokens_.size()))
      gguf.fail(std::string(key) + " " + std::to_string(id) + " is outside the vocabulary");
    return int32_t(id);
  };
  t.bos_id_ = id_or_none("tokenizer.ggml.bos_token_id");
  t.eos_id_ = id_or_none("tokenizer.ggml.eos_token_id");
  t.unk_id_ = id_or_none("tokenizer.ggml.unknown_token_id");
  t.add_bos_ = gguf.get_bool("tokenizer.ggml.add_bos_token", t.kind_ == Kind::SentencePieceBpe);
  t.add_space_prefix_ = gguf.get_bool("tokenizer.ggml.add_space_prefix", t.kind_ == Kind::SentencePieceBpe);
  if (t.kind_ == Kind::ByteLevelBpe) t.add_space_prefix_ = false;
  t.chat_template_ = gguf.get_string("tokenizer.chat_template", "");
  bool known = true;
  t.pre_ = pretokenizer_from_name(gguf.get_string("tokenizer.ggml.pre", "default"), &known);
  if (!known) gguf.fail("unsupported pre-tokenizer '" + gguf.get_string("tokenizer.ggml.pre") + "'");
  t.build_indexes();

  if (t.kind_ == Kind::ByteLevelBpe) {
    const auto& merges = gguf.get_array("tokenizer.ggml.merges").strings;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      std::string_view m = merges[rank];
      size_t space = m.find(' ');
      if (space == std::string_view::npos)
        gguf.fail("merge " + std::to_string(rank) + " '" + std::string(m) + "' has no space");
      int32_t a = t.find(m.substr(0, space)), b = t.find(m.substr(space + 1));
      int32_t merged = t.find(std::string(m.substr(0, space)) + std::string(m.substr(space + 1)));
      if (a < 0 || b < 0 || merged < 0) continue;  // a merge whose result is not a token can never apply
      t.merges_.emplace(pair_key(a, b), std::make_pair(int32_t(rank), merged));
    }
    t.byte_token_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      std::string s;
      append_utf8(s, byte_to_codepoint()[size_t(b)]);
      t.byte_token_[size_t(b)] = t.find(s);
    }
  }
  return t;
}

Tokenizer Tokenizer::from_llama2c(const std::string& path, int vocab_size) {
  MappedFile file(path);
  ByteReader in(file.data(), file.size(), path);
  Tokenizer t;
  t.kind_ = Kind::SentencePieceBpe;
  t.llama2c_ = true;
  // Ids 0-2 are unknown, BOS and EOS and 3-258 the byte fallback, which encoding relies on.
  if (vocab_size < 3 + 256)
    in.fail("a llama2.c vocabulary starts with 3 control and 256 byte tokens, so " + std::to_string(vocab_size) +
            " tokens are too few");
  int32_t max_len = in.read<int32_t>("max token length");
  if (max_len <= 0 || max_len > 1 << 16) in.fail("max token length " + std::to_string(max_len) + " is not plausible");
  for (int i = 0; i < vocab_size; ++i) {
    t.scores_.push_back(in.read<float>("token score"));
    int32_t len = in.read<int32_t>("token length");
    if (len < 0 || len > max_len)
      in.fail("token " + std::to_string(i) + " has length " + std::to_string(len) + " (max " + std::to_string(max_len) +
              ")");
    t.tokens_.emplace_back(in.bytes(uint64_t(len), "token bytes"));
  }
  t.types_.assign(t.tokens_.size(), TokenType::Normal);
  t.bos_id_ = 1;
  t.eos_id_ = 2;
  t.unk_id_ = 0;
  for (int32_t id : {0, 1, 2}) t.types_[size_t(id)] = TokenType::Control;
  for (int b = 0; b < 256; ++b) t.types_[size_t(3 + b)] = TokenType::Byte;
  t.add_bos_ = true;
  t.add_space_prefix_ = true;
  t.build_indexes();
  t.stop_ids_.push_back(t.bos_id_);  // llama2.c: BOS delimits stories, so sampling it ends one
  return t;
}

void Tokenizer::build_indexes() {
  index_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], int32_t(i));
  specials_by_byte_.assign(256, {});
  for (size_t i = 0; i < tokens_.size(); ++i)
    if ((types_[i] == TokenType::Control || types_[i] == TokenType::UserDefined) && !tokens_[i].empty())
      specials_by_byte_[uint8_t(tokens_[i][0])].push_back(int32_t(i));
  // Longest first, so "<|im_start|>" wins over any shorter token it starts with.
  for (auto& ids : specials_by_byte_)
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int32_t a, int32_t b) { return tokens_[size_t(a)].size() > tokens_[size_t(b)].size(); });
  // Control tokens match their text whole (parse_special), other tokens their bytes; a
  // SentencePiece "▁" (3 bytes stored) stands for one space, so the stored size bounds it too.
  for (size_t i = 0; i < tokens_.size(); ++i)
    max_bytes_per_token_ = std::max({max_bytes_per_token_, tokens_[i].size(), token_bytes(int32_t(i)).size()});
  if (eos_id_ >= 0) stop_ids_.push_back(eos_id_);
  for (const char* end : {"<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>"}) {
    int32_t id = find(end);
    if (id >= 0 && types_[size_t(id)] == TokenType::Control && id != eos_id_) stop_ids_.push_back(id);
  }
}

int32_t Tokenizer::find(std::string_view text) const {
  auto it = index_.find(std::string(text));
  return it == index_.end() ? -1 : it->second;
}

bool Tokenizer::is_stop(int32_t id) const {
  return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end();
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  auto encode_plain = [&](std::string_view part) {
    if (part.empty()) return;
    if (kind_ == Kind::ByteLevelBpe)
      encode_byte_level(part, out);
    else
      encode_sentencepiece(part, out);
  };
  // Special tokens are matched whole in the raw text, longest first: user-defined
  // ones always (as Hugging Face and llama.cpp do), control ones only when asked.
  size_t start = 0, i = 0;
  while (i < text.size()) {
    int32_t hit = -1;
    for (int32_t id : specials_by_byte_[uint8_t(text[i])]) {
      const std::string& s = tokens_[size_t(id)];
      if ((parse_special || types_[size_t(id)] == TokenType::UserDefined) && text.compare(i, s.size(), s) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    encode_plain(text.substr(start, i - start));
    out.push_back(hit);
    i += tokens_[size_t(hit)].size();
    start = i;
  }
  encode_plain(text.substr(start));
  return out;
}

void Tokenizer::encode_byte_level(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int32_t> symbols;
  for (std::string_view piece : pretokenize(pre_, text)) {
    symbols.clear();
    for (unsigned char c : piece) {
      int32_t id = byte_token_[c];
      if (id < 0) throw std::runtime_error("vocabulary has no token for byte " + std::to_string(c));
      symbols.push_back(id);
    }
    bpe_merge_by_rank(symbols);
    out.insert(out.end(), symbols.begin(), symbols.end());
  }
}

void Tokenizer::bpe_merge_by_rank(std::vector<int32_t>& symbols) const {
  merge_best_first(
      symbols,
      [&](int32_t a, int32_t b, double& key) {
        auto it = merges_.find(pair_key(a, b));
        if (it == merges_.end()) return false;
        key = it->second.first;
        return true;
      },
      [&](int32_t& a, int32_t b) { a = merges_.at(pair_key(a, b)).second; });
}

void Tokenizer::encode_sentencepiece(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized;
  if (add_space_prefix_) normalized += ' ';
  normalized += text;
  if (!llama2c_) {  // SentencePiece writes spaces as U+2581
    std::string replaced;
    for (char c : normalized) {
      if (c == ' ')
        replaced += kSpmSpace;
      else
        replaced += c;
    }
    normalized = std::move(replaced);
  }
  std::vector<std::string> symbols;
  for (const Utf8Char& ch : utf8_chars(normalized)) symbols.push_back(normalized.substr(ch.offset, ch.length));
  merge_best_first(
      symbols,
      [&](const std::string& a, const std::string& b, double& key) {
        int32_t id = find(a + b);
        if (id < 0) return false;
        key = -double(scores_[size_t(id)]);  // highest score first
        return true;
      },
      [](std::string& a, const std::string& b) { a += b; });
  for (const std::string& s : symbols) {
    int32_t id = find(s);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : s) {  // byte fallback
      int32_t byte_id =
          llama2c_ ? 3 + c : find(std::string("<0x") + "0123456789ABCDEF"[c >> 4] + "0123456789ABCDEF"[c & 15] + ">");
      out.push_back(byte_id >= 0 && byte_id < vocab_size() ? byte_id : unk_id_);
    }
  }
}

const VocabTrie& Tokenizer::byte_trie() const {
  std::shared_ptr<const VocabTrie> trie = std::atomic_load(&byte_trie_);
  if (trie) return *trie;
  // Two threads may both build it: the first one stored is kept, and never replaced.
  std::shared_ptr<const VocabTrie> built = std::make_shared<const VocabTrie>(*this);
  if (std::atomic_compare_exchange_strong(&byte_trie_, &trie, built)) return *built;
  return *trie;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocab_size()));
  const std::string& text = tokens_[size_t(id)];
  TokenType type = types_[size_t(id)];
  if (type == TokenType::Control) return "";
  if (kind_ == Kind::ByteLevelBpe) {
    if (type == TokenType::UserDefined) return text;
    std::string bytes;
    const auto& table = codepoint_to_byte();
    for (const Utf8Char& ch : utf8_chars(text)) {
      auto it = table.find(ch.cp);
      if (it != table.end())
        bytes += char(it->second);
      else
        bytes += text.substr(ch.offset, ch.length);
    }
    return bytes;
  }
  if (int b = parse_byte_token(text); b >= 0) return std::string(1, char(b));
  if (llama2c_) return text;
  std::string bytes;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
      bytes += ' ';
      i += kSpmSpace.size();
    } else {
      bytes += text[i++];
    }
  }
  return bytes;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  StreamDecoder decoder(*this, true);
  std::string text;
  for (int32_t id : ids) text += decoder.push(id);
  return text + decoder.flush();
}

std::string StreamDecoder::push(int32_t id) {
  std::string piece = tokenizer_.token_bytes(id);
  if (first_ && !piece.empty()) {
    // SentencePiece's dummy prefix: the first piece's leading space is not part of the text.
    if (tokenizer_.kind() == Tokenizer::Kind::SentencePieceBpe && piece[0] == ' ') piece.erase(0, 1);
    first_ = false;
  }
  pending_ += piece;
  // Hold back a trailing UTF-8 sequence that is not complete yet.
  size_t n = pending_.size(), start = n;
  while (start > 0 && n - start < 4 && (uint8_t(pending_[start - 1]) & 0xc0) == 0x80) --start;
  size_t keep_from = n;
  if (start > 0) {
    int need = utf8_sequence_length(uint8_t(pending_[start - 1]));
    if (need > 1 && size_t(need) > n - (start - 1)) keep_from = start - 1;
  }
  std::string ready = pending_.substr(0, keep_from);
  pending_.erase(0, keep_from);
  return ready;
}

std::string StreamDecoder::flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace tandem
