// The prefix cache: which cached prompt a new one reads its start from, what it keeps under
// its budget and per scope; and, through a real worker on the stories model, that a prompt
// read from the cache gives exactly the tokens a computed one gives (greedy and sampled),
// says how many tokens it read, and that `no_prefix_cache` and per-client scopes hold.
#include "server/prefix_cache.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/request_worker.h"
#include "shards/local_kv_shards.h"
#include "speculation/generation.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using Tokens = std::vector<int32_t>;

ModelConfig tiny_config() {
  ModelConfig c;
  c.n_layers = 2;
  c.n_heads = c.n_kv_heads = 1;
  c.head_dim = 4;
  c.context_length = 64;
  return c;
}

// A committed cache of `positions` positions, row p of every layer filled with p + `seed`.
std::shared_ptr<const KvCache> filled_cache(int64_t positions, float seed = 0.0f) {
  auto cache = std::make_shared<KvCache>(tiny_config(), 64);
  cache->begin_pending(positions);
  for (int64_t p = 0; p < positions; ++p) {
    cache->link_pending(p, p - 1, p);
    for (int layer = 0; layer < 2; ++layer)
      for (int i = 0; i < 4; ++i) cache->key(layer, p)[i] = cache->value(layer, p)[i] = float(p) + seed;
  }
  cache->commit_all();
  cache->shrink_to_committed();
  return cache;
}

size_t bytes_of(int64_t positions) { return size_t(positions) * 2 * 4 * 2 * sizeof(float); }

TEST(PrefixCache, APromptReadsTheLongestCachedStartItShares) {
  PrefixCache cache(1 << 20, 1);
  cache.insert("", {1, 2, 3, 4, 5}, filled_cache(4));
  cache.insert("", {1, 2, 9, 9, 9, 9}, filled_cache(5));
  PrefixHit hit = cache.find("", {1, 2, 3, 7, 8});
  EXPECT_EQ(hit.positions, 3);  // 1 2 3 of the first
  EXPECT_EQ(hit.cache->length(), 4);
  hit = cache.find("", {1, 2, 9, 9, 9, 9, 9, 9});
  EXPECT_EQ(hit.positions, 5);
  // At most all but the prompt's last token: that one opens the first pass.
  EXPECT_EQ(cache.find("", {1, 2, 3, 4}).positions, 3);
  EXPECT_EQ(cache.find("", {5, 1, 2}).positions, 0);
  EXPECT_EQ(cache.find("", {1}).positions, 0);
  EXPECT_EQ(cache.counts().hits, 3u);
  EXPECT_EQ(cache.counts().hit_tokens, 11u);
}

TEST(PrefixCache, BlocksFindTheLongestSharedStartAmongManyEntries) {
  PrefixCache cache(1 << 30, 4);
  // 500 prompts of 9 tokens sharing their first 4: one block in common, then apart.
  for (int32_t i = 0; i < 500; ++i) cache.insert("", {1, 2, 3, 4, i, i, i, i, i, 0}, filled_cache(9));
  EXPECT_EQ(cache.counts().entries, 500u);
  // Shares 2 whole blocks and 1 more token with entry 77: read exactly 9 positions.
  EXPECT_EQ(cache.find("", {1, 2, 3, 4, 77, 77, 77, 77, 77, 5, 6}).positions, 9);
  EXPECT_EQ(cache.find("", {1, 2, 3, 4, 77, 77, 77, 9, 9}).positions, 7);  // into a block it does not fill
  EXPECT_EQ(cache.find("", {1, 2, 3, 4, 900, 1}).positions, 4);            // the shared block alone
  EXPECT_EQ(cache.find("", {1, 2, 3, 9, 9}).positions, 0);                 // less than a block: no hit
  cache.insert("", {1, 2, 3, 0}, filled_cache(3));                         // shorter than a block: not kept
  EXPECT_EQ(cache.counts().entries, 500u);
  // Extending entry 77 replaces it, found through its last whole block.
  cache.insert("", {1, 2, 3, 4, 77, 77, 77, 77, 77, 0, 8, 8, 8}, filled_cache(12));
  EXPECT_EQ(cache.counts().entries, 500u);
  EXPECT_EQ(cache.find("", {1, 2, 3, 4, 77, 77, 77, 77, 77, 0, 8, 8, 8, 8}).positions, 12);
  EXPECT_THROW(PrefixCache(1, 0), std::invalid_argument);
}

