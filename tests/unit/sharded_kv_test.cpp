// Sequence parallelism: a request whose committed segments live on 1, 2 or 3 KV
// shards (in-process channels, the same messages as shard processes) gives the
// very same greedy ids as one node in every mode, with segments of 4 positions
// so a short story spans many segments, trees are verified across segment
// boundaries and commits cross into segments of other shards. And the shard
// refuses what it should.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "shards/local_kv_shards.h"
#include "shards/shard_pool.h"
#include "speculation/mode.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using namespace std::chrono_literals;

constexpr int kSegment = 4;

struct Pair {
  std::unique_ptr<Model> target_model = Model::load(test::stories_model());
  std::unique_ptr<Model> draft_model = Model::load(test::perturbed_stories());
  Transformer target{*target_model, 1, kSegment}, draft{*draft_model, 1, kSegment};
};

// Stores and releases are one-way messages: waits (up to 5 s) until the shards have
// handled them and `done` holds.
bool settles(const LocalKvShards& local, const std::function<bool(const std::vector<KvShardStats>&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done(local.stats()) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  return done(local.stats());
}

GenerationResult run_mode(Pair& pair, const std::string& mode, const std::vector<int32_t>& prompt,
                          RemoteKvFactory remote) {
  ModeSettings settings;
  settings.mode = parse_mode(mode);
  GenerationOptions options;
  options.max_tokens = 60;
  options.max_context = 256;
  options.prefill_chunk = 7;  // prompt chunks that end inside segments
  options.kv_remote = std::move(remote);
  SpeculationStats stats;
  Transformer* draft = needs_draft_model(settings.mode) ? &pair.draft : nullptr;
  return generate_in_mode(settings, pair.target, draft, prompt, options, stats);
}

TEST(ShardedKv, GreedyIdsEqualOneNodeInEveryModeForOneTwoAndThreeShards) {
  Pair pair;
  const auto prompt = pair.target_model->tokenizer().encode("Lily and Tom went to the park and saw", true);
  for (const Mode each : all_modes()) {
    const std::string mode = mode_name(each);
    const GenerationResult alone = run_mode(pair, mode, prompt, {});
    ASSERT_EQ(alone.ids.size(), 60u) << mode;
    for (int shards : {1, 2, 3}) {
      LocalKvShards local(shards, 1);
      const GenerationResult sharded =
          run_mode(pair, mode, prompt, sharded_kv_factory(local.links(), pair.target_model->config(), kSegment, 5s));
      EXPECT_EQ(sharded.ids, alone.ids) << mode << " with " << shards << " shards";
      // The finished request released its segments; nothing was refused.
      EXPECT_TRUE(settles(local, [](const auto& stats) {
        for (const KvShardStats& s : stats)
          if (s.requests != 0 || s.bytes != 0) return false;
        return true;
      })) << mode;
      for (const KvShardStats& s : local.stats()) EXPECT_EQ(s.rejected, 0) << mode;
    }
  }
}

TEST(ShardedKv, AShardLostMidRequestIsRebuiltOnTheOthersAndTheIdsStayTheSame) {
  Pair pair;
  const auto prompt = pair.target_model->tokenizer().encode("The little dog ran to the big tree", true);
  for (const std::string& mode : {std::string("ar"), std::string("chain"), std::string("pearl")}) {
    const GenerationResult alone = run_mode(pair, mode, prompt, {});
    LocalKvShards local(3, 1);
    ModeSettings settings;
    settings.mode = parse_mode(mode);
    GenerationOptions options;
    options.max_tokens = 60;
    options.max_context = 256;
    options.kv_remote = sharded_kv_factory(local.links(), pair.target_model->config(), kSegment, 300ms);
    SpeculationStats stats;
    int emitted = 0;
    GenerationResult result =
        generate_in_mode(settings, pair.target, needs_draft_model(settings.mode) ? &pair.draft : nullptr, prompt,
                         options, stats, [&](int32_t) {
                           if (++emitted == 20) local.kill(1);  // mid-request, its segments lost with it
                         });
    EXPECT_EQ(result.ids, alone.ids) << mode;
    EXPECT_TRUE(local.links()[1]->failed()) << mode;
    EXPECT_FALSE(local.links()[0]->failed()) << mode;
  }
}

TEST(ShardedKv, WithEveryShardLostTheRequestEndsWithAClearError) {
  Pair pair;
  LocalKvShards local(2, 1);
  GenerationOptions options;
  options.max_tokens = 60;
  options.max_context = 256;
  options.kv_remote = sharded_kv_factory(local.links(), pair.target_model->config(), kSegment, 200ms);
  const auto prompt = pair.target_model->tokenizer().encode("Once upon a time", true);
  int emitted = 0;
  try {
    generate_autoregressive(pair.target, prompt, options, [&](int32_t) {
      if (++emitted == 10) {
        local.kill(0);
        local.kill(1);
      }
    });
    FAIL() << "the request went on without any shard";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no KV shard is left"), std::string::npos) << e.what();
  }
  EXPECT_THROW(options.kv_remote(256), std::runtime_error);  // later requests hear it at once
}

TEST(ShardedKv, SegmentsSpreadOverTheShardsWhileARequestRuns) {
  Pair pair;
  LocalKvShards local(2, 1);
  auto factory = sharded_kv_factory(local.links(), pair.target_model->config(), kSegment, 5s);
  KvCache cache(pair.target_model->config(), 256, factory(256));
  const auto prompt = pair.target_model->tokenizer().encode("Once upon a time there was a little girl", true);
  KvCache* caches[] = {&cache};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt.size(); ++i) batch.push_back({prompt[i], 0, int64_t(i), int32_t(i) - 1, false});
  pair.target.forward(batch, caches);
  cache.commit_all();
  const int64_t full = int64_t(prompt.size()) / kSegment;
  EXPECT_EQ(cache.base(), full * kSegment);
  // The verifier keeps only the open segment's rows.
  EXPECT_EQ(cache.bytes_used(),
            size_t(cache.length() - cache.base()) * 2 * 4 *
                size_t(pair.target_model->config().kv_dim() * pair.target_model->config().n_layers));
  EXPECT_TRUE(settles(local, [&](const auto& s) { return s[0].segments + s[1].segments == full; }));
  const auto stats = local.stats();
  EXPECT_EQ(stats[0].segments + stats[1].segments, full);
  EXPECT_EQ(stats[0].segments, (full + 1) / 2);  // segments 0, 2, 4, ... on shard 0
  EXPECT_EQ(stats[0].requests, 1);
  EXPECT_THROW(cache.truncate(cache.base() - 1), std::out_of_range);  // those positions are on the shards
}

