#pragma once
// The client-facing ZeroMQ socket: a ROUTER that reads ClientMessage frames from
// DEALER clients and sends ServerMessage frames back to whichever client asked.
//
//   client DEALER ──[ClientMessage]──▶ ROUTER ──handler(client, message)──▶ worker
//   client DEALER ◀─[ServerMessage]─── ROUTER ◀── inproc PULL ◀── reply() from any thread
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "proto/client.pb.h"
#include "security/curve.h"

namespace tandem {

/// Largest client frame read; a larger one gets a MALFORMED error reply.
constexpr size_t kMaxClientFrameBytes = 1 << 20;
/// Largest frame libzmq takes in at all: a client sending more is disconnected unanswered,
/// so what a peer can make the server allocate stays near the limit above.
constexpr size_t kMaxClientFrameReadBytes = kMaxClientFrameBytes + (64 << 10);
/// Longest request id a client may choose: it is echoed in every reply and streamed chunk.
constexpr size_t kMaxRequestIdBytes = 256;

/// Serves one ROUTER endpoint on its own thread.
class ZmqFrontend {
 public:
  /// Called on the frontend thread with each well-formed message and its client: "zmq:WHO:ROUTINGHEX",
  /// WHO being the name of the client's CURVE key where the authorized keys file gives one, else
  /// '@' and its address (so that the fair share counts a process, not each of its connections).
  using Handler = std::function<void(const std::string& client, const wire::ClientMessage& message)>;
  /// Called on the frontend thread when a client's connection closes.
  using GoneHandler = std::function<void(const std::string& client)>;

  /// Binds `endpoint` (such as tcp://127.0.0.1:5555; port 0 picks a free one) and starts serving;
  /// with `curve`, only clients holding an authorized key get through (encrypted).
  ZmqFrontend(const std::string& endpoint, Handler handler, const CurveServer* curve = nullptr,
              GoneHandler gone = nullptr);
  ~ZmqFrontend();
  ZmqFrontend(const ZmqFrontend&) = delete;
  ZmqFrontend& operator=(const ZmqFrontend&) = delete;

  /// The address clients connect to (the actual port when 0 was asked for).
  const std::string& endpoint() const { return endpoint_; }
  /// Queues `message` for `client`; safe from any thread.
  void reply(const std::string& client, const wire::ServerMessage& message);

 private:
  void serve();
  void handle_frame(zmq::socket_t& router, const zmq::message_t& routing, zmq::message_t& payload);
  // A connection closed: its client (the last that spoke on that socket) has gone.
  void handle_disconnect();

  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;  // with CURVE: who may connect
  zmq::socket_t router_, outbox_pull_, outbox_push_, monitor_;
  std::mutex push_mutex_;
  Handler handler_;
  GoneHandler gone_;
  std::map<int, std::string> client_of_socket_;  // file descriptor -> the client it carries
  std::string endpoint_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tandem
