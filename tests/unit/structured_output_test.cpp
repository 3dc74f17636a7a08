// Structured output: JSON schemas compiled into a grammar, the byte matcher against documents
// that do and do not follow them, and the token mask against a brute-force check of every
// token of a real vocabulary.
#include <gtest/gtest.h>

#include "model/gguf_file.h"
#include "model/tokenizer.h"
#include "speculation/grammar_constraint.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using nlohmann::json;

const json kPerson = json::parse(R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 8},
    "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"enum": ["a", "bc", 3, null]}, "minItems": 1, "maxItems": 2},
    "boss": {"anyOf": [{"$ref": "#/$defs/person"}, {"type": "null"}]},
    "score": {"type": "number"}
  },
  "required": ["name", "age"],
  "additionalProperties": false,
  "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false}}
})");

bool matches(const std::shared_ptr<const JsonGrammar>& grammar, const std::string& text) {
  JsonMatcher m(grammar);
  return m.feed(text) && m.can_end();
}

TEST(StructuredOutput, TheMatcherTakesWhatTheSchemaAllowsAndNothingElse) {
  const auto person = compile_json_schema(kPerson);
  for (const char* good : {R"({"name": "Al", "age": 30})", R"({"age":-0,"name":"x\"\u00e9"})",
                           "{\n  \"name\": \"Bob\",\n  \"age\": 7,\n  \"tags\": [\"bc\", 3],\n  \"boss\": null}",
                           R"({"name": "", "age": 1, "boss": {"name": "Zed"}, "score": -1.5e+3})",
                           R"({"name": "Al", "age": 1, "tags": [null]})"})
    EXPECT_TRUE(matches(person, good)) << good;
  for (const char* bad : {R"({"name": "Al"})",                                     // age is required
                          R"({"name": "Al", "age": 1.5})",                         // an integer
                          R"({"name": "Al", "age": 1, "x": 2})",                   // no other keys
                          R"({"name": "Al", "name": "B", "age": 1})",              // a key twice
                          R"({"name": "Al", "age": 01})",                          // not JSON
                          R"({"name": "123456789", "age": 1})",                    // over maxLength
                          R"({"name": "Al", "age": 1, "tags": []})",               // minItems
                          R"({"name": "Al", "age": 1, "tags": ["a", "a", "a"]})",  // maxItems
                          R"({"name": "Al", "age": 1, "tags": ["b"]})",            // not in the enum
                          R"({"name": "Al", "age": 1, "boss": 3})",                // neither a person nor null
                          R"({"name": "Al", "age": 1} x)",                         // nothing after the value
                          "{\"name\": \"a\nb\", \"age\": 1}"})                     // control characters are escaped
    EXPECT_FALSE(matches(person, bad)) << bad;
  const auto object = any_json_object();
  EXPECT_TRUE(matches(object, R"({"a": [1, {"b": [true, false, null]}], "c": "d"})"));
  EXPECT_FALSE(matches(object, "[1]"));
  EXPECT_FALSE(matches(object, R"({"a": tru})"));
  EXPECT_TRUE(matches(compile_json_schema(json::parse(R"({"type": "number"})")), "12.5"));
}

