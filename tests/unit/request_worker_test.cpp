// The request worker driven from several client threads at once (as the ZeroMQ frontend,
// the HTTP gateway and heartbeats do): submits in every mode, cancels racing the work,
// heartbeats. Every request is answered exactly once, greedy answers are exactly plain
// decoding's, and nothing stays live. The TSan build runs this too (scripts/sanitize.sh).
#include "server/request_worker.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "server/sample_group.h"
#include "speculation/generation.h"
#include "test_helpers.h"

namespace tandem {
namespace {

// "cC-R": client C's request R (built without operator+ on a literal, which GCC 12 warns about wrongly).
std::string request_name(int client, int request) {
  std::string name = "c";
  name += std::to_string(client);
  name += '-';
  name += std::to_string(request);
  return name;
}

// What the worker's sink received: the terminal reply (final or error) of each request, counted.
struct Replies {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, wire::ServerMessage> terminal;  // request id -> its final or error
  std::map<std::string, int> terminal_count;

  void take(const wire::ServerMessage& m) {
    if (!m.has_final() && !m.has_error()) return;
    std::lock_guard lock(mutex);
    const std::string id = m.has_final() ? m.final().request_id() : m.error().request_id();
    terminal[id] = m;
    ++terminal_count[id];
    changed.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(120), [&] { return terminal.size() >= n; });
  }
};

TEST(RequestWorker, ConcurrentClientsSubmitAndCancelAndEachRequestIsAnsweredOnce) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 2), draft(*drafter_model, 1), pearl_target(*model, 1), pearl_draft(*drafter_model, 1);
  const std::vector<std::string> prompts = {"Once upon a time", "Lily and Tom went to the park", "The little dog"};
  const int max_tokens = 24;
  std::map<std::string, std::vector<int32_t>> expected;
  for (const std::string& text : prompts) {
    GenerationOptions options;
    options.max_tokens = max_tokens;
    expected[text] =
        generate_autoregressive(target, model->tokenizer().encode(text, model->tokenizer().add_bos()), options).ids;
  }

  Replies replies;
  ServingOptions options;
  options.max_batch = 4;
  {
    RequestWorker worker({&target, &draft, &pearl_target, &pearl_draft}, options,
                         [&](const std::string&, const wire::ServerMessage& m) { replies.take(m); });
    const std::vector<std::string> modes = {"ar", "chain", "tree", "pearl", "lookup", "recycle"};
    const int clients = 4, per_client = 6;
    std::map<std::string, std::string> prompt_of;  // request id -> prompt, written before the threads start
    for (int c = 0; c < clients; ++c)
      for (int r = 0; r < per_client; ++r) prompt_of[request_name(c, r)] = prompts[size_t(c + r) % prompts.size()];
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&, c] {
        const std::string client = "zmq:client-" + std::to_string(c);
        for (int r = 0; r < per_client; ++r) {
          const std::string id = request_name(c, r);
          wire::SubmitRequest request;
          request.set_request_id(id);
          request.set_text(prompt_of.at(id));
          request.set_max_tokens(max_tokens);
          request.set_mode(modes[size_t(c * per_client + r) % modes.size()]);
          request.set_stream(r % 2 == 0);
          worker.submit(client, request);
          worker.heard_from(client);
          if (r % 3 == 2) worker.cancel(client, id);  // races the work: cancelled, or already finished
          (void)worker.live_requests();
          (void)worker.live_clients();
        }
      });
    for (std::thread& t : threads) t.join();
    ASSERT_TRUE(replies.wait_for(size_t(clients * per_client)));
    std::map<std::string, wire::ServerMessage> terminal;
    std::map<std::string, int> terminal_count;
    {
      std::lock_guard lock(replies.mutex);
      terminal = replies.terminal;
      terminal_count = replies.terminal_count;
    }
    int finished = 0;
    for (const auto& [id, count] : terminal_count) EXPECT_EQ(count, 1) << id << " answered more than once";
    for (const auto& [id, prompt] : prompt_of) {
      ASSERT_TRUE(terminal.count(id)) << id << " never answered";
      const wire::ServerMessage& m = terminal.at(id);
      if (m.has_error()) {
        EXPECT_EQ(m.error().code(), wire::CANCELLED) << id << ": " << m.error().message();
        EXPECT_EQ((id.back() - '0') % 3, 2) << id << " failed without being cancelled";
        continue;
      }
      ++finished;
      EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), expected.at(prompt))
          << id << " in mode " << m.final().stats().mode();
    }
    EXPECT_GE(finished, clients * per_client * 2 / 3);
    // Replies are sent before the worker forgets a request: give it a moment to let go.
    for (int i = 0; i < 100 && worker.live_requests() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(worker.live_requests(), 0u);
    EXPECT_EQ(worker.kv_cache_bytes(), 0);
  }
}

