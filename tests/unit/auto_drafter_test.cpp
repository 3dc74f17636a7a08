// Mode auto: its output is plain decoding's, it drafts with the drafter that is accepted and
// as deep as pays, and in a compute-bound batch it stops drafting what it drafts alone.
#include "speculation/auto_drafter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <utility>

#include "speculation/mode.h"
#include "test_helpers.h"

namespace tandem {
namespace {

TEST(AutoDrafter, GreedyOutputIsPlainDecodingsWithAndWithoutADraftModel) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  for (const char* text : {"Once upon a time", "Lily and Tom went to the park"}) {
    auto prompt = model->tokenizer().encode(text, true);
    auto ar = test::plain_decode(target, prompt, 120);
    for (Transformer* drafter : {&draft, static_cast<Transformer*>(nullptr)}) {
      ModeSettings settings;
      settings.mode = Mode::automatic;
      // Priced by the model alone: timed, auto may rightly find that drafting does not pay
      // next to this tiny model's step (under the sanitizers drafting is slowed most), and
      // this test is about the output, with some speculation to check it on.
      settings.auto_timed = false;
      GenerationOptions options;
      options.max_tokens = 120;
      SpeculationStats stats;
      EXPECT_EQ(generate_in_mode(settings, target, drafter, prompt, options, stats).ids, ar)
          << text << (drafter ? " with" : " without") << " a draft model";
      EXPECT_GT(stats.accepted, 0) << text;  // it did speculate, and some of it held
      // Every pass is counted once, under what drafted it.
      int64_t counted = 0;
      for (const auto& [name, passes] : stats.auto_passes) counted += passes;
      EXPECT_EQ(counted, stats.passes) << text;
    }
  }
}

// Which drafts a sampled request would see under auto depends on its batch and on what the
// process saw before; so it decodes plainly, and a seed gives plain decoding's sample.
TEST(AutoDrafter, ASampledRequestGivesPlainDecodingsSampleForItsSeed) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1), draft(*model, 1);
  auto prompt = model->tokenizer().encode("Once upon a time", true);
  GenerationOptions options;
  options.max_tokens = 60;
  options.sampling.temperature = 0.9f;
  options.sampling.seed = 11;
  const auto ar = generate_autoregressive(target, prompt, options).ids;
  ModeSettings settings;
  settings.mode = Mode::automatic;
  SpeculationStats stats;
  EXPECT_EQ(generate_in_mode(settings, target, &draft, prompt, options, stats).ids, ar);
  ASSERT_EQ(stats.auto_passes.size(), 1u);  // every pass after the prefill's token plain
  EXPECT_EQ(stats.auto_passes[0], std::make_pair(std::string("ar"), int64_t(ar.size()) - 1));
}

// The token at position p of a sequence that repeats every 8 tokens, in which every
// `novel_every`-th token (0: none) is new instead.
int32_t truth(int64_t p, int novel_every) {
  if (novel_every > 0 && p % novel_every == 0) return int32_t(1000 + p);
  return int32_t(1 + p % 8);
}

// One pass as a verifier would run it on `tree`: the drafted path that follows `truth` is
// accepted into `context`, then the truth's next token is added. Returns the accepted drafts.
int verify_against(const TokenTree& tree, std::vector<int32_t>& context,
                   const std::function<int32_t(int64_t)>& truth_at) {
  int accepted = 0;
  for (int32_t parent = -1;;) {
    int32_t next = -1;
    for (int32_t child : tree.children(parent))
      if (tree[child].token == truth_at(int64_t(context.size()))) next = child;
    if (next < 0) break;
    context.push_back(tree[next].token);
    ++accepted;
    parent = next;
  }
  context.push_back(truth_at(int64_t(context.size())));
  return accepted;
}

// Drives `drafter` for `passes` passes as a verifier would (verify_against).
// `after_draft`, when given, sees each pass's tree before it is verified.
std::map<std::string, int64_t> drive(AutoDrafter& drafter, int passes, int* deepest, int novel_every = 0,
                                     const std::function<void(const TokenTree&)>& after_draft = {}) {
  std::vector<int32_t> context;
  for (int64_t p = 0; p < 20; ++p) context.push_back(truth(p, novel_every));
  *deepest = 0;
  for (int pass = 0; pass < passes; ++pass) {
    TokenTree tree = drafter.draft(context, 16);
    if (after_draft) after_draft(tree);
    drafter.learn(tree.depth(), verify_against(tree, context, [&](int64_t p) { return truth(p, novel_every); }));
    *deepest = std::max(*deepest, tree.depth());
  }
  std::map<std::string, int64_t> counts;
  for (const auto& [name, n] : drafter.choices()) counts[name] = n;
  return counts;
}

