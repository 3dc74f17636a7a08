#pragma once
// A raw TCP connection to an http://HOST:PORT address, for the tests that speak HTTP as an
// attacker would: half-sent headers, bodies the server should never read, many at once.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace tandem::test {

class RawConnection {
 public:
  // `receive_buffer` > 0: the socket's receive buffer in bytes (a client that reads slowly).
  explicit RawConnection(const std::string& http, int receive_buffer = 0) {
    const std::string host_port = http.substr(http.find("//") + 2);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(uint16_t(std::stoi(host_port.substr(host_port.find(':') + 1))));
    inet_pton(AF_INET, host_port.substr(0, host_port.find(':')).c_str(), &address.sin_addr);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawConnection() { close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return connected_; }
  // False once the server has closed the connection (or never accepted it).
  bool send_text(const std::string& text) {
    for (size_t sent = 0; sent < text.size();) {
      const ssize_t n = ::send(fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += size_t(n);
    }
    return true;
  }
  // What the server sends until it closes or `timeout` passes.
  std::string read_all(std::chrono::milliseconds timeout = std::chrono::seconds(10)) { return read_until("", timeout); }
  // What the server sends until `end` has come (empty: until it closes), or `timeout` passes.
  std::string read_until(const std::string& end, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    char buffer[4096];
    while (end.empty() || out.find(end) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) break;
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, size_t(n));
    }
    return out;
  }
  // Whether the server closes the connection within `timeout` (what it sends first is dropped).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[4096];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, int(left.count())) <= 0) return false;
      if (recv(fd_, buffer, sizeof buffer, 0) <= 0) return true;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace tandem::test
