#include "server/zmq_frontend.h"

#include <cstring>
#include <iterator>
#include <vector>
#include <zmq_addon.hpp>

#include "observability/log.h"
#include "observability/metrics.h"
#include "server/client_id.h"

namespace tandem {
namespace {

constexpr const char* kOutbox = "inproc://tandem-frontend-outbox";
constexpr const char* kMonitor = "inproc://tandem-frontend-monitor";
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

constexpr const char* kHex = "0123456789abcdef";

// A ZeroMQ client's name (server/client_id.h): who is the name its CURVE key has in the
// authorized keys file (the ZAP handler's User-Id), else '@' and its address; the connection
// is its routing id in hex.
std::string client_id(const zmq::message_t& routing, zmq::message_t& payload) {
  ClientId id{"zmq", "", ""};
  if (const char* user = zmq_msg_gets(payload.handle(), "User-Id"); user && *user)
    id.who = user;
  else if (const char* address = zmq_msg_gets(payload.handle(), "Peer-Address"); address && *address)
    id.who.append("@").append(address);  // not "@" + ...: GCC 12's false -Wrestrict
  for (unsigned char c : routing.to_string_view()) id.connection += {kHex[c >> 4], kHex[c & 15]};
  return format_client(id);
}

}  // namespace

ZmqFrontend::ZmqFrontend(const std::string& endpoint, Handler handler, const CurveServer* curve, GoneHandler gone)
    : context_(1),
      zap_(curve ? std::make_unique<ZapHandler>(context_, curve->authorized) : nullptr),
      router_(context_, zmq::socket_type::router),
      outbox_pull_(context_, zmq::socket_type::pull),
      outbox_push_(context_, zmq::socket_type::push),
      monitor_(context_, zmq::socket_type::pair),
      handler_(std::move(handler)),
      gone_(std::move(gone)) {
  router_.set(zmq::sockopt::linger, 0);
  // Replies to a client that has gone away are dropped instead of piling up.
  router_.set(zmq::sockopt::router_mandatory, 0);
  // libzmq itself drops peers sending frames past the read limit; frames a little
  // over the request limit still get an error reply that says why.
  router_.set(zmq::sockopt::maxmsgsize, int64_t(kMaxClientFrameReadBytes));
  if (curve) make_curve_server(router_, curve->keys);
  router_.bind(endpoint);
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  // Closed connections, to end their clients' requests whatever their heartbeat setting.
  zmq_socket_monitor(router_.handle(), kMonitor, ZMQ_EVENT_DISCONNECTED);
  monitor_.connect(kMonitor);
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
  send_to(outbox_push_, zmq_routing_id(client), message.SerializeAsString());
}

void ZmqFrontend::handle_frame(zmq::socket_t& router, const zmq::message_t& routing, zmq::message_t& payload) {
  const std::string client = client_id(routing, payload);
  metrics().channel_bytes("clients", "received").Increment(double(payload.size()));
  if (payload.size() > kMaxClientFrameBytes) {
    metrics().requests("malformed").Increment();
    log_event(LogLevel::info, "frame_refused", {{"bytes", payload.size()}, {"reason", "too large"}});
    send_to(router, routing.to_string(),
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
    send_to(router, routing.to_string(), malformed("frame is not a tandem ClientMessage").SerializeAsString());
    return;
  }
  // The connection it came on, to know whose requests end when it closes.
  const int fd = zmq_msg_get(payload.handle(), ZMQ_SRCFD);
  if (fd >= 0 && gone_) client_of_socket_[fd] = client;
  handler_(client, message);
}

void ZmqFrontend::handle_disconnect() {
  zmq::message_t event, address;
  if (!monitor_.recv(event, zmq::recv_flags::dontwait)) return;
  if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::none);
  if (event.size() < 6) return;
  int32_t fd = 0;  // the event's value: the closed socket (2 bytes of event id, then 4 of value)
  std::memcpy(&fd, static_cast<const char*>(event.data()) + 2, sizeof fd);
  auto it = client_of_socket_.find(fd);
  if (it == client_of_socket_.end()) return;
  const std::string client = it->second;
  client_of_socket_.erase(it);
  gone_(client);
}

void ZmqFrontend::serve() {
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                             {outbox_pull_.handle(), 0, ZMQ_POLLIN, 0},
                             {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
  while (!stopping_) {
    zmq::poll(items, 3, std::chrono::milliseconds(kPollMilliseconds));
    if (items[2].revents & ZMQ_POLLIN) handle_disconnect();
    if (items[0].revents & ZMQ_POLLIN) {
      // [client id][payload] from a DEALER; [client id][empty][payload] from a REQ.
      std::vector<zmq::message_t> parts;
      (void)zmq::recv_multipart(router_, std::back_inserter(parts));
      if (parts.size() >= 2) handle_frame(router_, parts.front(), parts.back());
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