TEST(PrefixCache, ScopesDoNotSeeEachOther) {
  PrefixCache cache(1 << 20, 1);
  cache.insert("http:alice", {1, 2, 3, 4}, filled_cache(3));
  EXPECT_EQ(cache.find("http:bob", {1, 2, 3, 4}).positions, 0);
  EXPECT_EQ(cache.find("", {1, 2, 3, 4}).positions, 0);
  EXPECT_EQ(cache.find("http:alice", {1, 2, 3, 4}).positions, 3);
}

TEST(PrefixCache, ALongerTurnReplacesTheOneItExtendsAndAHeldOneIsNotKeptTwice) {
  PrefixCache cache(1 << 20, 1);
  cache.insert("", {1, 2, 3}, filled_cache(2));
  cache.insert("", {1, 2, 3, 4, 5}, filled_cache(4));  // the next turn: history and more
  EXPECT_EQ(cache.counts().entries, 1u);
  EXPECT_EQ(cache.counts().bytes, bytes_of(4));
  cache.insert("", {1, 2, 3}, filled_cache(2));  // held already, within the longer one
  EXPECT_EQ(cache.counts().entries, 1u);
  EXPECT_EQ(cache.find("", {1, 2, 3, 4, 5, 6}).positions, 4);  // every cached position
}

TEST(PrefixCache, TheLeastRecentlyUsedGoFirstAndNothingPassesTheBudget) {
  PrefixCache cache(bytes_of(10), 1);
  cache.insert("", {1, 1, 1, 1, 1}, filled_cache(4));
  cache.insert("", {2, 2, 2, 2, 2}, filled_cache(4));
  EXPECT_EQ(cache.find("", {1, 1, 1, 1, 1}).positions, 4);  // used: now the most recent
  cache.insert("", {3, 3, 3, 3, 3}, filled_cache(4));       // 12 positions: one must go
  EXPECT_EQ(cache.counts().evictions, 1u);
  EXPECT_LE(cache.counts().bytes, bytes_of(10));
  EXPECT_EQ(cache.find("", {2, 2, 2, 2, 2}).positions, 0);  // the least recently used
  EXPECT_EQ(cache.find("", {1, 1, 1, 1, 1}).positions, 4);
  EXPECT_EQ(cache.find("", {3, 3, 3, 3, 3}).positions, 4);
  cache.insert("", Tokens(13, 7), filled_cache(12));  // larger than the whole budget: not kept
  EXPECT_EQ(cache.find("", Tokens(13, 7)).positions, 0);
  EXPECT_EQ(cache.counts().entries, 2u);
  PrefixCache off(0, 1);
  off.insert("", {1, 2, 3}, filled_cache(2));
  EXPECT_EQ(off.counts().entries, 0u);
}

