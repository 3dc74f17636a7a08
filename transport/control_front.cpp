#include "transport/control_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/scribe_impl.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <list>
#include <stdexcept>

#include "observability/log.h"

namespace tandem {
namespace {

constexpr size_t kBaspHeaderBytes = 32;   // caf::io::basp::header_size
constexpr size_t kPayloadLengthAt = 4;    // operation, two pad bytes, flags, then the length (big-endian)
constexpr size_t kBufferBytes = 1 << 16;  // bytes held per direction of a link
constexpr size_t kMaxLinks = 1024;        // relayed connections at once; more are closed

// CAF's own connection and listener, on a Unix socket: CAF reads a TCP socket's address and
// port where it would read these two (and stops the process on any other kind of socket).
class UnixScribe : public caf::io::network::scribe_impl {
 public:
  using scribe_impl::scribe_impl;
  std::string addr() const override { return "localhost"; }
  uint16_t port() const override { return 0; }
};

class UnixDoorman : public caf::io::network::doorman_impl {
 public:
  UnixDoorman(caf::io::network::default_multiplexer& mx, int fd, uint16_t port) : doorman_impl(mx, fd), port_(port) {}
  std::string addr() const override { return "localhost"; }
  uint16_t port() const override { return port_; }
  bool new_connection() override {  // doorman_impl's, with a UnixScribe
    if (detached()) return false;
    auto& mx = acceptor_.backend();
    auto scribe = caf::make_counted<UnixScribe>(mx, acceptor_.accepted_socket());
    const auto handle = scribe->hdl();
    parent()->add_scribe(std::move(scribe));
    return doorman::new_connection(&mx, handle);
  }

 private:
  uint16_t port_;
};

// CAF's middleman actor, opening its listener on the Unix socket instead of a TCP port:
// what publish does, minus the network.
class UnixSocketMiddleman : public caf::io::middleman_actor_impl {
 public:
  UnixSocketMiddleman(caf::actor_config& config, caf::actor broker, int listening_fd)
      : caf::io::middleman_actor_impl(config, std::move(broker)), fd_(listening_fd) {}

 protected:
  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char*, bool) override {
    auto& mx = static_cast<caf::io::network::default_multiplexer&>(system().middleman().backend());
    return caf::io::doorman_ptr{caf::make_counted<UnixDoorman>(mx, fd_, port)};
  }

 private:
  int fd_;
};

// Where a stream of BASP messages is: in a header, or in the payload a header announced.
class BaspFrames {
 public:
  // Follows `n` more bytes; false once a header claims more than kMaxControlPayloadBytes.
  bool follow(const char* data, size_t n) {
    for (size_t i = 0; i < n;) {
      if (payload_left_ > 0) {
        const size_t take = std::min<size_t>(payload_left_, n - i);
        payload_left_ -= take;
        i += take;
        continue;
      }
      header_[header_bytes_++] = static_cast<unsigned char>(data[i++]);
      if (header_bytes_ < kBaspHeaderBytes) continue;
      header_bytes_ = 0;
      const unsigned char* p = header_ + kPayloadLengthAt;
      payload_left_ = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
      if (payload_left_ > kMaxControlPayloadBytes) return false;
    }
    return true;
  }
  uint32_t claimed() const { return payload_left_; }

 private:
  unsigned char header_[kBaspHeaderBytes] = {};
  size_t header_bytes_ = 0;
  uint32_t payload_left_ = 0;
};

// One relayed connection.
struct Link {
  int outside = -1, inside = -1;
  std::string inbound, outbound;  // read from one side, waiting to be written to the other
  BaspFrames frames;
  std::string peer;
  ~Link() {
    if (outside >= 0) close(outside);
    if (inside >= 0) close(inside);
  }
};

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Reads what `from` has into `into` (up to kBufferBytes); false if it closed or failed.
bool read_into(int from, std::string& into, size_t* got) {
  *got = 0;
  if (into.size() >= kBufferBytes) return true;  // full: the other side must take some first
  char buffer[kBufferBytes];
  const ssize_t n = recv(from, buffer, kBufferBytes - into.size(), 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
  *got = n > 0 ? size_t(n) : 0;
  into.append(buffer, *got);
  return true;
}

// Writes what it can of `from` to `to`; false if `to` failed.
bool write_from(std::string& from, int to) {
  const ssize_t n = send(to, from.data(), from.size(), MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  from.erase(0, size_t(n));
  return true;
}

int listen_tcp(const std::string& host, uint16_t port, uint16_t* bound) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0 || !found)
    throw std::runtime_error("cannot listen on " + host + ":" + service + ": unknown address");
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  const bool ok = bind(fd, found->ai_addr, found->ai_addrlen) == 0 && listen(fd, 128) == 0;
  freeaddrinfo(found);
  if (!ok) {
    const std::string why = std::strerror(errno);
    close(fd);
    throw std::runtime_error("cannot listen on " + host + ":" + service + ": " + why);
  }
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  *bound = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  set_nonblocking(fd);
  return fd;
}

std::string peer_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text, sizeof text);
  else if (address.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, text, sizeof text);
  return text;
}

}  // namespace

