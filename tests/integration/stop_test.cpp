// Stop sequences end the output exactly where they begin, whatever the mode, the
// endpoint (ZeroMQ, HTTP streaming or not, `tandem generate`) or how the sequence
// falls across tokens; nothing after it reaches the client.
#include "process_helpers.h"

namespace tandem {
namespace {

using test::Client;
using test::Server;

const std::string kPrompt = "Once upon a time";
constexpr int kTokens = 60;

// The greedy output of kPrompt, one text piece per token.
std::vector<std::string> greedy_pieces() {
  auto model = Model::load(test::stories_model());
  StreamDecoder decoder(model->tokenizer());
  std::vector<std::string> pieces;
  for (int32_t id : test::local_greedy(kPrompt, kTokens)) pieces.push_back(decoder.push(id));
  return pieces;
}

// A stop sequence made of the end of piece k and the start of piece k + 1 (so it
// spans a token boundary), and the text expected before it.
struct Case {
  std::string stop, expected;
};

Case spanning_case(const std::vector<std::string>& pieces, size_t k) {
  std::string before;
  for (size_t i = 0; i < k; ++i) before += pieces[i];
  const std::string& a = pieces[k];
  const std::string& b = pieces[k + 1];
  const std::string stop =
      a.substr(a.size() - std::min<size_t>(2, a.size())) + b.substr(0, std::min<size_t>(2, b.size()));
  const std::string full = before + a + b;
  return {stop, full.substr(0, full.find(stop))};
}

TEST(Stop, EveryModeAndEndpointEndsTheOutputBeforeTheSequence) {
  const std::vector<std::string> pieces = greedy_pieces();
  size_t k = pieces.size() / 2;  // a boundary between two pieces that both have text
  while (k + 2 < pieces.size() && (pieces[k].size() < 2 || pieces[k + 1].size() < 2)) ++k;
  ASSERT_LT(k + 2, pieces.size());
  const Case c = spanning_case(pieces, k);
  ASSERT_FALSE(c.expected.empty());

  Server server({"--draft-model", test::perturbed_stories(), "--http", "127.0.0.1:0"});
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  for (const std::string mode : {"ar", "chain", "tree", "lookup", "recycle", "pearl"}) {
    for (bool stream : {false, true}) {
      Client client(context, server.endpoint());
      wire::ClientMessage m = test::submit(mode + std::to_string(stream), kPrompt, kTokens, stream);
      m.mutable_submit()->set_mode(mode);
      m.mutable_submit()->add_stop("never appears");
      m.mutable_submit()->add_stop(c.stop);
      client.send(m);
      std::string streamed;
      std::vector<int32_t> streamed_ids;
      const std::vector<wire::ServerMessage> replies = client.until_end();
      for (const wire::ServerMessage& r : replies) {
        streamed += r.chunk().text();
        streamed_ids.insert(streamed_ids.end(), r.chunk().ids().begin(), r.chunk().ids().end());
      }
      const wire::ServerMessage& last = replies.back();
      ASSERT_TRUE(last.has_final()) << mode << ": " << last.DebugString();
      EXPECT_EQ(last.final().text(), c.expected) << mode;
      EXPECT_EQ(last.final().finish_reason(), "stop") << mode;
      EXPECT_LE(last.final().ids_size(), int(k + 1)) << mode;  // no token that starts inside the stop
      if (stream) {
        EXPECT_EQ(streamed, c.expected) << mode;
        EXPECT_EQ(streamed_ids, std::vector<int32_t>(last.final().ids().begin(), last.final().ids().end())) << mode;
      }
    }
  }

  httplib::Client http(server.http());
  const nlohmann::json body = {{"prompt", kPrompt}, {"max_tokens", kTokens}, {"temperature", 0}, {"stop", c.stop}};
  auto plain = http.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  const nlohmann::json answer = nlohmann::json::parse(plain->body);
  EXPECT_EQ(answer["choices"][0]["text"], c.expected);
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "stop");

  nlohmann::json streaming = body;
  streaming["stream"] = true;
  streaming["stop"] = {"never appears", c.stop};
  auto events = http.Post("/v1/completions", streaming.dump(), "application/json");
  ASSERT_TRUE(events);
  std::string text, finish;
  std::istringstream lines(events->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("data: {", 0) != 0) continue;
    const nlohmann::json event = nlohmann::json::parse(line.substr(6));
    text += event["choices"][0]["text"].get<std::string>();
    if (event["choices"][0]["finish_reason"].is_string()) finish = event["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, c.expected);
  EXPECT_EQ(finish, "stop");

  for (const std::string bad : {R"("stop": "")", R"("stop": [1])", R"("stop": {"a": 1})"}) {
    auto refused = http.Post("/v1/completions", "{\"prompt\": \"hi\", " + bad + "}", "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << bad;
  }
}

TEST(Stop, GenerateTakesAStopSequence) {
  const std::vector<std::string> pieces = greedy_pieces();
  const Case c = spanning_case(pieces, 5);
  const test::CommandRun run =
      test::run_command(std::string(TANDEM_BINARY) + " generate --model " + test::stories_model() + " --prompt '" +
                        kPrompt + "' --max-tokens " + std::to_string(kTokens) + " --json --stop '" + c.stop + "'");
  ASSERT_EQ(run.status, 0) << run.out;
  const nlohmann::json out = nlohmann::json::parse(run.out.substr(run.out.find('{')));
  EXPECT_EQ(out["text"], c.expected);
  EXPECT_EQ(out["finish_reason"], "stop");
}

}  // namespace
}  // namespace tandem