TEST(PrefixCache, ACacheReadsAPrefixsFirstPositionsAndCopiesFlat) {
  auto prefix = filled_cache(6, 100.0f);
  KvCache cache(tiny_config(), 64, prefix, 3);  // shares 3 of its 6 positions
  EXPECT_EQ(cache.length(), 3);
  EXPECT_EQ(cache.base(), 3);
  cache.begin_pending(2);
  for (int64_t r = 0; r < 2; ++r) {
    cache.link_pending(r, r - 1, 3 + r);
    for (int layer = 0; layer < 2; ++layer)
      for (int i = 0; i < 4; ++i) cache.key(layer, r)[i] = cache.value(layer, r)[i] = float(-1 - r);
  }
  cache.commit_all();
  const KvCache flat = cache.flat_copy();
  EXPECT_EQ(flat.length(), 5);
  EXPECT_EQ(flat.base(), 0);
  EXPECT_EQ(flat.shared_prefix(), nullptr);
  const float expected[] = {100, 101, 102, -1, -2};
  for (int layer = 0; layer < 2; ++layer)
    for (int64_t p = 0; p < 5; ++p) {
      EXPECT_EQ(flat.key(layer, p)[3], expected[p]) << "layer " << layer << " position " << p;
      EXPECT_EQ(flat.value(layer, p)[0], expected[p]);
    }
  EXPECT_THROW(KvCache(tiny_config(), 64, prefix, 7), std::invalid_argument);  // more than it holds
}

// A real worker on the stories model: each request waited for in turn.
class ServedStories {
 public:
  explicit ServedStories(ServingOptions options, int segment = kAttentionSegment)
      : model_(Model::load(test::stories_model())),
        target_(*model_, 1, segment),
        worker_({&target_}, options, [this](const std::string&, const wire::ServerMessage& m) { take(m); }) {}

  wire::FinalResult ask(const std::string& client, const Tokens& prompt, bool use_cache = true,
                        float temperature = 0.0f, const std::string& mode = "ar") {
    wire::SubmitRequest r;
    r.set_mode(mode);
    r.set_request_id("r" + std::to_string(++asked_));
    for (int32_t id : prompt) r.mutable_ids()->add_ids(id);
    r.set_max_tokens(24);
    r.mutable_sampling()->set_temperature(temperature);
    r.mutable_sampling()->set_seed(5);
    r.set_no_prefix_cache(!use_cache);
    worker_.submit(client, r);
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, std::chrono::seconds(60), [&] { return last_.has_value(); }));
    wire::ServerMessage m = *last_;
    last_.reset();
    EXPECT_TRUE(m.has_final()) << m.DebugString();
    return m.final();
  }
  const ModelConfig& config() const { return model_->config(); }
  Tokens plain(const Tokens& prompt, float temperature = 0.0f) {
    GenerationOptions options;
    options.max_tokens = 24;
    options.sampling.temperature = temperature;
    options.sampling.seed = 5;
    return generate_autoregressive(target_, prompt, options).ids;
  }
  Tokens encode(const std::string& text) { return model_->tokenizer().encode(text, true); }
  RequestWorker& worker() { return worker_; }

 private:
  void take(const wire::ServerMessage& m) {
    if (!m.has_final() && !m.has_error()) return;
    std::lock_guard lock(mutex_);
    last_ = m;
    changed_.notify_all();
  }
  std::unique_ptr<Model> model_;
  Transformer target_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<wire::ServerMessage> last_;
  int asked_ = 0;
  RequestWorker worker_;  // last: it stops before what its sink touches goes
};

Tokens ids_of(const wire::FinalResult& f) { return Tokens(f.ids().begin(), f.ids().end()); }