class ShardMessages : public ::testing::Test {
 protected:
  KvShard shard{KvShardLimits{1 << 20, 2, 64, 1 << 20}, 1};

  std::optional<wire::ShardReply> send(const wire::ShardRequest& m, const std::string& peer = "verifier-a") {
    auto reply = shard.handle(peer, m.SerializeAsString());
    if (!reply) return std::nullopt;
    wire::ShardReply r;
    EXPECT_TRUE(r.ParseFromString(*reply));
    return r;
  }
  static wire::ShardRequest open(uint64_t id, uint32_t layers = 2, uint32_t segment = 4) {
    wire::ShardRequest m;
    auto& o = *m.mutable_open();
    o.set_request_id(id);
    o.set_n_layers(layers);
    o.set_n_heads(4);
    o.set_n_kv_heads(2);
    o.set_head_dim(16);
    o.set_segment(segment);
    o.set_scale(0.25f);
    return m;
  }
  static wire::ShardRequest store(uint64_t id, int64_t first, size_t bytes) {
    wire::ShardRequest m;
    m.mutable_store()->set_request_id(id);
    m.mutable_store()->set_first(first);
    m.mutable_store()->mutable_keys()->assign(bytes, '\0');
    m.mutable_store()->mutable_values()->assign(bytes, '\0');
    return m;
  }
  static wire::ShardRequest attend(uint64_t id, int64_t first, int64_t end, size_t q_bytes) {
    wire::ShardRequest m;
    auto& a = *m.mutable_attend();
    a.set_request_id(id);
    a.set_layer(1);
    a.set_sequence(7);
    a.add_first(first);
    a.add_end(end);
    a.mutable_q()->assign(q_bytes, '\0');
    return m;
  }
};

