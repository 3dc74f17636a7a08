// FR-Spec: a draft model whose classifier computes only a corpus's most frequent tokens.
// Its logits of those tokens are the full classifier's, bit for bit; every other token is
// impossible; drafting with it stays lossless (the sampled case is in the chi-square tests,
// speculative_sampling_test.cpp, shape FrSpecChain); and vocabulary files that do not fit
// the model are refused with a reason.
#include "speculation/draft_vocabulary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "model/fingerprint.h"
#include "speculation/draft_model_cache.h"
#include "speculation/drafter.h"
#include "speculation/speculative.h"
#include "test_helpers.h"

namespace tandem {
namespace {

std::vector<int32_t> first_ids(int32_t count) {
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < count; ++id) ids.push_back(id);
  return ids;
}

TEST(RestrictedClassifier, KeepsItsTokensLogitsBitForBitAndRulesOutTheRest) {
  auto model = Model::load(test::stories_model());
  const std::vector<int32_t> prompt = model->tokenizer().encode("Once upon a time there was a little girl", true);
  const std::vector<int32_t> kept = {3, 7, 42, 100, 101, 257, 300, 511};
  for (MatmulPath path : {MatmulPath::Int8, MatmulPath::Int16}) {
    Transformer full(*model, 1, kAttentionSegment, path), cut(*model, 1, kAttentionSegment, path);
    cut.restrict_vocabulary({511, 3, 42, 7, 100, 101, 257, 300, 42});  // any order, repeats allowed
    EXPECT_EQ(cut.vocabulary(), kept);
    const auto full_logits = test::chain_logits(full, prompt, 4), cut_logits = test::chain_logits(cut, prompt, 4);
    ASSERT_EQ(full_logits.size(), cut_logits.size());
    for (size_t pos = 0; pos < full_logits.size(); ++pos) {
      for (int32_t id = 0; id < model->config().vocab_size; ++id) {
        const bool is_kept = std::find(kept.begin(), kept.end(), id) != kept.end();
        if (is_kept) {
          ASSERT_EQ(std::memcmp(&full_logits[pos][size_t(id)], &cut_logits[pos][size_t(id)], sizeof(float)), 0)
              << matmul_path_name(path) << " position " << pos << " token " << id;
        } else {
          ASSERT_TRUE(std::isinf(cut_logits[pos][size_t(id)]) && cut_logits[pos][size_t(id)] < 0)
              << matmul_path_name(path) << " position " << pos << " token " << id;
        }
      }
    }
    cut.restrict_vocabulary({});  // the whole vocabulary again
    test::expect_bit_identical(test::chain_logits(cut, prompt, 4).back(), full_logits.back(), "unrestricted again");
  }
}

// A sequence's cache may name tokens the cut classifier leaves out (a draft model's own
// context): each gets its logit for that sequence only, close to the whole classifier's
// (computed apart, in float), and the kept tokens' logits do not change.
TEST(RestrictedClassifier, ScoresTheTokensASequenceAlsoWants) {
  auto model = Model::load(test::stories_model());
  const std::vector<int32_t> prompt = model->tokenizer().encode("Once upon a time there was a little girl", true);
  Transformer full(*model, 1), cut(*model, 1);
  cut.restrict_vocabulary(first_ids(100));
  const std::vector<int32_t> extra = {prompt[3], prompt[5], 400, 511};
  for (int32_t id : extra) ASSERT_FALSE(cut.scores(id)) << id;
  const auto whole = test::chain_logits(full, prompt, 4).back();
  KvCache wants(model->config(), 64), plain(model->config(), 64);
  for (int32_t id : extra) wants.also_score(id);
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt.size(); ++i)
    batch.push_back({prompt[i], 0, int64_t(i), int32_t(i) - 1, i + 1 == prompt.size()});
  KvCache* with_extra[] = {&wants};
  std::span<const float> out = cut.forward(batch, with_extra);
  const std::vector<float> scored(out.begin(), out.end());
  KvCache* without[] = {&plain};
  out = cut.forward(batch, without);
  const std::vector<float> unscored(out.begin(), out.end());
  for (int32_t id = 0; id < model->config().vocab_size; ++id) {
    const bool wanted = std::find(extra.begin(), extra.end(), id) != extra.end();
    if (id < 100) {
      EXPECT_EQ(scored[size_t(id)], unscored[size_t(id)]) << id;
    } else if (wanted) {
      EXPECT_NEAR(scored[size_t(id)], whole[size_t(id)], 0.05f * std::max(1.0f, std::fabs(whole[size_t(id)]))) << id;
      EXPECT_TRUE(std::isinf(unscored[size_t(id)])) << "another sequence's cache named " << id;
    } else {
      EXPECT_TRUE(std::isinf(scored[size_t(id)])) << id;
    }
  }
  // A draft model's cache asks for the context tokens the classifier leaves out.
  DraftModelCache drafter(cut, 64);
  const std::vector<float>& logits = drafter.sync(prompt);
  for (int32_t token : prompt) EXPECT_FALSE(std::isinf(logits[size_t(token)])) << token;
}

