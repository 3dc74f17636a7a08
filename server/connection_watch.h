#pragma once
// Tells an HTTP handler whether its client has gone. cpp-httplib 0.11 gives a handler
// no way to learn that the client of a plain (non-streamed) response closed its
// connection, so a non-streaming request would run on for nobody. The watch finds the
// connection's socket from the addresses httplib records (local and remote address
// and port, unique among live TCP connections) and peeks at it.
#include <httplib.h>
#include <sys/socket.h>

namespace tandem {

class ConnectionWatch {
 public:
  explicit ConnectionWatch(const httplib::Request& req);
  /// True once the client closed or reset its connection. A connection the watch cannot
  /// find (not TCP, say) never counts as closed.
  bool closed() const;

 private:
  // Whether fd is a TCP socket with exactly these two ends.
  bool is_ours(int fd) const;

  int fd_ = -1;
  sockaddr_storage local_{}, remote_{};
};

}  // namespace tandem
