// A draft model's cache: what it guesses at the tokens it catches up on.
#include "speculation/draft_model_cache.h"

#include <gtest/gtest.h>

#include "kernels/ops.h"
#include "test_helpers.h"

namespace tandem {
namespace {

// Catching up on several tokens in one pass, the cache notes at each one past guess_from()
// the draft model's greedy choice there: what drafting after the tokens before it, one at a
// time, would have given.
TEST(DraftModelCache, GuessesAreItsGreedyChoicesAtTheTokensItCatchesUpOn) {
  auto model = Model::load(test::stories_model());
  auto other = Model::load(test::perturbed_stories());
  Transformer draft(*model, 1), target(*other, 1);
  const auto prompt = model->tokenizer().encode("Once upon a time", true);
  std::vector<int32_t> context = prompt;
  for (int32_t token : test::plain_decode(target, prompt, 40)) context.push_back(token);
  const auto first = std::vector<int32_t>(context.begin(), context.begin() + int64_t(prompt.size()) + 10);

  DraftModelCache cache(draft, 128);
  cache.sync(prompt);
  EXPECT_TRUE(cache.take_guesses().empty());  // none asked for yet
  cache.guess_from(int64_t(prompt.size()));
  cache.sync(first);  // 10 tokens: each guessed, the first from the logits kept after the prompt
  std::vector<Guess> guesses = cache.take_guesses();
  cache.sync(context);  // 30 more: the latest kMaxGuesses guessed
  for (const Guess& g : cache.take_guesses()) guesses.push_back(g);

  std::vector<int64_t> expected_positions;
  for (int64_t p = int64_t(prompt.size()); p < int64_t(first.size()); ++p) expected_positions.push_back(p);
  for (int64_t p = int64_t(context.size()) - DraftModelCache::kMaxGuesses; p < int64_t(context.size()); ++p)
    expected_positions.push_back(p);
  ASSERT_EQ(guesses.size(), expected_positions.size());
  DraftModelCache one_at_a_time(draft, 128);
  int right = 0;
  for (size_t i = 0; i < guesses.size(); ++i) {
    const int64_t p = expected_positions[i];
    EXPECT_EQ(guesses[i].position, p);
    const auto& logits = one_at_a_time.sync(std::vector<int32_t>(context.begin(), context.begin() + p));
    EXPECT_EQ(guesses[i].token, int32_t(argmax(logits.data(), int64_t(logits.size())))) << "position " << p;
    right += guesses[i].token == context[size_t(p)];
  }
  // The two models differ, so the guesses are sometimes the context's tokens and sometimes not.
  EXPECT_GT(right, 0);
  EXPECT_LT(right, int(guesses.size()));
}

}  // namespace
}  // namespace tandem