// PEARL requests are in the batch: requests sent after them finish first, and with PEARL
// requests most of those decoding, their drafts, drafted ahead on the drafting thread, are
// verified in the passes they share with the others. (Before PEARL joined the batch, each
// PEARL request ran alone to its end and the others waited.)
TEST(RequestWorker, PearlRequestsShareThePassesWithOthers) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 2), draft(*drafter_model, 1), pearl_target(*model, 1), pearl_draft(*drafter_model, 1);
  const std::string pearl_prompt = "Once upon a time", short_prompt = "The little dog",
                    third_prompt = "Lily and Tom went to the park";
  const int pearl_tokens = 160, short_tokens = 16;
  auto plain = [&](const std::string& text, int max_tokens) {
    GenerationOptions options;
    options.max_tokens = max_tokens;
    return generate_autoregressive(target, model->tokenizer().encode(text, model->tokenizer().add_bos()), options).ids;
  };

  std::mutex mutex;
  std::vector<std::string> finished_order;
  std::map<std::string, wire::FinalResult> finals;
  Replies replies;
  ServingOptions options;
  options.max_batch = 5;
  RequestWorker worker({&target, &draft, &pearl_target, &pearl_draft}, options,
                       [&](const std::string&, const wire::ServerMessage& m) {
                         if (m.has_final()) {
                           std::lock_guard lock(mutex);
                           finished_order.push_back(m.final().request_id());
                           finals[m.final().request_id()] = m.final();
                         }
                         replies.take(m);
                       });
  auto submit = [&](const std::string& id, const std::string& text, const std::string& mode, int max_tokens) {
    wire::SubmitRequest request;
    request.set_request_id(id);
    request.set_text(text);
    request.set_mode(mode);
    request.set_max_tokens(max_tokens);
    worker.submit("zmq:client", request);
  };
  submit("pearl", pearl_prompt, "pearl", pearl_tokens);
  submit("pearl-2", short_prompt, "pearl", pearl_tokens);
  submit("pearl-3", third_prompt, "pearl", pearl_tokens);
  submit("ar", short_prompt, "ar", short_tokens);
  submit("chain", short_prompt, "chain", short_tokens);
  ASSERT_TRUE(replies.wait_for(5));

  std::lock_guard lock(mutex);
  ASSERT_EQ(finished_order.size(), 5u) << "a request failed";
  const std::set<std::string> first_two(finished_order.begin(), finished_order.begin() + 2);
  EXPECT_EQ(first_two, (std::set<std::string>{"ar", "chain"})) << "the short requests waited for a PEARL request";
  auto ids = [&](const std::string& id) {
    return std::vector<int32_t>(finals.at(id).ids().begin(), finals.at(id).ids().end());
  };
  EXPECT_EQ(ids("pearl"), plain(pearl_prompt, pearl_tokens));
  EXPECT_EQ(ids("pearl-2"), plain(short_prompt, pearl_tokens));
  EXPECT_EQ(ids("pearl-3"), plain(third_prompt, pearl_tokens));
  EXPECT_EQ(ids("ar"), plain(short_prompt, short_tokens));
  EXPECT_EQ(ids("chain"), plain(short_prompt, short_tokens));
  // Its drafts came from the drafting thread and were verified: more than one token a pass.
  const wire::Statistics& pearl = finals.at("pearl").stats();
  EXPECT_EQ(pearl.mode(), "pearl");
  EXPECT_GT(pearl.accepted_tokens(), 0);
  EXPECT_GT(pearl.tokens_per_pass(), 1.0);
  std::printf("PEARL in the batch: %d drafted, %d accepted, %.2f tokens per pass\n", int(pearl.drafted_tokens()),
              int(pearl.accepted_tokens()), pearl.tokens_per_pass());
}

