#include "server/zmq_frontend.h"

#include <iterator>
#include <vector>
#include <zmq_addon.hpp>

#include "cluster/log.h"
#include "cluster/metrics.h"

namespace tandem {
namespace {

constexpr const char* kOutbox = "inproc://tandem-frontend-outbox";
constexpr int kPollMilliseconds = 100;  // how often the thread checks for shutdown

void send_to(zmq::socket_t& socket, const std::string& client, const std::string& bytes) {
  socket.send(zmq::buffer(client), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(bytes), zmq::send_flags::none);
}

wire::ServerMessage malformed(const std::string& why) {
  wire::ServerMessage m;
  m.mutable_error()->set_code(wire::MALFORMED);
  m.mutable_error()->set_message(why);
  return m;
}

}  // namespace

ZmqFrontend::ZmqFrontend(const std::string& endpoint, Handler handler, const CurveServer* curve)
    : context_(1),
      zap_(curve ? std::make_unique<ZapHandler>(context_, curve->authorized) : nullptr),
      router_(context_, zmq::socket_type::router),
      outbox_pull_(context_, zmq::socket_type::pull),
      outbox_push_(context_, zmq::socket_type::push),
      handler_(std::move(handler)) {
  router_.set(zmq::sockopt::linger, 0);
  // Replies to a client that has gone away are dropped instead of piling up.
  router_.set(zmq::sockopt::router_mandatory, 0);
  // libzmq itself drops peers sending frames past the read limit; frames a little
  // over the request limit still get an error reply that says why.
  router_.set(zmq::sockopt::maxmsgsize, int64_t(kMaxClientFrameReadBytes));
  if (curve) make_curve_server(router_, curve->keys);
  router_.bind(endpoint);
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  outbox_pull_.bind(kOutbox);
  outbox_push_.set(zmq::sockopt::linger, 0);
  outbox_push_.connect(kOutbox);
  thread_ = std::thread([this] { serve(); });
}

ZmqFrontend::~ZmqFrontend() {
  stopping_ = true;
  thread_.join();
}

void ZmqFrontend::reply(const std::string& client, const wire::ServerMessage& message) {
  std::lock_guard lock(push_mutex_);
  send_to(outbox_push_, client, message.SerializeAsString());
}

void ZmqFrontend::handle_frame(zmq::socket_t& router, const std::string& client, const zmq::message_t& payload) {
  metrics().channel_bytes("clients", "received").Increment(double(payload.size()));
  if (payload.size() > kMaxClientFrameBytes) {
    metrics().requests("malformed").Increment();
    log_event(LogLevel::info, "frame_refused", {{"bytes", payload.size()}, {"reason", "too large"}});
    send_to(router, client,
            malformed("frame of " + std::to_string(payload.size()) + " bytes exceeds the limit of " +
                      std::to_string(kMaxClientFrameBytes))
                .SerializeAsString());
    return;
  }
  wire::ClientMessage message;
  if (!message.ParseFromArray(payload.data(), int(payload.size())) ||
      message.kind_case() == wire::ClientMessage::KIND_NOT_SET) {
    metrics().requests("malformed").Increment();
    log_event(LogLevel::info, "frame_refused", {{"bytes", payload.size()}, {"reason", "not a ClientMessage"}});
    send_to(router, client, malformed("frame is not a tandem ClientMessage").SerializeAsString());
    return;
  }
  handler_(client, message);
}

void ZmqFrontend::serve() {
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0}, {outbox_pull_.handle(), 0, ZMQ_POLLIN, 0}};
  while (!stopping_) {
    zmq::poll(items, 2, std::chrono::milliseconds(kPollMilliseconds));
    if (items[0].revents & ZMQ_POLLIN) {
      // [client id][payload] from a DEALER; [client id][empty][payload] from a REQ.
      std::vector<zmq::message_t> parts;
      (void)zmq::recv_multipart(router_, std::back_inserter(parts));
      if (parts.size() >= 2) handle_frame(router_, parts.front().to_string(), parts.back());
    }
    while (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t client, payload;
      if (!outbox_pull_.recv(client, zmq::recv_flags::dontwait)) break;
      (void)outbox_pull_.recv(payload, zmq::recv_flags::none);
      metrics().channel_bytes("clients", "sent").Increment(double(payload.size()));
      router_.send(client, zmq::send_flags::sndmore);
      router_.send(payload, zmq::send_flags::none);
    }
  }
}

}  // namespace tandem