TEST_F(ShardMessages, AnswersTheSegmentsItHoldsAndRefusesBadInput) {
  const size_t segment_bytes = 2 * 4 * 32 * 4;  // layers × positions × kv_dim × float
  send(open(1));
  send(store(1, 0, segment_bytes));
  send(store(1, 8, segment_bytes));  // segment 2: this shard holds 0 and 2
  auto reply = send(attend(1, 2, 12, 4 * 16 * 4));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->error(), "");
  EXPECT_EQ(reply->sequence(), 7u);
  ASSERT_EQ(reply->segments_size(), 2);
  EXPECT_EQ(reply->segments(0), 0);
  EXPECT_EQ(reply->segments(1), 2);
  EXPECT_EQ(reply->partials().size(), 2u * 4 * 18 * 4);

  // Garbage, unknown requests and wrong sizes: errors, nothing allocated, nothing lost.
  EXPECT_FALSE(shard.handle("verifier-a", "not a protobuf \xff\xff"));
  EXPECT_NE(send(attend(99, 0, 4, 4 * 16 * 4))->error(), "");
  EXPECT_NE(send(attend(1, 0, 4, 3))->error(), "");  // q of the wrong size
  send(open(2, 2000));                               // impossible shape: refused
  EXPECT_NE(send(attend(2, 0, 4, 4 * 16 * 4))->error(), "");
  send(open(3, 2, 1 << 15));  // a shape the shard accepts, but its segments...
  send(store(3, 0, 12));      // ...must come whole
  EXPECT_NE(send(attend(3, 0, 4, 4 * 16 * 4))->error(), "");
  send(open(4));  // over the limit of 2 open requests
  EXPECT_EQ(shard.stats().requests, 2);
  EXPECT_GE(shard.stats().rejected, 6);

  // The good request is untouched; releasing it frees its memory.
  reply = send(attend(1, 0, 12, 4 * 16 * 4));
  EXPECT_EQ(reply->error(), "");
  EXPECT_EQ(reply->segments_size(), 2);
  wire::ShardRequest release;
  release.mutable_release()->set_request_id(1);
  send(release);
  EXPECT_EQ(shard.stats().segments, 0);
}

// Found by bench/fuzz.sh (shard_message target): an attend with no queries copied from a
// null buffer (a UBSan report; this suite runs under it in scripts/sanitize.sh).
TEST_F(ShardMessages, AnAttendWithNoQueriesIsAnsweredCleanly) {
  send(open(1));
  wire::ShardRequest empty = attend(1, 0, 4, 0);
  empty.mutable_attend()->clear_first();
  empty.mutable_attend()->clear_end();
  auto reply = send(empty);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->segments_size(), 0);
  EXPECT_EQ(reply->partials(), "");
}

TEST_F(ShardMessages, KeepsEachVerifiersRequestsApart) {
  // Two verifiers both number their first request 1: two requests, neither touching the other.
  const size_t segment_bytes = 2 * 4 * 32 * 4;
  send(open(1), "verifier-a");
  send(open(1), "verifier-b");
  send(store(1, 0, segment_bytes), "verifier-a");
  send(store(1, 0, segment_bytes), "verifier-b");
  EXPECT_EQ(shard.stats().requests, 2);
  EXPECT_EQ(shard.stats().segments, 2);
  EXPECT_EQ(shard.stats().rejected, 0);
  wire::ShardRequest release;
  release.mutable_release()->set_request_id(1);
  send(release, "verifier-a");
  EXPECT_EQ(shard.stats().segments, 1);
  EXPECT_EQ(send(attend(1, 0, 4, 4 * 16 * 4), "verifier-a")->error(),
            "unknown request (never opened, released, or idle too long)");
  auto reply = send(attend(1, 0, 4, 4 * 16 * 4), "verifier-b");
  EXPECT_EQ(reply->error(), "");
  EXPECT_EQ(reply->segments_size(), 1);
}

