#pragma once
// Data channels: how token trees and verdicts travel between two actors. One
// interface whatever carries the bytes (in-process queue, ZeroMQ between processes,
// NCCL between GPUs: transport/nccl_channel.h), so an actor never knows which it has.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace google::protobuf {
class MessageLite;
}

namespace tandem {

struct CurveKeyPair;  // security/curve.h
class ZapHandler;

/// One end of a two-way link to a single peer, carrying whole frames in order.
class Channel {
 public:
  virtual ~Channel() = default;
  /// Sends one frame; false if it cannot go (the other end is closed).
  virtual bool send(std::string_view frame) = 0;
  /// The next frame, waiting up to `timeout`; nothing on timeout or when the other end closed.
  virtual std::optional<std::string> receive(std::chrono::milliseconds timeout) = 0;
  /// The kind of transport, for logs ("in-process", "zeromq", "nccl").
  virtual const char* kind() const = 0;
};

/// The listening end of a service many peers connect to: each frame arrives with
/// its peer's id, and a reply goes back to that peer only.
class PeerChannel {
 public:
  virtual ~PeerChannel() = default;
  /// Sends one frame to `peer`; false if it cannot go (the peer is gone or its queue is full).
  virtual bool send(const std::string& peer, std::string_view frame) = 0;
  /// The next (peer, frame), waiting up to `timeout`; nothing on timeout.
  virtual std::optional<std::pair<std::string, std::string>> receive(std::chrono::milliseconds timeout) = 0;
};

/// A ZeroMQ ROUTER bound to `endpoint` (port 0 for any; `bound` receives the actual one).
/// libzmq drops a peer that sends a frame over `max_frame_bytes` before allocating it.
std::unique_ptr<PeerChannel> zmq_peer_listen(const std::string& endpoint, int64_t max_frame_bytes,
                                             std::string* bound = nullptr);

/// zmq_peer_listen speaking CURVE with `keys`: only the client keys its gate lists (none at
/// first) get in, refused before any frame is read. `gate` lives as long as the channel.
struct CurvePeerListener {
  std::unique_ptr<PeerChannel> channel;
  ZapHandler* gate = nullptr;
};
CurvePeerListener zmq_peer_listen_curve(const std::string& endpoint, int64_t max_frame_bytes, const CurveKeyPair& keys,
                                        std::string* bound = nullptr);

/// Two connected in-process ends: what one sends, the other receives.
std::pair<std::unique_ptr<Channel>, std::unique_ptr<Channel>> in_process_channel_pair();

/// A ZeroMQ end that binds `endpoint` (tcp://HOST:PORT, port 0 for any) and talks to
/// whichever peer connects; `bound` receives the actual endpoint.
std::unique_ptr<Channel> zmq_channel_listen(const std::string& endpoint, std::string* bound = nullptr);
/// A ZeroMQ end that connects to a listening one (and reconnects if it restarts).
std::unique_ptr<Channel> zmq_channel_connect(const std::string& endpoint);

/// A listening end that speaks CURVE with `keys` and admits only the client keys its gate
/// lists (none at first): a stranger's connection is refused before any frame is read, so
/// it neither receives nor sends anything. `gate` lives as long as the channel.
struct CurveListener {
  std::unique_ptr<Channel> channel;
  ZapHandler* gate = nullptr;
};
CurveListener zmq_channel_listen_curve(const std::string& endpoint, const CurveKeyPair& keys,
                                       std::string* bound = nullptr);
/// A connecting end that speaks CURVE as `mine` to the listening end whose public key is `server_public`.
std::unique_ptr<Channel> zmq_channel_connect_curve(const std::string& endpoint, const CurveKeyPair& mine,
                                                   const std::string& server_public);

/// Sends a protobuf message as one frame.
bool send_message(Channel& channel, const google::protobuf::MessageLite& message);
/// Receives one frame into `message`: false on timeout or closure; throws
/// std::invalid_argument if the frame is not such a message.
bool receive_message(Channel& channel, google::protobuf::MessageLite& message, std::chrono::milliseconds timeout);

}  // namespace tandem