TEST(StructuredOutput, WhatIsNotSupportedIsRefusedWithItsName) {
  auto error_of = [](const std::string& format) {
    try {
      response_format_grammar(json::parse(format));
    } catch (const std::invalid_argument& e) { return std::string(e.what()); }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error_of(R"({"type": "text"})"), "(accepted)");
  EXPECT_EQ(error_of(R"({"type": "json_object"})"), "(accepted)");
  EXPECT_NE(error_of(R"({"type": "json_schema", "json_schema": {"schema": {"type": "string", "pattern": "a+"}}})")
                .find("response_format: 'pattern' is not supported (supported: type, properties"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          R"({"type": "json_schema", "json_schema": {"schema": {"anyOf": [{"type": "object"}, {"type": "object"}]}}})")
          .find("alternatives can begin with the same character"),
      std::string::npos);
  // Found by fuzz_json_schema: a keyword of the wrong JSON type.
  EXPECT_EQ(error_of(R"({"type": "json_schema", "json_schema": {"schema": {"type": {"p": 1}}}})"),
            "response_format: 'type' must be a string or an array of strings");
  EXPECT_EQ(error_of(R"({"type": "json_schema", "json_schema": {"schema": {"type": "array", "minItems": "3"}}})")
                .rfind("response_format: 'minItems' must be", 0),
            0u);
  EXPECT_EQ(error_of(R"({"type": "xml"})"),
            "'response_format' type must be text, json_object or json_schema, not 'xml'");
  EXPECT_EQ(error_of(R"({"type": "json_schema"})"),
            "'response_format' json_schema needs {\"name\": ..., \"schema\": {...}}");
  EXPECT_NE(error_of(R"({"type": "json_schema", "json_schema": {"schema": {"$ref": "#/$defs/none"}}})")
                .find("not in the schema's $defs"),
            std::string::npos);
}

// The mask (a walk of the vocabulary's trie, cached by state; inside strings the string's own
// walk plus the tokens that close it) allows exactly the tokens that feeding their bytes one
// by one allows, at every step of real documents.
TEST(StructuredOutput, TheTokenMaskIsExactlyThePerTokenCheck) {
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile(test::installed_model("smollm2-135m-instruct-q4_1.gguf")));
  const std::vector<std::pair<std::shared_ptr<const JsonGrammar>, std::string>> cases = {
      {compile_json_schema(kPerson), R"({"name": "Bob", "age": 42, "tags": ["bc"], "boss": null})"},
      {any_json_object(), "{\"a\": \"x\\\"y\", \"b\": [\"\u00e9\", {\"c\": \"d e\"}],\n  \"e\": \"\"}"}};
  const int32_t vocab = tok.vocab_size();
  std::vector<float> zeros(size_t(vocab), 0.0f);
  for (const auto& [grammar, document] : cases) {
    GrammarConstraint constraint(tok, grammar);
    const std::vector<int32_t> ids = tok.encode(document, false);
    JsonMatcher state(grammar);
    for (size_t step = 0; step <= ids.size(); ++step) {
      constraint.prune(TokenTree());
      const float* masked = constraint.mask(zeros.data(), 1, vocab);
      int allowed = 0;
      for (int32_t t = 0; t < vocab; ++t) {
        const bool expected = constraint.allows(state, t);
        ASSERT_EQ(masked[t] == 0.0f, expected)
            << document << " step " << step << " token '" << tok.token_text(t) << "'";
        allowed += expected;
      }
      EXPECT_GT(allowed, 0) << step;
      if (step == ids.size()) {
        EXPECT_TRUE(constraint.allows(state, tok.eos_id()));  // a whole document: it may end
        break;
      }
      EXPECT_FALSE(constraint.allows(state, tok.eos_id())) << step;
      ASSERT_TRUE(constraint.allows(state, ids[step])) << "the document's own token " << step;
      state.feed(tok.token_bytes(ids[step]));
      constraint.advance(ids[step]);
    }
  }
}

// Drafts the grammar refuses are cut with their subtrees before verification; children drawn
// from a proposal go together.
TEST(StructuredOutput, PruningKeepsOnlyWhatTheGrammarAllows) {
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile(test::installed_model("smollm2-135m-instruct-q4_1.gguf")));
  GrammarConstraint constraint(tok, any_json_object());
  const int32_t brace = tok.find("{"), quote = tok.find("\""), letter = tok.find("a");
  ASSERT_GE(brace, 0);
  ASSERT_GE(quote, 0);
  ASSERT_GE(letter, 0);
  TokenTree tree;
  const int32_t open = tree.add(brace, -1, 1.0f);   // {
  tree.add(letter, open, 1.0f);                     // {a: refused
  const int32_t key = tree.add(quote, open, 1.0f);  // {"
  tree.add(letter, key, 1.0f);                      // {"a
  tree.add(letter, -1, 1.0f);                       // a: refused
  const TokenTree kept = constraint.prune(tree);
  ASSERT_EQ(kept.size(), 3);
  EXPECT_EQ(kept.tokens_to(2), (std::vector<int32_t>{brace, quote, letter}));
  TokenTree sampled;
  sampled.add(brace, -1, 0.5f);
  sampled.add(letter, -1, 0.5f);
  sampled.set_proposal(-1, {{brace, 0.5f}, {letter, 0.5f}});
  EXPECT_TRUE(constraint.prune(sampled).empty());
}

}  // namespace
}  // namespace tandem
