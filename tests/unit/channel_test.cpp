// Data channels: frames arrive whole and in order over every transport, a token tree
// survives the trip, and closed peers, timeouts and garbage are reported.
#include "cluster/channel.h"

#include <gtest/gtest.h>

#include "spec/tree_wire.h"

namespace tandem {
namespace {

using std::chrono::milliseconds;

void expect_round_trip(Channel& a, Channel& b) {
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a.send("frame " + std::to_string(i)));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.receive(milliseconds(5000)), "frame " + std::to_string(i));
  ASSERT_TRUE(b.send(std::string("\0binary\xff", 8)));
  EXPECT_EQ(a.receive(milliseconds(5000)), std::string("\0binary\xff", 8));

  TokenTree tree;
  int32_t root = tree.add(5, -1, 0.5f);
  tree.add(6, root, 0.25f);
  ASSERT_TRUE(send_message(a, tree_to_wire(tree, 7, 12, 1)));
  wire::TokenTree got;
  ASSERT_TRUE(receive_message(b, got, milliseconds(5000)));
  TokenTree back = tree_from_wire(got, 100);
  EXPECT_EQ(back.size(), 2);
  EXPECT_EQ(back[1].parent, 0);
  EXPECT_EQ(got.request_id(), 7u);

  EXPECT_FALSE(b.receive(milliseconds(20)));  // nothing more: a timeout, not a hang
  ASSERT_TRUE(a.send("not a protobuf \xff\xff\xff"));
  wire::Verdict verdict;
  EXPECT_THROW(receive_message(b, verdict, milliseconds(5000)), std::invalid_argument);
}

TEST(Channel, InProcess) {
  auto [a, b] = in_process_channel_pair();
  EXPECT_STREQ(a->kind(), "in-process");
  expect_round_trip(*a, *b);
  b.reset();  // the peer is gone
  EXPECT_FALSE(a->send("anyone?"));
  EXPECT_FALSE(a->receive(milliseconds(10)));
}

TEST(Channel, ZeroMqOverTcp) {
  std::string endpoint;
  auto a = zmq_channel_listen("tcp://127.0.0.1:0", &endpoint);
  ASSERT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u);
  auto b = zmq_channel_connect(endpoint);
  EXPECT_STREQ(a->kind(), "zeromq");
  // The listening side can only answer once the peer has said something.
  ASSERT_TRUE(b->send("hello"));
  EXPECT_EQ(a->receive(milliseconds(5000)), "hello");
  expect_round_trip(*a, *b);
}

}  // namespace
}  // namespace tandem
