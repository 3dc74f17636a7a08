#include "transport/channel.h"

#include <google/protobuf/message_lite.h>

#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "security/curve.h"

namespace tandem {
namespace {

// A queue of frames from one end to the other.
struct Pipe {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::string> frames;
  bool closed = false;
};

class InProcessChannel : public Channel {
 public:
  InProcessChannel(std::shared_ptr<Pipe> out, std::shared_ptr<Pipe> in) : out_(std::move(out)), in_(std::move(in)) {}
  ~InProcessChannel() override {
    for (auto& pipe : {out_, in_}) {
      std::lock_guard lock(pipe->mutex);
      pipe->closed = true;
      pipe->ready.notify_all();
    }
  }
  bool send(std::string_view frame) override {
    std::lock_guard lock(out_->mutex);
    if (out_->closed) return false;
    out_->frames.emplace_back(frame);
    out_->ready.notify_all();
    return true;
  }
  std::optional<std::string> receive(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(in_->mutex);
    in_->ready.wait_for(lock, timeout, [&] { return !in_->frames.empty() || in_->closed; });
    if (in_->frames.empty()) return std::nullopt;
    std::string frame = std::move(in_->frames.front());
    in_->frames.pop_front();
    return frame;
  }
  const char* kind() const override { return "in-process"; }

 private:
  std::shared_ptr<Pipe> out_, in_;
};

// How long closing a socket waits to hand over frames still queued (a release, a
// verdict) before it drops them; bounded so that a dead peer cannot hold up an exit.
constexpr int kLingerMilliseconds = 500;

// Makes `socket` a CURVE server (before bind) and returns the ZAP handler that admits its
// clients (none at first); the handler must be destroyed before `context`.
std::unique_ptr<ZapHandler> curve_server(zmq::context_t& context, zmq::socket_t& socket, const CurveKeyPair& keys) {
  auto gate = std::make_unique<ZapHandler>(context, std::map<std::string, std::string>{});
  make_curve_server(socket, keys);
  return gate;
}

// DEALER to DEALER (or to a ROUTER): asynchronous both ways, and the connecting side reconnects.
class ZmqChannel : public Channel {
 public:
  ZmqChannel() : context_(1), socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, kLingerMilliseconds);
    socket_.set(zmq::sockopt::sndhwm, 10000);
  }
  zmq::socket_t& socket() { return socket_; }
  /// Makes this end a CURVE server whose clients the returned gate admits (before bind).
  ZapHandler& make_curve_server(const CurveKeyPair& keys) {
    zap_ = curve_server(context_, socket_, keys);
    return *zap_;
  }
  bool send(std::string_view frame) override {
    return bool(socket_.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait));
  }
  std::optional<std::string> receive(std::chrono::milliseconds timeout) override {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return std::nullopt;
    return frame.to_string();
  }
  const char* kind() const override { return "zeromq"; }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::unique_ptr<ZapHandler> zap_;  // closed before the context (declared after it)
};

class ZmqPeerChannel : public PeerChannel {
 public:
  ZmqPeerChannel(const std::string& endpoint, int64_t max_frame_bytes, std::string* bound,
                 const CurveKeyPair* curve = nullptr)
      : context_(1), socket_(context_, zmq::socket_type::router) {
    if (curve) zap_ = curve_server(context_, socket_, *curve);
    socket_.set(zmq::sockopt::linger, kLingerMilliseconds);
    socket_.set(zmq::sockopt::router_mandatory, 1);  // a frame for a vanished peer fails instead of vanishing
    socket_.set(zmq::sockopt::sndhwm, 10000);
    socket_.set(zmq::sockopt::maxmsgsize, max_frame_bytes);
    socket_.bind(endpoint);
    if (bound) *bound = socket_.get(zmq::sockopt::last_endpoint);
  }
  bool send(const std::string& peer, std::string_view frame) override {
    try {
      return socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
             socket_.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      return false;  // EHOSTUNREACH: the peer is gone
    }
  }
  std::optional<std::pair<std::string, std::string>> receive(std::chrono::milliseconds timeout) override {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    // [peer id][payload] from a DEALER; anything else is drained and dropped.
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait) || parts.size() != 2)
      return std::nullopt;
    return std::make_pair(parts[0].to_string(), parts[1].to_string());
  }
  ZapHandler* gate() { return zap_.get(); }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::unique_ptr<ZapHandler> zap_;  // closed before the context (declared after it)
};

}  // namespace

std::unique_ptr<PeerChannel> zmq_peer_listen(const std::string& endpoint, int64_t max_frame_bytes, std::string* bound) {
  return std::make_unique<ZmqPeerChannel>(endpoint, max_frame_bytes, bound);
}

CurvePeerListener zmq_peer_listen_curve(const std::string& endpoint, int64_t max_frame_bytes, const CurveKeyPair& keys,
                                        std::string* bound) {
  auto channel = std::make_unique<ZmqPeerChannel>(endpoint, max_frame_bytes, bound, &keys);
  ZapHandler* gate = channel->gate();
  return {std::move(channel), gate};
}

std::pair<std::unique_ptr<Channel>, std::unique_ptr<Channel>> in_process_channel_pair() {
  auto a_to_b = std::make_shared<Pipe>(), b_to_a = std::make_shared<Pipe>();
  return {std::make_unique<InProcessChannel>(a_to_b, b_to_a), std::make_unique<InProcessChannel>(b_to_a, a_to_b)};
}

std::unique_ptr<Channel> zmq_channel_listen(const std::string& endpoint, std::string* bound) {
  auto channel = std::make_unique<ZmqChannel>();
  channel->socket().bind(endpoint);
  if (bound) *bound = channel->socket().get(zmq::sockopt::last_endpoint);
  return channel;
}

std::unique_ptr<Channel> zmq_channel_connect(const std::string& endpoint) {
  auto channel = std::make_unique<ZmqChannel>();
  channel->socket().connect(endpoint);
  return channel;
}

CurveListener zmq_channel_listen_curve(const std::string& endpoint, const CurveKeyPair& keys, std::string* bound) {
  auto channel = std::make_unique<ZmqChannel>();
  ZapHandler& gate = channel->make_curve_server(keys);
  channel->socket().bind(endpoint);
  if (bound) *bound = channel->socket().get(zmq::sockopt::last_endpoint);
  return {std::move(channel), &gate};
}

std::unique_ptr<Channel> zmq_channel_connect_curve(const std::string& endpoint, const CurveKeyPair& mine,
                                                   const std::string& server_public) {
  auto channel = std::make_unique<ZmqChannel>();
  make_curve_client(channel->socket(), mine, server_public);
  channel->socket().connect(endpoint);
  return channel;
}

bool send_message(Channel& channel, const google::protobuf::MessageLite& message) {
  return channel.send(message.SerializeAsString());
}

bool receive_message(Channel& channel, google::protobuf::MessageLite& message, std::chrono::milliseconds timeout) {
  std::optional<std::string> frame = channel.receive(timeout);
  if (!frame) return false;
  if (!message.ParseFromString(*frame))
    throw std::invalid_argument("a " + std::string(channel.kind()) + " frame of " + std::to_string(frame->size()) +
                                " bytes is not a " + message.GetTypeName());
  return true;
}

}  // namespace tandem