TEST(PrefixCache, AServedPromptReadFromTheCacheGivesTheSameTokens) {
  for (float temperature : {0.0f, 0.8f}) {
    ServedStories served{ServingOptions{}};
    const Tokens first = served.encode("Once upon a time, there was a little girl named Lily. She loved to play");
    wire::FinalResult f = served.ask("zmq:a", first, true, temperature);
    EXPECT_EQ(f.stats().cached_tokens(), 0);
    const Tokens answer = ids_of(f);
    EXPECT_EQ(answer, served.plain(first, temperature));
    // The next turn resends the first and its answer: all of that was kept when it finished
    // (the answer's last token never ran: it would have opened the next pass).
    Tokens next = first;
    next.insert(next.end(), answer.begin(), answer.end());
    for (int32_t id : served.encode(" The end.")) next.push_back(id);
    f = served.ask("zmq:a", next, true, temperature);
    EXPECT_EQ(f.stats().cached_tokens(), int32_t(first.size() + answer.size()) - 1);
    EXPECT_EQ(ids_of(f), served.plain(next, temperature)) << "temperature " << temperature;
    f = served.ask("zmq:a", next, true, temperature);  // the whole prompt is cached now
    EXPECT_EQ(f.stats().cached_tokens(), int32_t(next.size()) - 1);
    EXPECT_EQ(ids_of(f), served.plain(next, temperature));
    f = served.ask("zmq:a", first, true, temperature);  // held within the longer entry
    EXPECT_EQ(f.stats().cached_tokens(), int32_t(first.size()) - 1);
    EXPECT_EQ(ids_of(f), served.plain(first, temperature));
    f = served.ask("zmq:a", next, false, temperature);  // no_prefix_cache: computed
    EXPECT_EQ(f.stats().cached_tokens(), 0);
    EXPECT_EQ(ids_of(f), served.plain(next, temperature));
    const nlohmann::json health = served.worker().prefix_cache();
    EXPECT_EQ(health["hits"].get<int>(), 3);
    EXPECT_EQ(health["entries"].get<int>(), 1);  // each longer conversation replaced the one it extends
    EXPECT_EQ(health["scope"], "global");
    EXPECT_GT(health["bytes"].get<size_t>(), 0u);
  }
}

// A prompt the worker prefills gives the first token from its last logits, as plain
// decoding does (24 tokens in 23 passes); a prompt read whole from the cache runs its last
// token in the first pass instead (24 in 24). Both give plain decoding's tokens.
TEST(PrefixCache, AServedRequestTakesItsFirstTokenFromThePrefill) {
  for (float temperature : {0.0f, 0.8f}) {
    ServedStories served{ServingOptions{}};
    const Tokens prompt = served.encode("Once upon a time, there was a little girl named Lily. She loved to play");
    wire::FinalResult f = served.ask("zmq:a", prompt, true, temperature);
    ASSERT_EQ(f.ids_size(), 24);
    EXPECT_EQ(f.stats().cached_tokens(), 0);
    EXPECT_EQ(f.stats().verifier_passes(), 23) << "temperature " << temperature;
    EXPECT_EQ(ids_of(f), served.plain(prompt, temperature));
    f = served.ask("zmq:a", prompt, true, temperature);
    EXPECT_EQ(f.stats().cached_tokens(), int32_t(prompt.size()) - 1);
    EXPECT_EQ(f.stats().verifier_passes(), 24) << "temperature " << temperature;
    EXPECT_EQ(ids_of(f), served.plain(prompt, temperature));
  }
}

// With speculation, a pass may accept drafts past the token limit: those positions are in
// the cache but not in the output, and the kept conversation stops where the output does.
TEST(PrefixCache, ASpeculativeAnswerIsKeptUpToItsLastOutputToken) {
  ServedStories served{ServingOptions{}};
  // A story, its continuation, and the story again: prompt lookup proposes the continuation
  // once more, and the target takes much of it.
  const Tokens story = served.encode("Once upon a time, there was a little girl named Lily. She loved to play");
  Tokens first = story;
  const Tokens continuation = served.plain(story);
  first.insert(first.end(), continuation.begin(), continuation.end());
  first.insert(first.end(), story.begin() + 1, story.end());
  const wire::FinalResult f = served.ask("zmq:a", first, true, 0.0f, "lookup");
  const Tokens answer = ids_of(f);
  EXPECT_EQ(answer, served.plain(first));
  ASSERT_GT(f.stats().accepted_tokens(), 0);
  Tokens next = first;
  next.insert(next.end(), answer.begin(), answer.end());
  next.push_back(story[1]);
  const wire::FinalResult g = served.ask("zmq:a", next, true, 0.0f, "lookup");
  EXPECT_EQ(g.stats().cached_tokens(), int32_t(first.size() + answer.size()) - 1);
  EXPECT_EQ(ids_of(g), served.plain(next));
}

