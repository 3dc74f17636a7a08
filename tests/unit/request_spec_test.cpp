// A request parsed once, on arrival: the server's defaults filled in, each bad field refused
// with its name, the client's group taken from its name.
#include "server/request_spec.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace tandem {
namespace {

ServingOptions serving() {
  ServingOptions s;
  s.defaults.mode = Mode::chain;
  s.default_max_tokens = 100;
  s.max_tokens_limit = 500;
  s.max_batch = 4;
  s.max_context = 2048;
  return s;
}

std::string refusal(const wire::SubmitRequest& r) {
  try {
    parse_request("zmq:alice:00ff", r, serving());
  } catch (const std::invalid_argument& e) { return e.what(); }
  return "";
}

TEST(RequestSpec, TheServersDefaultsFillWhatTheRequestLeavesOut) {
  wire::SubmitRequest r;
  r.set_request_id("r1");
  r.set_text("Once upon a time");
  const RequestSpec spec = parse_request("zmq:alice:00ff", r, serving());
  EXPECT_EQ(spec.id, "r1");
  EXPECT_EQ(spec.group, "zmq:alice");
  EXPECT_EQ(spec.mode.mode, Mode::chain);
  EXPECT_EQ(spec.generation.max_tokens, 100);
  EXPECT_EQ(spec.generation.max_context, 2048);
  EXPECT_EQ(spec.samples, 1u);
  EXPECT_EQ(spec.prompt.text, "Once upon a time");
  EXPECT_FALSE(spec.prompt.ids);
  EXPECT_FALSE(spec.prompt.chat);
}

TEST(RequestSpec, WhatTheRequestAsksIsKept) {
  wire::SubmitRequest r;
  r.set_mode("lookup");
  r.set_max_tokens(7);
  r.set_n(3);
  r.set_first_finish(true);
  r.set_stream(true);
  r.add_stop("\n\n");
  r.set_deadline_ms(1500);
  r.mutable_sampling()->set_temperature(0.5f);
  r.add_messages()->set_content("hi");
  const RequestSpec spec = parse_request("http:bob:3", r, serving());
  EXPECT_EQ(spec.mode.mode, Mode::lookup);
  EXPECT_EQ(spec.generation.max_tokens, 7);
  EXPECT_EQ(spec.samples, 3u);
  EXPECT_TRUE(spec.first_finish);
  EXPECT_TRUE(spec.stream);
  EXPECT_EQ(spec.stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_EQ(spec.deadline_ms, 1500);
  EXPECT_FLOAT_EQ(spec.generation.sampling.temperature, 0.5f);
  EXPECT_TRUE(spec.prompt.chat);
  ASSERT_EQ(spec.prompt.turns.size(), 1u);
  EXPECT_EQ(spec.group, "http:bob");
}

TEST(RequestSpec, EachBadFieldIsRefusedByName) {
  wire::SubmitRequest r;
  r.set_mode("beam");
  EXPECT_NE(refusal(r).find("mode must be ar, chain, tree, pearl, lookup, recycle or auto, got 'beam'"),
            std::string::npos);
  r.clear_mode();
  r.set_max_tokens(501);
  EXPECT_EQ(refusal(r), "max_tokens must be between 0 and 500");
  r.set_max_tokens(-1);
  EXPECT_EQ(refusal(r), "max_tokens must be between 0 and 500");
  r.clear_max_tokens();
  r.set_n(5);
  EXPECT_EQ(refusal(r), "n must be between 1 and 4, this server's batch size");
  r.clear_n();
  r.add_stop("");
  EXPECT_NE(refusal(r).find("stop sequence"), std::string::npos);
  r.clear_stop();
  r.mutable_sampling()->set_top_p(2);
  EXPECT_NE(refusal(r), "");
  r.clear_sampling();
  EXPECT_EQ(refusal(r), "");
}

}  // namespace
}  // namespace tandem