TEST_F(ShardMessages, AnAdoptedRequestSharesSegmentsThatOutliveTheOneThatStoredThem) {
  KvShard roomy{KvShardLimits{1 << 20, 8, 64, 1 << 20}, 1};
  auto to_roomy = [&](const wire::ShardRequest& m, const std::string& peer = "verifier-a") {
    wire::ShardReply r;
    const auto reply = roomy.handle(peer, m.SerializeAsString());
    if (reply) { EXPECT_TRUE(r.ParseFromString(*reply)); }
    return r;
  };
  auto adopt = [](uint64_t id, uint64_t from, int64_t segments) {
    wire::ShardRequest m;
    m.mutable_adopt()->set_request_id(id);
    m.mutable_adopt()->set_from_request_id(from);
    m.mutable_adopt()->set_segments(segments);
    m.mutable_adopt()->set_sequence(11);
    return m;
  };
  auto release = [](uint64_t id) {
    wire::ShardRequest m;
    m.mutable_release()->set_request_id(id);
    return m;
  };
  const size_t segment_bytes = 2 * 4 * 32 * 4;
  to_roomy(open(1));
  to_roomy(store(1, 0, segment_bytes));
  to_roomy(store(1, 8, segment_bytes));  // segments 0 and 2 (another shard holds 1)
  to_roomy(open(2));
  wire::ShardReply reply = to_roomy(adopt(2, 1, 3));
  EXPECT_EQ(reply.error(), "");
  EXPECT_EQ(reply.sequence(), 11u);
  EXPECT_EQ(roomy.stats().segments, 2);  // shared, not copied: counted once
  EXPECT_EQ(roomy.stats().bytes, 2 * 2 * segment_bytes);
  EXPECT_NE(to_roomy(adopt(2, 1, 3)).error(), "");  // it holds segments now

  to_roomy(release(1));  // the first request goes; the second still reads both segments
  EXPECT_EQ(roomy.stats().segments, 2);
  reply = to_roomy(attend(2, 0, 12, 4 * 16 * 4));
  EXPECT_EQ(reply.error(), "");
  EXPECT_EQ(reply.segments_size(), 2);
  to_roomy(release(2));
  EXPECT_EQ(roomy.stats().segments, 0);
  EXPECT_EQ(roomy.stats().bytes, 0u);

  // Only the first `segments` are shared.
  to_roomy(open(3));
  to_roomy(store(3, 0, segment_bytes));
  to_roomy(store(3, 8, segment_bytes));
  to_roomy(open(4));
  EXPECT_EQ(to_roomy(adopt(4, 3, 1)).error(), "");
  EXPECT_EQ(to_roomy(attend(4, 0, 12, 4 * 16 * 4)).segments_size(), 1);

  // Refused: an unknown or released source, another verifier's request, another shape.
  to_roomy(open(5));
  EXPECT_NE(to_roomy(adopt(5, 99, 1)).error(), "");
  EXPECT_NE(to_roomy(adopt(5, 5, 1)).error(), "");
  to_roomy(open(6), "verifier-b");
  EXPECT_NE(to_roomy(adopt(6, 3, 1), "verifier-b").error(), "");  // verifier-a's request 3
  to_roomy(open(7, 3));
  EXPECT_NE(to_roomy(adopt(7, 3, 1)).error(), "");
  EXPECT_EQ(to_roomy(attend(3, 0, 12, 4 * 16 * 4)).segments_size(), 2);  // untouched by all that
}