// Without `recent`, every candidate starts from the even prior; without `times`, the
// model's prices hold.
AutoDrafter lookup_and_recycle(const std::atomic<int64_t>* pass_rows, RecentAcceptance* recent = nullptr,
                               PassTimes* times = nullptr) {
  std::vector<AutoCandidate> candidates;
  candidates.push_back({"lookup", std::make_unique<PromptLookupDrafter>(3, 16), 16});
  candidates.push_back({"recycle", std::make_unique<RecyclingDrafter>(2, 5), 5});
  return AutoDrafter(std::move(candidates), PassCost::measured(), pass_rows, recent, times);
}

TEST(AutoDrafter, TakesTheDrafterThatIsAcceptedAndDraftsDeep) {
  std::atomic<int64_t> rows{1};  // alone in its passes
  AutoDrafter drafter = lookup_and_recycle(&rows);
  int deepest = 0;
  auto counts = drive(drafter, 40, &deepest);
  EXPECT_GE(counts["lookup"], 35);
  EXPECT_GE(deepest, 8);  // everything is accepted: deep drafts pay on a flat cost curve
}

// Drafts of which about half hold: alone in its passes they pay (the pass streams the
// weights either way); among 63 other rows, where each drafted token costs its full share
// of a compute-bound pass, they do not.
TEST(AutoDrafter, DraftsAloneWhatItNoLongerDraftsInAComputeBoundBatch) {
  std::atomic<int64_t> alone{1}, crowded{64};
  AutoDrafter by_itself = lookup_and_recycle(&alone), in_batch = lookup_and_recycle(&crowded);
  int deepest = 0;
  auto a = drive(by_itself, 80, &deepest, 3), b = drive(in_batch, 80, &deepest, 3);
  EXPECT_GE(a["lookup"] + a["recycle"], 30);
  EXPECT_GE(b["ar"], 76);
}

// Drafts of which about half hold pay alone by the model's prices. On a machine whose
// passes are timed (a clock the test moves: a plain pass takes 10 ms and each drafted row
// `per_row` more), auto drafts as much as by the model where the rows cost about what the
// model says, and next to nothing where each costs two plain passes.
TEST(AutoDrafter, PricesDraftingByWhatItsTimedPassesCost) {
  auto drafting_passes = [](double per_row, bool timed) {
    double now = 0;
    PassTimes times([&now] { return now; });
    std::atomic<int64_t> alone{1};
    AutoDrafter drafter = lookup_and_recycle(&alone, nullptr, timed ? &times : nullptr);
    int deepest = 0;
    auto counts =
        drive(drafter, 200, &deepest, 3, [&](const TokenTree& tree) { now += 0.010 + per_row * tree.size(); });
    return counts["lookup"] + counts["recycle"];
  };
  const int64_t by_model = drafting_passes(0.020, false);
  EXPECT_GE(by_model, 80);  // the model alone would keep drafting
  EXPECT_GE(drafting_passes(0.0002, true), by_model - 200 / PassTimes::kStepEvery);
  EXPECT_LE(drafting_passes(0.020, true), 20);
}

// Where every draft holds, a plain pass gives up much: the step is timed only as often as
// it must be (after PassTimes::kStepAtLatest passes), besides the process's first four.
TEST(AutoDrafter, TimesTheStepOnlyAsOftenAsItMustWhereDraftsPayWell) {
  double now = 0;
  PassTimes times([&now] { return now; });
  std::atomic<int64_t> alone{1};
  AutoDrafter drafter = lookup_and_recycle(&alone, nullptr, &times);
  int deepest = 0;
  auto counts = drive(drafter, 200, &deepest, 0, [&](const TokenTree& tree) { now += 0.010 + 0.0002 * tree.size(); });
  EXPECT_GE(counts["ar"], PassTimes::kMinSamples);
  EXPECT_LE(counts["ar"], PassTimes::kMinSamples + 200 / PassTimes::kStepAtLatest + 1);
}

