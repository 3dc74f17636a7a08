// Data channels: frames arrive whole and in order over every transport, a token tree
// survives the trip, and closed peers, timeouts and garbage are reported.
#include "transport/channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "proto/tree_wire.h"
#include "transport/peer_set.h"

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
  ASSERT_TRUE(send_message(a, tree_to_wire(tree, 7, 12)));
  wire::TokenTree got;
  ASSERT_TRUE(receive_message(b, got, milliseconds(5000)));
  TokenTree back = tree_from_wire(got, 100);
  EXPECT_EQ(back.size(), 2);
  EXPECT_EQ(back[1].parent, 0);
  EXPECT_EQ(got.request_id(), 7u);

  EXPECT_FALSE(b.receive(milliseconds(20)));  // nothing more: a timeout, not a hang
  ASSERT_TRUE(a.send("not a protobuf \xff\xff\xff"));
  wire::TokenTree garbage;
  EXPECT_THROW(receive_message(b, garbage, milliseconds(5000)), std::invalid_argument);
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

// A drafter's PeerSet: peers on the shared ZeroMQ port and a peer on a link of its own
// (in-process here, NCCL on GPUs) arrive through one receive; each reply goes back the way
// its peer came; a link that cannot be made is reported, and a broken one dropped.
TEST(Channel, PeerSetServesTheSharedPortAndLinksOfTheirOwn) {
  std::string endpoint;
  auto shared = zmq_peer_listen("tcp://127.0.0.1:0", 1 << 20, &endpoint);
  PeerSet peers(*shared);
  auto zmq_peer = zmq_channel_connect(endpoint);
  auto [link_end, far_end] = in_process_channel_pair();
  Channel* far = far_end.get();
  auto handed_over = std::make_shared<std::unique_ptr<Channel>>(std::move(link_end));  // std::function copies
  peers.add_link(
      "nccl:v1", [handed_over] { return std::move(*handed_over); }, nullptr);
  std::atomic<bool> failed{false};
  std::string why;
  peers.add_link(
      "nccl:v2", []() -> std::unique_ptr<Channel> { throw std::runtime_error("joining timed out"); },
      [&](const std::string& w) {
        why = w;
        failed = true;
      });
  for (int i = 0; i < 500 && (peers.links() < 1 || !failed); ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(peers.links(), 1u);
  ASSERT_TRUE(failed);
  EXPECT_EQ(why, "joining timed out");

  ASSERT_TRUE(zmq_peer->send("over zeromq"));
  ASSERT_TRUE(far->send("over the link"));
  std::map<std::string, std::string> got;  // frame -> peer
  for (int i = 0; i < 2; ++i) {
    auto frame = peers.receive(milliseconds(5000));
    ASSERT_TRUE(frame);
    got[frame->second] = frame->first;
  }
  EXPECT_EQ(got["over the link"], "nccl:v1");
  ASSERT_TRUE(got.count("over zeromq"));
  ASSERT_TRUE(peers.send(got["over zeromq"], "reply 1"));
  ASSERT_TRUE(peers.send("nccl:v1", "reply 2"));
  EXPECT_EQ(zmq_peer->receive(milliseconds(5000)), "reply 1");
  EXPECT_EQ(far->receive(milliseconds(5000)), "reply 2");
  EXPECT_FALSE(peers.receive(milliseconds(20)));  // nothing more: a timeout

  far_end.reset();  // the linked peer is gone: the send fails and the link is dropped
  EXPECT_FALSE(peers.send("nccl:v1", "anyone?"));
  EXPECT_EQ(peers.links(), 0u);
}

}  // namespace
}  // namespace tandem
