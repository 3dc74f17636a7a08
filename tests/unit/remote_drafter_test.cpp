// Drafting in another thread over a data channel, as a drafter process does: output
// identical to plain decoding, and answers from what the drafter drafted ahead while the
// verifier was verifying (a chain past the one sent; a tree after the sent tree's first branch).
#include "runner/remote_drafter.h"

#include <gtest/gtest.h>

#include <thread>

#include "patient_channel.h"
#include "proto/tree_wire.h"
#include "speculation/speculative.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using test::PatientChannel;

struct RemoteRun {
  std::vector<int32_t> ids;
  size_t answered = 0, answered_ahead = 0;
  SpeculationStats stats;
};

RemoteRun run_with_remote_drafter(const std::string& draft_path, const std::string& mode, const std::string& prompt,
                                  const SamplingParams& sampling = {}) {
  auto target_model = Model::load(test::stories_model());
  auto draft_model = Model::load(draft_path);
  Transformer target(*target_model, 1), draft(*draft_model, 1);
  auto [verifier_end, drafter_end] = in_process_channel_pair();
  ModeSettings settings;
  settings.mode = parse_mode(mode);
  DrafterService service(draft, settings, 512);
  std::atomic<bool> stop{false};
  std::thread drafter_thread([&, end = drafter_end.get()] { service.serve(*end, stop); });
  RemoteRun run;
  {
    RemoteDrafterLink link;
    link.channel = std::make_unique<PatientChannel>(std::move(verifier_end), service);
    link.vocab = target_model->config().vocab_size;
    RemoteDrafter drafter(link, 1);
    GenerationOptions options;
    options.max_tokens = 80;
    options.sampling = sampling;
    SpeculationOptions speculation;
    speculation.max_depth = 4;
    run.ids = generate_speculative(target, drafter, target_model->tokenizer().encode(prompt, true), options, run.stats,
                                   {}, speculation)
                  .ids;
    EXPECT_FALSE(link.lost);
  }
  stop = true;
  drafter_thread.join();
  run.answered = service.answered();
  run.answered_ahead = service.answered_ahead();
  return run;
}

std::vector<int32_t> plain(const std::string& prompt) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  GenerationOptions options;
  options.max_tokens = 80;
  return generate_autoregressive(tf, model->tokenizer().encode(prompt, true), options).ids;
}

TEST(RemoteDrafter, SelfDraftingChainIsAnsweredFromTheChainDraftedAhead) {
  RemoteRun run = run_with_remote_drafter(test::stories_model(), "chain", "Once upon a time");
  EXPECT_EQ(run.ids, plain("Once upon a time"));
  EXPECT_EQ(run.stats.accepted, run.stats.drafted);  // the model drafting for itself: all accepted
  // Every answer after the first follows the bet that all was accepted.
  EXPECT_GE(run.answered, 10u);
  EXPECT_EQ(run.answered_ahead + 1, run.answered);
}

TEST(RemoteDrafter, SelfDraftingTreeIsAnsweredFromTheTreeDraftedAhead) {
  RemoteRun run = run_with_remote_drafter(test::stories_model(), "tree", "Once upon a time");
  EXPECT_EQ(run.ids, plain("Once upon a time"));
  // Its first branch is its greedy path, which the target accepts, and the target's bonus
  // token is the drafter's first choice after it: every answer after the first comes from
  // the tree drafted ahead. Such an answer is the part of a tree under one first-level
  // node, which may be shallower than a tree drafted for it alone: most passes keep 4 levels.
  EXPECT_GE(run.answered, 10u);
  EXPECT_EQ(run.answered_ahead + 1, run.answered);
  EXPECT_GE(run.stats.accepted, 3 * run.stats.passes);
  std::printf("tree drafted ahead: %.2f tokens per pass\n", run.stats.tokens_per_pass());
}

TEST(RemoteDrafter, RejectionsFallBackToDraftingOnTheSpot) {
  for (const std::string mode : {"chain", "tree"}) {
    RemoteRun run = run_with_remote_drafter(test::perturbed_stories(), mode, "The little dog");
    EXPECT_EQ(run.ids, plain("The little dog")) << mode;
    EXPECT_LT(run.stats.accepted, run.stats.drafted) << mode;
    EXPECT_GT(run.answered_ahead, 0u) << mode;
    EXPECT_LT(run.answered_ahead + 1, run.answered) << mode;
  }
}

