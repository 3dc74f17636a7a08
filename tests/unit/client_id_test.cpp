// Client names: written once by each door, read back by the fair share and the ZeroMQ reply path.
#include "server/client_id.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(ClientId, NamesRoundTrip) {
  for (const ClientId& id :
       {ClientId{"zmq", "alice", "00a1ff"}, ClientId{"zmq", "@10.0.0.7", "0b"}, ClientId{"zmq", "@::1", "0b"},
        ClientId{"zmq", "", "00a1ff"}, ClientId{"http", "127.0.0.1", "17"}}) {
    const std::optional<ClientId> back = parse_client(format_client(id));
    ASSERT_TRUE(back) << format_client(id);
    EXPECT_EQ(back->door, id.door);
    EXPECT_EQ(back->who, id.who);
    EXPECT_EQ(back->connection, id.connection);
  }
  EXPECT_EQ(format_client({"http", "alice", "17"}), "http:alice:17");
  EXPECT_FALSE(parse_client("no door"));
}

TEST(ClientId, AGroupIsTheDoorAndWhoElseTheConnection) {
  EXPECT_EQ(client_group("zmq:alice:00a1"), "zmq:alice");
  EXPECT_EQ(client_group("zmq:alice:00b2"), "zmq:alice");  // one key, many connections: one client
  EXPECT_EQ(client_group("zmq:@::1:00a1"), "zmq:@::1");
  EXPECT_EQ(client_group("http:alice:17"), "http:alice");
  EXPECT_EQ(client_group("zmq:00a1"), "zmq:00a1");  // nobody known: the connection alone
}

TEST(ClientId, TheDoorIsReadWithoutTakingTheNameApart) {
  EXPECT_EQ(client_door("http:alice:17"), "http");
  EXPECT_EQ(client_door("zmq:00a1"), "zmq");
  EXPECT_EQ(client_door("no door"), "");
}

TEST(ClientId, AZeroMqNameGivesBackItsRoutingId) {
  EXPECT_EQ(zmq_routing_id("zmq:alice:00a1ff"), std::string("\x00\xa1\xff", 3));
  EXPECT_EQ(zmq_routing_id("zmq:00a1ff"), std::string("\x00\xa1\xff", 3));
  EXPECT_EQ(zmq_routing_id("http:alice:17"), "");
}

}  // namespace
}  // namespace tandem