TEST(ShardIdle, FreesARequestItsVerifierAbandoned) {
  KvShardLimits limits;
  limits.idle_release = std::chrono::milliseconds(200);
  KvShard shard(limits, 1);
  wire::ShardRequest open;
  auto& o = *open.mutable_open();
  o.set_request_id(5);
  o.set_n_layers(1);
  o.set_n_heads(1);
  o.set_n_kv_heads(1);
  o.set_head_dim(8);
  o.set_segment(4);
  o.set_scale(1.0f);
  shard.handle("gone", open.SerializeAsString());
  EXPECT_EQ(shard.release_idle(), 0);  // just opened
  EXPECT_EQ(shard.stats().requests, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(shard.release_idle(), 1);
  EXPECT_EQ(shard.stats().requests, 0);
}

TEST_F(ShardMessages, RefusesTooManyQueriesAndRepliesPastItsLimit) {
  KvShard small{KvShardLimits{1 << 20, 2, 64, 3 * 4 * 18 * 4 - 1}, 1};  // room for two partials, not three
  for (const auto& m : {open(1), store(1, 0, 2 * 4 * 32 * 4), store(1, 4, 2 * 4 * 32 * 4), store(1, 8, 2 * 4 * 32 * 4)})
    small.handle("v", m.SerializeAsString());
  wire::ShardReply reply;
  ASSERT_TRUE(reply.ParseFromString(*small.handle("v", attend(1, 0, 8, 4 * 16 * 4).SerializeAsString())));
  EXPECT_EQ(reply.error(), "");
  ASSERT_TRUE(reply.ParseFromString(*small.handle("v", attend(1, 0, 12, 4 * 16 * 4).SerializeAsString())));
  EXPECT_NE(reply.error(), "");
  wire::ShardRequest many = attend(1, 0, 4, 65 * 4 * 16 * 4);  // 65 queries, the limit is 64
  for (int i = 1; i < 65; ++i) {
    many.mutable_attend()->add_first(0);
    many.mutable_attend()->add_end(4);
  }
  ASSERT_TRUE(reply.ParseFromString(*small.handle("v", many.SerializeAsString())));
  EXPECT_NE(reply.error(), "");
}

TEST_F(ShardMessages, RefusesSegmentsPastItsMemoryBudget) {
  // 1 MiB budget: segments of 2 layers × 1024 positions × 32 floats (256 KiB, keys and values).
  send(open(1, 2, 1024));
  const size_t bytes = 2 * 1024 * 32 * 4;
  send(store(1, 0, bytes));
  send(store(1, 1024, bytes));
  EXPECT_EQ(shard.stats().segments, 2);
  send(store(1, 2048, bytes));  // a third would pass 1 MiB
  EXPECT_EQ(shard.stats().segments, 2);
  EXPECT_LE(shard.stats().bytes, size_t(1) << 20);
  EXPECT_NE(send(attend(1, 0, 3072, 4 * 16 * 4))->error(), "");
}

TEST(ShardPool, SpreadsOnlyLongRequestsAndTakesTheSchedulersList) {
  Pair pair;
  LocalKvShards local(1, 1);
  ShardPoolSettings settings;
  settings.segment = kSegment;
  settings.min_context = 100;
  ShardPool pool(local.links(), pair.target_model->config(), settings);
  EXPECT_FALSE(pool.remote_for(99));  // short: its cache stays whole on the verifier
  EXPECT_TRUE(pool.remote_for(100));
  EXPECT_EQ(pool.links().size(), 1u);

  // The scheduler's list comes after the fixed shards; a link it names again is kept.
  pool.assign("tcp://127.0.0.1:1,tcp://127.0.0.1:2");
  auto links = pool.links();
  ASSERT_EQ(links.size(), 3u);
  EXPECT_EQ(links[0]->name(), "local-0");
  EXPECT_EQ(links[2]->name(), "tcp://127.0.0.1:2");
  pool.assign("tcp://127.0.0.1:2");
  ASSERT_EQ(pool.links().size(), 2u);
  EXPECT_EQ(pool.links()[1], links[2]);
  links[2]->mark_failed();  // lost: named again, it gets a fresh link
  pool.assign("tcp://127.0.0.1:2");
  EXPECT_NE(pool.links()[1], links[2]);
  pool.assign("");
  EXPECT_EQ(pool.links().size(), 1u);

  ShardPool none({}, pair.target_model->config(), {});
  EXPECT_FALSE(none.remote_for(1 << 20));  // no shards: every request stays on the verifier
}

}  // namespace
}  // namespace tandem