// --pearl-drafts tree in a server: the batch's drafting thread gives unsure drafts their
// runner-ups as siblings, the verifier checks those trees, and the output stays plain decoding's.
TEST(RequestWorker, PearlTreesInTheBatchCarryRunnerUpsAndMatchPlainDecoding) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), pearl_target(*model, 1), pearl_draft(*drafter_model, 1);
  const std::vector<std::string> prompts = {"Once upon a time", "Lily and Tom went to the park"};
  double drafted_per_pass[2] = {0, 0};  // chain, tree
  for (bool tree : {false, true}) {
    Replies replies;
    ServingOptions options;
    options.defaults.pearl.tree = tree;
    options.defaults.pearl.branch_below = 0.95f;  // nearly every draft counts as unsure
    RequestWorker worker({&target, nullptr, &pearl_target, &pearl_draft}, options,
                         [&](const std::string&, const wire::ServerMessage& m) { replies.take(m); });
    auto id_of = [](size_t i) { return request_name(0, int(i)); };
    for (size_t i = 0; i < prompts.size(); ++i) {
      wire::SubmitRequest request;
      request.set_request_id(id_of(i));
      request.set_text(prompts[i]);
      request.set_mode("pearl");
      request.set_max_tokens(80);
      worker.submit("zmq:client", request);
    }
    ASSERT_TRUE(replies.wait_for(prompts.size()));
    std::lock_guard lock(replies.mutex);
    int64_t drafted = 0, passes = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const wire::ServerMessage& m = replies.terminal.at(id_of(i));
      ASSERT_TRUE(m.has_final()) << m.DebugString();
      GenerationOptions plain;
      plain.max_tokens = 80;
      const auto expected =
          generate_autoregressive(target, model->tokenizer().encode(prompts[i], model->tokenizer().add_bos()), plain);
      EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), expected.ids)
          << (tree ? "tree " : "chain ") << prompts[i];
      drafted += m.final().stats().drafted_tokens();
      passes += m.final().stats().verifier_passes();
    }
    drafted_per_pass[tree] = double(drafted) / double(std::max<int64_t>(passes, 1));
  }
  EXPECT_GT(drafted_per_pass[1], drafted_per_pass[0]) << "no runner-ups were drafted";
  std::printf("PEARL drafts per pass in the batch: chain %.2f, tree %.2f\n", drafted_per_pass[0], drafted_per_pass[1]);
}