ControlFront::ControlFront(caf::actor_system& system, const caf::actor& actor, const std::string& host, uint16_t port) {
  listener_ = listen_tcp(host, port, &port_);    // first: an address that cannot be bound leaves CAF untouched
  char folder[] = "/tmp/tandem-control-XXXXXX";  // mode 0700: only this user reaches the socket
  if (!mkdtemp(folder) || pipe(wake_) != 0) {
    close(listener_);
    throw std::runtime_error(std::string("cannot make a folder for the control socket: ") + std::strerror(errno));
  }
  folder_ = folder;
  socket_path_ = folder_ + "/caf.sock";
  const int unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path_.c_str(), sizeof address.sun_path - 1);
  std::string failure;
  if (bind(unix_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(unix_fd, 128) != 0) {
    failure = std::strerror(errno);
    close(unix_fd);
  } else {
    auto broker = system.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    auto middleman = system.spawn<UnixSocketMiddleman, caf::hidden>(broker, unix_fd);
    caf::scoped_actor self{system};
    self->request(middleman, caf::infinite, caf::publish_atom::value, uint16_t(0),
                  caf::actor_cast<caf::strong_actor_ptr>(actor), std::set<std::string>{}, std::string(), true)
        .receive([](uint16_t) {}, [&](caf::error& e) { failure = system.render(e); });
    anon_send_exit(middleman, caf::exit_reason::user_shutdown);  // the doorman lives on in the broker
  }
  if (!failure.empty()) {
    close(listener_);
    close(wake_[0]);
    close(wake_[1]);
    std::error_code ignored;
    std::filesystem::remove_all(folder_, ignored);
    throw std::runtime_error("cannot listen on " + socket_path_ + ": " + failure);
  }
  thread_ = std::thread([this] { relay(); });
}

ControlFront::~ControlFront() {
  stopping_ = true;
  (void)!write(wake_[1], "x", 1);
  thread_.join();
  close(listener_);
  close(wake_[0]);
  close(wake_[1]);
  std::error_code ignored;
  std::filesystem::remove_all(folder_, ignored);
}

void ControlFront::relay() {
  std::list<Link> links;
  std::vector<pollfd> polled;
  while (!stopping_) {
    polled.assign({{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}});
    for (Link& l : links) {
      polled.push_back(
          {l.outside, short((l.inbound.size() < kBufferBytes ? POLLIN : 0) | (l.outbound.empty() ? 0 : POLLOUT)), 0});
      polled.push_back(
          {l.inside, short((l.outbound.size() < kBufferBytes ? POLLIN : 0) | (l.inbound.empty() ? 0 : POLLOUT)), 0});
    }
    if (poll(polled.data(), polled.size(), -1) < 0) continue;
    size_t at = 2;
    for (auto it = links.begin(); it != links.end(); at += 2) {
      Link& l = *it;
      const short out = polled[at].revents, in = polled[at + 1].revents;
      bool alive = true;
      size_t got = 0;
      if (out & (POLLIN | POLLHUP | POLLERR)) {
        alive = read_into(l.outside, l.inbound, &got);
        if (alive && !l.frames.follow(l.inbound.data() + l.inbound.size() - got, got)) {
          log_event(LogLevel::warn, "control_refused",
                    {{"peer", l.peer}, {"claimed_bytes", l.frames.claimed()}, {"limit", kMaxControlPayloadBytes}});
          alive = false;
        }
      }
      if (alive && (in & (POLLIN | POLLHUP | POLLERR))) alive = read_into(l.inside, l.outbound, &got);
      if (alive && (out & POLLOUT)) alive = write_from(l.outbound, l.outside);
      if (alive && (in & POLLOUT)) alive = write_from(l.inbound, l.inside);
      it = alive ? std::next(it) : links.erase(it);
    }
    if (polled[1].revents & POLLIN) {
      sockaddr_storage from{};
      socklen_t length = sizeof from;
      const int outside = accept4(listener_, reinterpret_cast<sockaddr*>(&from), &length, SOCK_CLOEXEC);
      if (outside < 0) continue;
      if (links.size() >= kMaxLinks) {
        close(outside);
        continue;
      }
      Link& l = links.emplace_back();
      l.outside = outside;
      l.peer = peer_of(from);
      l.inside = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::strncpy(address.sun_path, socket_path_.c_str(), sizeof address.sun_path - 1);
      if (connect(l.inside, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        links.pop_back();
        continue;
      }
      set_nonblocking(l.outside);
      set_nonblocking(l.inside);
    }
  }
}

}  // namespace tandem