TEST(RestrictedClassifier, RefusesIdsOutsideTheVocabulary) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  EXPECT_THROW(tf.restrict_vocabulary({1, 512}), std::invalid_argument);
  EXPECT_THROW(tf.restrict_vocabulary({-1, 5}), std::invalid_argument);
}

TEST(RestrictedClassifier, GreedyChainDraftingStaysPlainDecoding) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  draft.restrict_vocabulary(first_ids(300));  // about two thirds of the story tokens
  for (const char* text : {"Once upon a time", "Lily and Tom went to the park"}) {
    auto prompt = model->tokenizer().encode(text, true);
    ChainDrafter chain(draft, 4, 512);
    GenerationOptions options;
    options.max_tokens = 100;
    SpeculationStats stats;
    EXPECT_EQ(generate_speculative(target, chain, prompt, options, stats).ids, test::plain_decode(target, prompt, 100))
        << text;
    EXPECT_GT(stats.accepted, 0) << text;
    EXPECT_LT(stats.accepted, stats.drafted) << text;
  }
}

TEST(DraftVocabulary, CountsTheMostFrequentTokensFirst) {
  auto model = Model::load(test::stories_model());
  const Tokenizer& tok = model->tokenizer();
  TokenCounter counter(tok);
  counter.add("the cat saw the dog and the cat ran");
  const std::vector<int32_t> once = tok.encode("the cat saw the dog and the cat ran", false);
  EXPECT_EQ(counter.total(), int64_t(once.size()));
  const std::vector<int32_t> ranked = counter.most_frequent(-1);
  std::map<int32_t, int> counts;
  for (int32_t id : once) ++counts[id];
  EXPECT_EQ(ranked.size(), counts.size());  // ids never seen are left out
  for (size_t i = 1; i < ranked.size(); ++i) {
    const int before = counts[ranked[i - 1]], after = counts[ranked[i]];
    EXPECT_TRUE(before > after || (before == after && ranked[i - 1] < ranked[i])) << i;
  }
  EXPECT_EQ(counter.most_frequent(2), std::vector<int32_t>(ranked.begin(), ranked.begin() + 2));
  // A long text is encoded in pieces cut after newlines: nothing lost or counted twice (a
  // SentencePiece tokenizer's leading space at each piece may change a token or two a piece).
  std::string lines;
  for (int i = 0; i < 4000; ++i) lines += "Lily went to the park with her mom.\n";
  TokenCounter long_counter(tok);
  long_counter.add(lines);
  const double whole = double(tok.encode(lines, false).size());
  EXPECT_NEAR(double(long_counter.total()), whole, 8.0);
}

TEST(DraftVocabulary, ReadsTheTopOfAFileAndAddsTheStopTokens) {
  auto model = Model::load(test::stories_model());
  const Tokenizer& tok = model->tokenizer();
  const std::string path = test::temp_path("vocab");
  write_draft_vocabulary(path, tok, {10, 20, 30, 40}, "a test");
  std::vector<int32_t> expected = {10, 20, 30};
  for (int32_t stop : tok.stop_ids()) expected.push_back(stop);
  ASSERT_FALSE(tok.stop_ids().empty());
  EXPECT_EQ(read_draft_vocabulary(path, tok, 3), expected);
  EXPECT_EQ(read_draft_vocabulary(path, tok, -1).size(), 4 + tok.stop_ids().size());
}

TEST(DraftVocabulary, RefusesFilesThatDoNotFitTheModel) {
  auto model = Model::load(test::stories_model());
  const Tokenizer& tok = model->tokenizer();
  const std::string header = "# tandem draft vocabulary, most frequent first\n";
  const std::string fingerprint = "# vocabulary: " + vocabulary_fingerprint(tok) + "\n";
  auto refused = [&](const std::string& text, const std::string& reason) {
    const std::string path = test::temp_path("bad_vocab");
    std::ofstream(path) << text;
    try {
      read_draft_vocabulary(path, tok, -1);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  };
  refused("1\n2\n", "not a tandem draft vocabulary");
  refused(header + "# vocabulary: 512 tokens:0000000000000000\n1\n", "counted for vocabulary");
  refused(header + "1\n2\n", "names no vocabulary fingerprint");
  refused(header + fingerprint + "1\ntwo\n", "line 4 is not a token id");
  refused(header + fingerprint + "1\n512\n", "line 4 is not a token id");
  refused(header + fingerprint + "-3\n", "line 3 is not a token id");
  refused(header + fingerprint, "holds no token ids");
  try {
    read_draft_vocabulary("/nonexistent/vocab.txt", tok, -1);
    ADD_FAILURE() << "a missing file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no draft vocabulary"), std::string::npos);
  }
}

}  // namespace
}  // namespace tandem