TEST(PrefixCache, PerClientScopesKeepEachClientsPromptsToItself) {
  ServingOptions options;
  options.prefix_cache_per_client = true;
  ServedStories served{options};
  const Tokens prompt = served.encode("The little dog ran to the big tree and barked at the bird, and the bird sang");
  ASSERT_GT(prompt.size(), 17u);  // more than a block of the cache
  EXPECT_EQ(served.ask("http:alice:1", prompt).stats().cached_tokens(), 0);
  EXPECT_EQ(served.ask("http:bob:1", prompt).stats().cached_tokens(), 0);  // alice's is not bob's
  EXPECT_EQ(served.ask("http:alice:2", prompt).stats().cached_tokens(), int32_t(prompt.size()) - 1);
}

// With KV shards, a request's prompt is kept where its segments already are: the cache
// entry's remote shares them on the shards (no keys or values travel), a later prompt's
// remote shares them again, and only the open segment's rows are copied. Exact as ever; and
// when the shards have freed a cached prompt's segments, the prompt is simply computed.
TEST(PrefixCache, PromptsOnKvShardsStayOnTheShardsAndAreReadThere) {
  constexpr int kSegment = 4;
  KvShardLimits limits;
  limits.idle_release = std::chrono::seconds(2);
  LocalKvShards local(2, 1, limits);
  const ModelConfig config = Model::load(test::stories_model())->config();
  ServingOptions options;
  options.kv_remote = sharded_kv_factory(local.links(), config, kSegment, std::chrono::seconds(5));
  ServedStories served{options, kSegment};
  const Tokens first = served.encode("Once upon a time, there was a little girl named Lily. She loved to play");
  wire::FinalResult f = served.ask("zmq:a", first);
  EXPECT_EQ(f.stats().cached_tokens(), 0);
  const Tokens answer = ids_of(f);
  EXPECT_EQ(answer, served.plain(first));
  Tokens next = first;
  next.insert(next.end(), answer.begin(), answer.end());
  for (int32_t id : served.encode(" The end.")) next.push_back(id);
  f = served.ask("zmq:a", next);
  EXPECT_EQ(f.stats().cached_tokens(), int32_t(first.size() + answer.size()) - 1);
  EXPECT_EQ(ids_of(f), served.plain(next));
  // The first prompt alone ends inside a segment the entry keeps on the shards: it reads
  // the whole segments before that and computes the rest.
  f = served.ask("zmq:a", first);
  EXPECT_EQ(f.stats().cached_tokens(), (int32_t(first.size()) - 1) / kSegment * kSegment);
  EXPECT_EQ(ids_of(f), served.plain(first));
  // Requests end and release theirs: what stays on each shard is the one cached entry.
  const auto settled = [&] {
    for (int i = 0; i < 500; ++i) {
      bool one_each = true;
      for (const KvShardStats& s : local.stats()) one_each &= s.requests == 1 && s.bytes > 0;
      if (one_each) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  EXPECT_TRUE(settled());
  EXPECT_EQ(served.worker().prefix_cache()["entries"].get<int>(), 1);

  // Unused past the shards' idle release, the entry's segments are freed there; the next
  // prompt finds the entry, cannot share it, drops it and computes its prompt.
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  for (const KvShardStats& s : local.stats()) EXPECT_EQ(s.requests, 0);
  f = served.ask("zmq:a", next);
  EXPECT_EQ(f.stats().cached_tokens(), 0);
  EXPECT_EQ(ids_of(f), served.plain(next));
  for (const auto& link : local.links()) EXPECT_FALSE(link->failed()) << link->name();  // a refusal, not a loss
  const nlohmann::json health = served.worker().prefix_cache();
  EXPECT_EQ(health["hits"].get<int>(), 2);
  EXPECT_EQ(health["entries"].get<int>(), 1);  // the prompt just computed
}

}  // namespace
}  // namespace tandem