// A request for n samples: they decode together from one prefill of the prompt, each is
// exactly what a request with its seed alone gives, and they answer once, together.
TEST(RequestWorker, SamplesOfOnePromptShareItsCacheAndEachIsWhatItsSeedAloneGives) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 2), draft(*drafter_model, 1);
  std::mutex mutex;
  std::map<std::string, std::map<uint32_t, std::vector<int32_t>>> streamed;  // request -> index -> ids
  Replies replies;
  ServingOptions options;
  options.max_batch = 4;
  RequestWorker worker({&target, &draft}, options, [&](const std::string&, const wire::ServerMessage& m) {
    if (m.has_chunk()) {
      std::lock_guard lock(mutex);
      auto& ids = streamed[m.chunk().request_id()][m.chunk().index()];
      ids.insert(ids.end(), m.chunk().ids().begin(), m.chunk().ids().end());
    }
    replies.take(m);
  });
  std::string long_prompt = "Once upon a time, there was a little girl named Lily.";
  for (int i = 0; i < 5; ++i) long_prompt += " She liked to play in the park with her dog and her friends.";
  size_t submitted = 0;
  auto submit = [&](const std::string& id, const std::string& mode, uint32_t n, uint64_t seed, int max_tokens,
                    bool first_finish = false, const std::string& prompt = "") {
    wire::SubmitRequest request;
    request.set_request_id(id);
    request.set_text(prompt.empty() ? long_prompt : prompt);
    request.set_mode(mode);
    request.set_max_tokens(max_tokens);
    request.set_n(n);
    request.set_first_finish(first_finish);
    request.set_stream(true);
    request.mutable_sampling()->set_temperature(1.0f);
    request.mutable_sampling()->set_seed(seed);
    worker.submit("zmq:client", request);
    ++submitted;
    EXPECT_TRUE(replies.wait_for(submitted)) << id;
    std::lock_guard lock(replies.mutex);
    EXPECT_TRUE(replies.terminal.at(id).has_final()) << replies.terminal.at(id).DebugString();
    return replies.terminal.at(id).final();
  };
  auto ids_of = [](const auto& repeated) { return std::vector<int32_t>(repeated.begin(), repeated.end()); };

  for (const std::string mode : {"ar", "chain"}) {
    const wire::FinalResult four = submit(mode + "-n4", mode, 4, 7, 24);
    ASSERT_EQ(four.choices_size(), 4);
    std::set<std::vector<int32_t>> distinct;
    for (const wire::Choice& choice : four.choices()) {
      const uint32_t i = choice.index();
      // Each sample alone, with the seed it drew from: the same tokens.
      const wire::FinalResult alone = submit(mode + "-alone-" + std::to_string(i), mode, 1, sample_seed(7, i), 24);
      EXPECT_EQ(ids_of(choice.ids()), ids_of(alone.ids())) << mode << " sample " << i;
      EXPECT_EQ(choice.text(), alone.text());
      std::lock_guard lock(mutex);
      EXPECT_EQ(streamed[mode + "-n4"][i], ids_of(choice.ids())) << "streamed chunks of sample " << i;
      distinct.insert(ids_of(choice.ids()));
    }
    EXPECT_EQ(distinct.size(), 4u) << "samples drawn from distinct seeds came out the same";
    EXPECT_EQ(ids_of(four.ids()), ids_of(four.choices(0).ids()));
    EXPECT_EQ(four.stats().prompt_tokens(), submit(mode + "-one", mode, 1, 7, 24).stats().prompt_tokens());
    // The prompt's cache is held (and counted) once, each sample adding only its own rows
    // past it: well under four requests' caches.
    const int64_t one_bytes = submit(mode + "-bytes", mode, 1, 7, 24).stats().kv_cache_bytes();
    EXPECT_LT(four.stats().kv_cache_bytes(), 3 * one_bytes) << mode;
    std::printf("%s: n = 4 holds %lld KV bytes, n = 1 %lld\n", mode.c_str(), (long long)four.stats().kv_cache_bytes(),
                (long long)one_bytes);
  }

  // First Finish Search: the sample that needs the fewest passes answers alone, the others stop.
  const wire::FinalResult all = submit("long-n4", "ar", 4, 13, 400, false, "Once upon a time");
  auto passes = [](const wire::Choice& c) { return c.ids_size() + (c.finish_reason() == "stop" ? 1 : 0); };
  uint32_t quickest = 0;
  for (const wire::Choice& c : all.choices())
    if (passes(c) < passes(all.choices(int(quickest)))) quickest = c.index();
  ASSERT_NE(quickest, 0u) << "with this seed another sample should finish first";
  const wire::FinalResult first = submit("ffs", "ar", 4, 13, 400, true, "Once upon a time");
  ASSERT_EQ(first.choices_size(), 1);
  EXPECT_EQ(first.choices(0).index(), quickest);
  EXPECT_EQ(ids_of(first.choices(0).ids()), ids_of(all.choices(int(quickest)).ids()));
  EXPECT_EQ(ids_of(first.ids()), ids_of(first.choices(0).ids()));
  std::printf("first finish: sample %u after %d tokens (the longest took %d)\n", quickest, first.choices(0).ids_size(),
              [&] {
                int most = 0;
                for (const wire::Choice& c : all.choices()) most = std::max(most, c.ids_size());
                return most;
              }());

  // Cancelled: one answer for the request, whatever its samples were doing.
  wire::SubmitRequest request;
  request.set_request_id("cancelled");
  request.set_text(long_prompt);
  request.set_max_tokens(400);
  request.set_n(3);
  request.mutable_sampling()->set_temperature(1.0f);
  worker.submit("zmq:client", request);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  worker.cancel("zmq:client", "cancelled");
  ASSERT_TRUE(replies.wait_for(submitted + 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a second answer would come in this time
  std::lock_guard lock(replies.mutex);
  EXPECT_EQ(replies.terminal_count.at("cancelled"), 1);
  const wire::ServerMessage& answer = replies.terminal.at("cancelled");
  EXPECT_TRUE(answer.has_final() || answer.error().code() == wire::CANCELLED) << answer.DebugString();
  for (const auto& [id, count] : replies.terminal_count) EXPECT_EQ(count, 1) << id;
  EXPECT_EQ(worker.live_requests(), 0u);
}

// Fair admission (issue 27): a request for as many samples as the batch holds, waiting behind a
// long request, does not hold up a short one that fits; a long prompt coming in shares each
// pass's prompt budget with a short one instead of taking it all. Answers stay exactly plain
// decoding's (chunk boundaries never change a token's logits).
TEST(RequestWorker, NeitherManySamplesNorALongPromptHoldUpAShortRequest) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 2);
  auto plain = [&](const std::vector<int32_t>& prompt, int max_tokens) {
    GenerationOptions options;
    options.max_tokens = max_tokens;
    return generate_autoregressive(target, prompt, options).ids;
  };
  std::mutex mutex;
  std::vector<std::string> finished_order;
  std::map<std::string, std::vector<int32_t>> ids;
  Replies replies;
  ServingOptions options;
  options.max_batch = 4;
  options.prefill_chunk = 16;
  RequestWorker worker({&target, nullptr, nullptr, nullptr}, options,
                       [&](const std::string&, const wire::ServerMessage& m) {
                         if (m.has_final()) {
                           std::lock_guard lock(mutex);
                           finished_order.push_back(m.final().request_id());
                           ids[m.final().request_id()].assign(m.final().ids().begin(), m.final().ids().end());
                         }
                         replies.take(m);
                       });
  const std::vector<int32_t> short_prompt = model->tokenizer().encode("Once upon a time", true);
  std::vector<int32_t> long_prompt = {1};
  for (int i = 0; long_prompt.size() < 320; ++i) long_prompt.push_back(int32_t(3 + (i * 37) % 500));
  auto submit = [&](const std::string& id, const std::string& client, const std::vector<int32_t>& prompt,
                    int max_tokens, uint32_t n) {
    wire::SubmitRequest request;
    request.set_request_id(id);
    *request.mutable_ids()->mutable_ids() = {prompt.begin(), prompt.end()};
    request.set_max_tokens(max_tokens);
    request.set_n(n);
    if (n > 1) request.mutable_sampling()->set_temperature(0.8f);
    worker.submit(client, request);
  };
  submit("long", "zmq:@a:1", short_prompt, 400, 1);
  submit("samples", "zmq:@b:1", short_prompt, 150, 4);  // the whole batch: waits for room
  submit("short", "zmq:@c:1", short_prompt, 4, 1);      // fits beside "long"
  ASSERT_TRUE(replies.wait_for(3));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(finished_order.size(), 3u) << "a request failed";
    EXPECT_EQ(finished_order[0], "short") << "the short request waited for the samples' room";
    EXPECT_EQ(ids["short"], plain(short_prompt, 4));
    EXPECT_EQ(ids["long"], plain(short_prompt, 400));
    finished_order.clear();
  }
  // A 320-token prompt comes in 16 tokens a pass alone; a short prompt arriving just after
  // gets half of each pass's budget, so it is answered long before the long one.
  submit("long-prompt", "zmq:@a:1", long_prompt, 2, 1);
  submit("short-prompt", "zmq:@c:1", short_prompt, 2, 1);
  ASSERT_TRUE(replies.wait_for(5));
  std::lock_guard lock(mutex);
  ASSERT_EQ(finished_order.size(), 2u);
  EXPECT_EQ(finished_order[0], "short-prompt") << "the short prompt waited for the long one's prefill";
  EXPECT_EQ(ids["long-prompt"], plain(long_prompt, 2));
  EXPECT_EQ(ids["short-prompt"], plain(short_prompt, 2));
}

}  // namespace
}  // namespace tandem