// Plain passes alone come now and then to time the step, and a drafter not timed for a
// while is priced by the model again, to be measured anew.
TEST(PassTimes, TimesTheStepNowAndThenAndForgetsWhatItHasNotSeenForAWhile) {
  PassTimes times([] { return 0.0; });
  for (int i = 0; i < PassTimes::kMinSamples; ++i) {
    EXPECT_EQ(times.begin_pass_alone(), PassTimes::kStepAtLatest);  // not timed enough yet: now
    times.add_step(0.010);
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(times.begin_pass_alone(), i);  // passes since
  EXPECT_DOUBLE_EQ(times.scale("chain"), 1.0);                          // nothing drafted timed yet
  for (int i = 0; i < PassTimes::kMinSamples; ++i) times.add_pass("chain", 2.0, 0.030);
  EXPECT_NEAR(times.scale("chain"), 2.0, 1e-9);  // 2 steps more against the model's 1
  times.add_pass("chain", 2.0, 1.0);             // held up by something else: counts as 3x the average
  EXPECT_NEAR(times.scale("chain"), (0.8 * 0.030 + 0.2 * 0.090) / 0.010 - 1.0, 1e-9);
  for (int i = 0; i < 30; ++i) times.add_pass("chain", 2.0, 0.030);  // and is soon outweighed
  EXPECT_NEAR(times.scale("chain"), 2.0, 1e-2);
  for (int i = 0; i <= PassTimes::kForgetAfter; ++i) times.begin_pass_alone();
  EXPECT_DOUBLE_EQ(times.scale("chain"), 1.0);
  times.add_pass("chain", 2.0, 0.015);  // and measured anew from scratch
  EXPECT_DOUBLE_EQ(times.scale("chain"), 1.0);
  for (int i = 1; i < PassTimes::kMinSamples; ++i) times.add_pass("chain", 2.0, 0.015);
  EXPECT_NEAR(times.scale("chain"), 0.5, 1e-9);
}

// A drafter's passes count in steps as timed by then: when the step gets faster, a drafter
// not timed since keeps its measured ratio (its old seconds over the new step would price
// it out: seen as a scale going from 1.07 to 1.95 in a trace), and passes timed before the
// step was known count for nothing.
TEST(PassTimes, ADrafterKeepsTheRatioItWasTimedAtWhenTheStepChanges) {
  PassTimes times([] { return 0.0; });
  times.add_pass("chain", 2.0, 0.030);  // no step timed yet: dropped
  for (int i = 0; i < PassTimes::kMinSamples; ++i) times.add_step(0.010);
  for (int i = 0; i < PassTimes::kMinSamples - 1; ++i) times.add_pass("chain", 2.0, 0.030);
  EXPECT_DOUBLE_EQ(times.scale("chain"), 1.0);  // the first pass did not count
  times.add_pass("chain", 2.0, 0.030);
  EXPECT_NEAR(times.scale("chain"), 2.0, 1e-9);
  for (int i = 0; i < 10; ++i) times.add_step(0.005);  // the memory got faster
  EXPECT_NEAR(times.step_seconds(), 0.005, 1e-5);
  EXPECT_NEAR(times.scale("chain"), 2.0, 1e-9);
  for (int i = 0; i < 20; ++i) times.add_pass("chain", 2.0, 0.025);  // and drafting costs 5 steps now
  EXPECT_NEAR(times.scale("chain"), 4.0, 0.1);
}

TEST(AutoDrafter, ANewRequestStartsFromWhatEarlierOnesSaw) {
  std::atomic<int64_t> rows{1};
  int fresh_depth = 0, informed_depth = 0;
  AutoDrafter fresh = lookup_and_recycle(&rows);
  drive(fresh, 1, &fresh_depth);
  RecentAcceptance recent;
  EXPECT_DOUBLE_EQ(recent.of("lookup"), 0.5);
  for (int i = 0; i < 10; ++i) recent.add("lookup", 8, 8);
  EXPECT_GT(recent.of("lookup"), 0.9);
  AutoDrafter informed = lookup_and_recycle(&rows, &recent);
  drive(informed, 1, &informed_depth);
  EXPECT_GT(informed_depth, fresh_depth);  // its first pass already drafts deep
  const double before = recent.of("lookup");
  drive(informed, 5, &informed_depth);  // and its passes teach the next request
  EXPECT_GT(recent.of("lookup"), before);
}

TEST(RecentAcceptance, ACopySetBackRestoresTheEstimatesAndWhenToMeasure) {
  RecentAcceptance recent;
  recent.add("lookup", 8, 8);
  EXPECT_TRUE(recent.due_for_trial("chain"));  // nothing measured yet: this request measures
  const RecentAcceptance saved = recent;
  for (int i = 0; i < 10; ++i) recent.add("lookup", 8, 0);
  for (int r = 0; r < RecentAcceptance::kRemeasureAfter; ++r) EXPECT_FALSE(recent.due_for_trial("chain"));
  EXPECT_LT(recent.of("lookup"), saved.of("lookup"));
  recent = saved;
  EXPECT_DOUBLE_EQ(recent.of("lookup"), saved.of("lookup"));
  EXPECT_FALSE(recent.due_for_trial("chain"));  // the count of requests since starts again too
}

// A draft model costs a step a token, so it is not tried at random; instead one request
// in kRemeasureAfter drafts with it at full depth for its first passes, so the process's
// estimate is a recent measurement.
TEST(AutoDrafter, OneRequestInSoManyMeasuresTheDraftModelAtFullDepth) {
  auto model = Model::load(test::stories_model());
  Transformer draft(*model, 1);
  const auto prompt = model->tokenizer().encode("Once upon a time", true);
  RecentAcceptance recent;
  auto request = [&] {
    std::vector<AutoCandidate> candidates;
    candidates.push_back({"chain", std::make_unique<ChainDrafter>(draft, 4, 256), 4, 0.4, 32, 0.03});
    auto drafter =
        std::make_unique<AutoDrafter>(std::move(candidates), PassCost::measured(), nullptr, &recent, nullptr);
    drafter->expect_remaining(100);
    return drafter;
  };
  auto first = request();
  std::vector<int32_t> context = prompt;
  for (int pass = 0; pass < AutoDrafter::kTrialPasses; ++pass) {
    const TokenTree tree = first->draft(context, 16);
    EXPECT_EQ(tree.depth(), 4) << "pass " << pass;
    first->learn(tree.depth(), 0);  // say none of it held
    context.push_back(7);
  }
  EXPECT_TRUE(first->draft(context, 16).empty());  // measured, and it does not pay
  EXPECT_LT(recent.of("chain"), 0.2);
  // The next requests start from that measurement and do not measure it again...
  for (int r = 0; r < RecentAcceptance::kRemeasureAfter; ++r) EXPECT_TRUE(request()->draft(prompt, 16).empty());
  // ...until one does.
  EXPECT_EQ(request()->draft(prompt, 16).depth(), 4);
}

// Drafts a sequence's truth (drive()'s, unless given), but must first run every context
// token it has not seen (as a draft model must).
class CatchingUpDrafter : public Drafter {
 public:
  explicit CatchingUpDrafter(std::function<int32_t(int64_t)> truth_at = [](int64_t p) { return truth(p, 0); })
      : truth_at_(std::move(truth_at)) {}
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override {
    seen_ = context.size();
    TokenTree tree;
    for (int32_t d = 0, parent = -1; d < max_depth; ++d)
      parent = tree.add(truth_at_(int64_t(context.size()) + d), parent, 1.0f);
    return tree;
  }
  int64_t unseen_tokens(const std::vector<int32_t>& context) const override { return int64_t(context.size() - seen_); }

 private:
  std::function<int32_t(int64_t)> truth_at_;
  size_t seen_ = 0;
};

// The first pass (of 60) in which a well-accepted drafter drafts, when catching up with
// the context costs `catch_up_cost` target steps a token and the request may run long.
int first_drafted_pass(double catch_up_cost) {
  RecentAcceptance recent;
  for (int i = 0; i < 20; ++i) recent.add("chain", 4, 4);
  std::vector<AutoCandidate> candidates;
  candidates.push_back({"chain", std::make_unique<CatchingUpDrafter>(), 4, 0.2, 32, catch_up_cost});
  AutoDrafter drafter(std::move(candidates), PassCost::measured(), nullptr, &recent, nullptr);
  int pass = 0, first = -1, deepest = 0;
  drive(drafter, 60, &deepest, 0, [&](const TokenTree& tree) {
    if (first < 0 && !tree.empty()) first = pass;
    ++pass;
  });
  return first;
}

// Answers often stop long before the request's limit, so a drafter that owes more than a
// small share of a short answer does not catch up on the first pass however high the limit;
// it does once not drafting with it has lost the request as much as catching up costs.
TEST(AutoDrafter, CatchesUpALongContextOnlyOnceNotDraftingHasCostAsMuch) {
  EXPECT_EQ(first_drafted_pass(0.1), 0);  // 20 tokens, 2 steps owed: within 5 % of 64 tokens
  // 5 steps owed, plus a quarter step for each token since; a plain pass loses about 0.6
  // steps a token against this drafter, so about 15 passes pass first.
  const int first = first_drafted_pass(0.25);
  EXPECT_GE(first, 10);
  EXPECT_LE(first, 25);
}

// A sequence that repeats every 8 tokens up to position `copied`, and is new after it.
int32_t copied_then_new(int64_t p, int64_t copied) { return p < copied ? int32_t(1 + p % 8) : int32_t(1000 + p); }

// While prompt lookup copies long runs it does better than the draft model would, so the
// draft model, fallen behind, is not caught up; once the copying stops, plain passes lose
// to it and it is caught up within a few of them.
TEST(AutoDrafter, CatchesUpOnlyOncePromptLookupStopsDoingBetter) {
  constexpr int64_t kCopied = 300;
  RecentAcceptance recent;
  for (int i = 0; i < 20; ++i) recent.add("chain", 4, 4);
  std::vector<AutoCandidate> candidates;
  candidates.push_back({"lookup", std::make_unique<PromptLookupDrafter>(3, 16), 16});
  const auto truth_at = [](int64_t p) { return copied_then_new(p, kCopied); };
  candidates.push_back({"chain", std::make_unique<CatchingUpDrafter>(truth_at), 4, 0.2, 32, 0.02});
  AutoDrafter drafter(std::move(candidates), PassCost::measured(), nullptr, &recent, nullptr);
  std::vector<int32_t> context;
  for (int64_t p = 0; p < 20; ++p) context.push_back(truth_at(p));
  std::vector<int64_t> chain_drafted_at;  // context sizes of its passes
  while (context.size() < size_t(kCopied) + 60) {
    const TokenTree tree = drafter.draft(context, 16);
    if (drafter.latest_choice() == "chain") chain_drafted_at.push_back(int64_t(context.size()));
    drafter.learn(tree.depth(), verify_against(tree, context, truth_at));
  }
  // Not while the copying ran long (it owed too much by then: 0.02 steps a token unseen)...
  for (int64_t at : chain_drafted_at) EXPECT_FALSE(at > 100 && at <= kCopied) << "drafted at " << at;
  // ...but soon after it stopped.
  ASSERT_FALSE(chain_drafted_at.empty());
  EXPECT_GT(chain_drafted_at.back(), kCopied);
  const auto first_after =
      std::find_if(chain_drafted_at.begin(), chain_drafted_at.end(), [](int64_t at) { return at > kCopied; });
  EXPECT_LE(*first_after, kCopied + 20);
}

// A draft model that drafts nothing but, like DraftModelCache, notes its guess at each
// token it catches up on from guess_from() on: drive()'s repeating sequence, or, when
// `wrong`, always a token it never holds.
class GuessingDrafter : public Drafter {
 public:
  explicit GuessingDrafter(bool wrong) : wrong_(wrong) {}
  TokenTree draft(const std::vector<int32_t>& context, int /*max_depth*/) override {
    for (int64_t p = std::max<int64_t>(from_, seen_); p < int64_t(context.size()); ++p)
      guesses_.push_back({p, wrong_ ? 999 : truth(p, 0)});
    seen_ = int64_t(context.size());
    return TokenTree();
  }
  int64_t unseen_tokens(const std::vector<int32_t>& context) const override { return int64_t(context.size()) - seen_; }
  void guess_from(int64_t position) override { from_ = position; }
  std::vector<Guess> take_guesses() override { return std::exchange(guesses_, {}); }

 private:
  bool wrong_;
  int64_t from_ = INT64_MAX, seen_ = 0;
  std::vector<Guess> guesses_;
};

// Prompt lookup drafts the whole repeating sequence, so the draft model drafts no pass; what
// it would have drafted is still scored, from its guesses when it catches up.
TEST(AutoDrafter, ScoresTheDraftModelOnWhatItWouldHaveDraftedWhereLookupDrafted) {
  for (bool wrong : {false, true}) {
    RecentAcceptance recent;
    std::vector<AutoCandidate> candidates;
    candidates.push_back({"lookup", std::make_unique<PromptLookupDrafter>(3, 16), 16});
    candidates.push_back({"chain", std::make_unique<GuessingDrafter>(wrong), 4, 0.2, 8, 0.001});
    AutoDrafter drafter(std::move(candidates), PassCost::measured(), nullptr, &recent, nullptr);
    int deepest = 0;
    const auto passes = drive(drafter, 40, &deepest);
    EXPECT_EQ(passes.at("chain"), 0);
    EXPECT_GT(passes.at("lookup"), 30);
    if (wrong)
      EXPECT_LT(recent.of("chain"), 0.1);
    else
      EXPECT_GT(recent.of("chain"), 0.9);
  }
}

TEST(AutoDrafter, RefusesACandidateWithoutADrafter) {
  std::vector<AutoCandidate> candidates;
  candidates.push_back({"lookup", nullptr, 4});
  EXPECT_THROW(AutoDrafter(std::move(candidates), PassCost::measured(), nullptr, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace tandem
