// The control messages as CAF writes them between processes: every typed struct comes back
// as it was sent, a client's protobuf travels as its bytes once, and bytes that are not
// one arrive marked unparsed (dropped by the receiver) instead of failing the connection.
#include "actors/messages.h"

#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

namespace tandem {
namespace {

struct Actors {
  Actors() : system(add_types(config)) {}
  static caf::actor_system_config& add_types(caf::actor_system_config& c) {
    add_message_types(c);
    return c;
  }
  caf::actor_system_config config;
  caf::actor_system system;
};

template <class T>
std::vector<char> written(caf::actor_system& system, T x) {
  std::vector<char> bytes;
  caf::binary_serializer sink(system, bytes);
  EXPECT_FALSE(sink(x));
  return bytes;
}

template <class T>
T read(caf::actor_system& system, const std::vector<char>& bytes) {
  T x;
  caf::binary_deserializer source(system, bytes);
  EXPECT_FALSE(source(x));
  return x;
}

TEST(Messages, ARequestCrossesAProcessAsItsBytes) {
  Actors actors;
  SubmitWork sent{"zmq:key:0a", {}};
  sent.request.set_request_id("r1");
  sent.request.set_text("Once upon a time");
  sent.request.set_max_tokens(12);
  sent.request.mutable_sampling()->set_temperature(0.5f);
  const std::vector<char> bytes = written(actors.system, sent);
  const SubmitWork got = read<SubmitWork>(actors.system, bytes);
  EXPECT_TRUE(got.parsed);
  EXPECT_EQ(got.client, sent.client);
  EXPECT_EQ(got.request.SerializeAsString(), sent.request.SerializeAsString());
  // The client, then the request's bytes: nothing else travels.
  EXPECT_LT(bytes.size(), sent.client.size() + sent.request.ByteSizeLong() + 24);
}

TEST(Messages, AReplyCrossesAProcessAsItsBytes) {
  Actors actors;
  VerifierReply sent{"verifier-1", "http:alice:3", {}};
  sent.message.mutable_chunk()->set_request_id("r1");
  sent.message.mutable_chunk()->add_ids(42);
  sent.message.mutable_chunk()->set_text(" upon");
  const VerifierReply got = read<VerifierReply>(actors.system, written(actors.system, sent));
  EXPECT_TRUE(got.parsed);
  EXPECT_EQ(got.verifier, sent.verifier);
  EXPECT_EQ(got.client, sent.client);
  EXPECT_EQ(got.message.SerializeAsString(), sent.message.SerializeAsString());
}

TEST(Messages, BytesThatAreNoRequestArriveUnparsed) {
  Actors actors;
  // What a SubmitWork is on the wire (the client, then the protobuf's bytes), with bytes
  // that no SubmitRequest has: a field of wire type 7, which does not exist.
  std::vector<char> bytes;
  caf::binary_serializer sink(actors.system, bytes);
  ASSERT_FALSE(sink(std::string("zmq:key:0a"), std::string("\x0f\xff\xff\xff", 4)));
  const SubmitWork got = read<SubmitWork>(actors.system, bytes);
  EXPECT_FALSE(got.parsed);
  const VerifierReply reply = [&] {
    std::vector<char> reply_bytes;
    caf::binary_serializer reply_sink(actors.system, reply_bytes);
    EXPECT_FALSE(reply_sink(std::string("v"), std::string("c"), std::string("\x0f\xff", 2)));
    return read<VerifierReply>(actors.system, reply_bytes);
  }();
  EXPECT_FALSE(reply.parsed);
}

TEST(Messages, TheOtherStructsComeBackAsSent) {
  Actors actors;
  const Heartbeat beat = read<Heartbeat>(actors.system, written(actors.system, Heartbeat{"shard-2", 7, 1 << 20}));
  EXPECT_EQ(beat.name, "shard-2");
  EXPECT_EQ(beat.live_requests, 7);
  EXPECT_EQ(beat.kv_cache_bytes, 1 << 20);
  const PairWith pair =
      read<PairWith>(actors.system, written(actors.system, PairWith{"tcp://10.0.0.2:5601", "KEY", "ids"}));
  EXPECT_EQ(pair.drafter_endpoint, "tcp://10.0.0.2:5601");
  EXPECT_EQ(pair.drafter_key, "KEY");
  EXPECT_EQ(pair.nccl_group_ids, "ids");
}

}  // namespace
}  // namespace tandem