TEST(RemoteDrafter, SampledDraftsCarryTheDraftersDistribution) {
  // The model drafting for itself, sampling with the target's own distribution (top-k 50:
  // the drafter's proposals hold at most 256 tokens): every draft is accepted by p/q = 1,
  // those drafted ahead included, which holds only if q crossed the channel intact.
  for (const std::string mode : {"chain", "tree"}) {
    RemoteRun run = run_with_remote_drafter(test::stories_model(), mode, "Once upon a time", {1.0f, 50, 1.0f, 7});
    EXPECT_GT(run.stats.drafted, 20) << mode;
    EXPECT_GT(run.answered_ahead, 0u) << mode;
    if (mode == "chain") {
      EXPECT_EQ(run.stats.accepted, 4 * run.stats.passes);
      EXPECT_EQ(run.stats.accepted, run.stats.drafted);
    } else {
      // The first branch is accepted to its end every pass (the tree's other nodes are
      // siblings of its nodes, never tried); a subtree drafted ahead may be shallower.
      EXPECT_GE(run.stats.accepted, 3 * run.stats.passes);
    }
  }
}

// One drafter, two verifiers on real ZeroMQ sockets, each asking for its request number 1:
// both are answered, each its own, drafted together in one round and exactly as a drafter
// serving that request alone would draft (chains and trees).
TEST(RemoteDrafter, RequestsOfTwoVerifiersAreDraftedTogetherAsEachAlone) {
  auto draft_model = Model::load(test::perturbed_stories());
  auto tokenizer_model = Model::load(test::stories_model());
  const std::vector<std::vector<int32_t>> contexts = {tokenizer_model->tokenizer().encode("Once upon a time", true),
                                                      tokenizer_model->tokenizer().encode("The little dog ran", true)};
  for (const std::string mode : {"chain", "tree"}) {
    Transformer draft(*draft_model, 1), draft_alone(*draft_model, 1);  // the service drafts ahead on its own
    ModeSettings settings;
    settings.mode = parse_mode(mode);
    DrafterService service(draft, settings, 512);
    std::string endpoint;
    auto drafter_end = zmq_peer_listen("tcp://127.0.0.1:0", 1 << 20, &endpoint);
    std::vector<std::unique_ptr<Channel>> verifiers;
    for (const auto& context : contexts) {
      verifiers.push_back(zmq_channel_connect(endpoint));
      wire::DrafterMessage m;
      wire::DraftRequest& r = *m.mutable_draft();
      r.set_request_id(1);  // the same id from both: the drafter keeps them apart by verifier
      r.set_keep(0);
      for (int32_t t : context) r.add_tokens(t);
      r.set_max_depth(4);
      ASSERT_TRUE(send_message(*verifiers.back(), m));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both requests wait at the drafter
    std::atomic<bool> stop{false};
    std::thread drafter_thread([&] { service.serve(*drafter_end, stop); });
    for (size_t v = 0; v < verifiers.size(); ++v) {
      wire::TokenTree reply;
      ASSERT_TRUE(receive_message(*verifiers[v], reply, std::chrono::milliseconds(10000)));
      TokenTree got = tree_from_wire(reply, draft_model->config().vocab_size);
      TokenTree want = make_drafter(settings, &draft_alone, 512)->draft(contexts[v], 4);
      ASSERT_EQ(got.size(), want.size()) << mode << " verifier " << v;
      EXPECT_GT(got.size(), 2) << mode;
      for (int32_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].token, want[i].token) << mode;
        EXPECT_EQ(got[i].parent, want[i].parent) << mode;
        EXPECT_EQ(got[i].draft_prob, want[i].draft_prob) << mode;  // the same logits, bit for bit
      }
    }
    stop = true;
    drafter_thread.join();
    EXPECT_EQ(service.most_drafted_together(), 2u) << mode;
    EXPECT_EQ(service.live_requests(), 2u) << mode;
  }
}

}  // namespace
}  // namespace tandem
