#pragma once
// Text to token ids and back: byte-level BPE (GPT-2, SmolLM, Qwen2 vocabularies)
// and SentencePiece-style BPE with scores (llama2.c, Llama, Gemma vocabularies).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/pretokenizer.h"

namespace tandem {

class GgufFile;
class VocabTrie;

/// GGUF token types.
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

/// A vocabulary and the encoder/decoder that goes with it.
class Tokenizer {
 public:
  /// Which encoding algorithm the vocabulary uses.
  enum class Kind { ByteLevelBpe, SentencePieceBpe };

  /// Reads the tokenizer a GGUF file describes (`tokenizer.ggml.*`).
  static Tokenizer from_gguf(const GgufFile& gguf);
  /// Reads a llama2.c tokenizer.bin with `vocab_size` entries (BOS 1, EOS 2, byte fallback at id 3 + byte).
  static Tokenizer from_llama2c(const std::string& path, int vocab_size);

  /// Token ids for `text`; BOS first when add_bos. With parse_special, the text of
  /// control tokens (like "<|im_start|>") becomes those tokens; otherwise it is plain text.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = false) const;

  /// The bytes token `id` stands for (control tokens give their text); throws std::out_of_range for a bad id.
  std::string token_bytes(int32_t id) const;
  /// Decodes a sequence, dropping the SentencePiece dummy-prefix space after BOS.
  std::string decode(const std::vector<int32_t>& ids) const;

  /// What kind of token `id` is (control tokens stand for no text a grammar could accept).
  TokenType token_type(int32_t id) const { return types_.at(size_t(id)); }
  /// Number of tokens.
  int32_t vocab_size() const { return int32_t(tokens_.size()); }
  /// Token text as stored in the vocabulary.
  const std::string& token_text(int32_t id) const { return tokens_.at(size_t(id)); }
  /// Id of an exact token text, or -1.
  int32_t find(std::string_view text) const;
  /// The most bytes of input text one token can stand for (at least 4: one UTF-8 character
  /// with no token of its own). A text of N bytes encodes to at least N / this many tokens.
  size_t max_bytes_per_token() const { return max_bytes_per_token_; }
  /// Beginning-of-sequence id (-1 if none).
  int32_t bos_id() const { return bos_id_; }
  /// End-of-sequence id (-1 if none).
  int32_t eos_id() const { return eos_id_; }
  /// Whether prompts start with BOS by default.
  bool add_bos() const { return add_bos_; }
  /// Whether decoding should stop at this token (EOS, end-of-turn and similar control tokens).
  bool is_stop(int32_t id) const;
  /// The ids is_stop() holds true for.
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }
  /// Encoding algorithm.
  Kind kind() const { return kind_; }
  /// Whether `other` has exactly the same tokens, so ids mean the same text in both.
  bool same_vocabulary(const Tokenizer& other) const { return tokens_ == other.tokens_ && types_ == other.types_; }
  /// The vocabulary as a byte trie (model/vocab_trie.h), built on first use and shared by copies.
  const VocabTrie& byte_trie() const;
  /// Chat template source text from the model file (may be empty).
  const std::string& chat_template() const { return chat_template_; }
  /// Replaces it (`--chat-template FILE`).
  void set_chat_template(std::string source) { chat_template_ = std::move(source); }

 private:
  void build_indexes();
  void encode_byte_level(std::string_view text, std::vector<int32_t>& out) const;
  void encode_sentencepiece(std::string_view text, std::vector<int32_t>& out) const;
  void bpe_merge_by_rank(std::vector<int32_t>& symbols) const;

  Kind kind_ = Kind::ByteLevelBpe;
  PreTokenizer pre_ = PreTokenizer::Gpt2;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t> index_;
  // Byte-level BPE: (left id, right id) -> (rank, merged id).
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::vector<int32_t> byte_token_;  // byte value -> token id of its single-byte symbol
  // Control / user-defined tokens matched whole in raw text, by first byte, longest first.
  std::vector<std::vector<int32_t>> specials_by_byte_;
  std::vector<int32_t> stop_ids_;
  int32_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1;
  bool add_bos_ = false;
  size_t max_bytes_per_token_ = 4;
  bool llama2c_ = false;           // spaces are literal " " and bytes are ids 3 + byte
  bool add_space_prefix_ = false;  // SentencePiece dummy prefix
  std::string chat_template_;
  mutable std::shared_ptr<const VocabTrie> byte_trie_;  // atomic_load / atomic_store: built once, read by any thread
};

/// Turns a stream of token ids into text pieces, holding back an incomplete UTF-8 sequence until it completes.
class StreamDecoder {
 public:
  /// With `at_text_start`, the first piece loses the SentencePiece dummy-prefix space
  /// (decoding a whole prompt); continuations of a text keep every byte.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool at_text_start = false)
      : tokenizer_(tokenizer), first_(at_text_start) {}
  /// Text that became complete with token `id` (may be empty).
  std::string push(int32_t id);
  /// Whatever is still held back (an invalid tail), at the end of the stream.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool first_;
};

}  // namespace tandem
