#include "speculation/stop_matcher.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace tandem {
namespace {

// Pushes pieces as tokens 0, 1, 2, ... and collects what is released, flushing at the end.
struct Fed {
  std::vector<int32_t> ids;
  std::string text;
  std::vector<std::string> chunks;  // text released at each push (then the flush)
  bool stopped = false;
};

Fed feed(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher matcher(stops);
  Fed fed;
  auto take = [&](const StopMatcher::Released& r) {
    fed.ids.insert(fed.ids.end(), r.ids.begin(), r.ids.end());
    fed.text += r.text;
    fed.chunks.push_back(r.text);
  };
  for (size_t i = 0; i < pieces.size() && !matcher.stopped(); ++i) take(matcher.push(int32_t(i), pieces[i]));
  fed.stopped = matcher.stopped();
  take(matcher.flush());
  return fed;
}

TEST(StopMatcher, WithoutStopsEverythingGoesOutAtOnce) {
  const Fed fed = feed({}, {"Hel", "", "lo"});
  EXPECT_EQ(fed.text, "Hello");
  EXPECT_EQ(fed.ids, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(fed.chunks, (std::vector<std::string>{"Hel", "", "lo", ""}));
  EXPECT_FALSE(fed.stopped);
}

TEST(StopMatcher, StopInsideOneTokenCutsTheTextThere) {
  const Fed fed = feed({"END"}, {"one", " twoENDthree", " four"});
  EXPECT_TRUE(fed.stopped);
  EXPECT_EQ(fed.text, "one two");
  EXPECT_EQ(fed.ids, (std::vector<int32_t>{0, 1}));  // token 1 starts before the stop
}

TEST(StopMatcher, StopAcrossTokensIsHeldBackThenDropped) {
  // "\n\n" split over two tokens: the first "\n" must not reach the client.
  const Fed fed = feed({"\n\n"}, {"a", "\n", "\nb", "c"});
  EXPECT_TRUE(fed.stopped);
  EXPECT_EQ(fed.text, "a");
  EXPECT_EQ(fed.ids, (std::vector<int32_t>{0}));
  EXPECT_EQ(fed.chunks[1], "");  // the lone "\n" was held
}

TEST(StopMatcher, StopAcrossThreeTokens) {
  const Fed fed = feed({"abcd"}, {"xa", "b", "c", "d", "never"});
  EXPECT_TRUE(fed.stopped);
  EXPECT_EQ(fed.text, "x");
  EXPECT_EQ(fed.ids, (std::vector<int32_t>{0}));
}

TEST(StopMatcher, APrefixThatDoesNotCompleteIsReleased) {
  const Fed fed = feed({"\n\n"}, {"a", "\n", "b", "\n"});
  EXPECT_FALSE(fed.stopped);
  EXPECT_EQ(fed.text, "a\nb\n");  // the last "\n" comes out at the flush
  EXPECT_EQ(fed.chunks, (std::vector<std::string>{"a", "", "\nb", "", "\n"}));
  EXPECT_EQ(fed.ids, (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  const Fed fed = feed({"zz", "b"}, {"a", "bzz"});
  EXPECT_EQ(fed.text, "a");
  const Fed overlapping = feed({"bc", "abcd"}, {"xab", "cd"});
  EXPECT_EQ(overlapping.text, "x");  // "abcd" starts first, though "bc" ends first
}

TEST(StopMatcher, StopAtTheVeryStart) {
  const Fed fed = feed({"Q:"}, {"Q", ":", "x"});
  EXPECT_TRUE(fed.stopped);
  EXPECT_EQ(fed.text, "");
  EXPECT_TRUE(fed.ids.empty());
}

TEST(StopMatcher, TokenWithoutTextYetGoesWithTheTextAfterIt) {
  // A token that completes no character (half of a UTF-8 sequence) is released with
  // the text it helps complete; a stop right there drops it too.
  const Fed released = feed({"!"}, {"a", "", "\xc3\xa9", "!"});
  EXPECT_EQ(released.text, "a\xc3\xa9");
  EXPECT_EQ(released.ids, (std::vector<int32_t>{0, 1, 2}));
  const Fed dropped = feed({"\xc3\xa9"}, {"a", "", "\xc3\xa9"});
  EXPECT_EQ(dropped.text, "a");
  EXPECT_EQ(dropped.ids, (std::vector<int32_t>{0}));
}

TEST(StopMatcher, NothingAfterTheStop) {
  StopMatcher matcher({"x"});
  (void)matcher.push(0, "ax");
  EXPECT_TRUE(matcher.stopped());
  const StopMatcher::Released later = matcher.push(1, "more");
  EXPECT_TRUE(later.ids.empty());
  EXPECT_TRUE(later.text.empty());
  EXPECT_TRUE(matcher.flush("tail").text.empty());
}

TEST(StopMatcher, LimitsAreChecked) {
  EXPECT_NO_THROW(check_stop_sequences({}));
  EXPECT_NO_THROW(check_stop_sequences({"a", std::string(kMaxStopBytes, 'b')}));
  EXPECT_THROW(check_stop_sequences({""}), std::invalid_argument);
  EXPECT_THROW(check_stop_sequences({std::string(kMaxStopBytes + 1, 'b')}), std::invalid_argument);
  EXPECT_THROW(check_stop_sequences(std::vector<std::string>(kMaxStopSequences + 1, "s")), std::invalid_argument);
}

}  // namespace
}  // namespace tandem
