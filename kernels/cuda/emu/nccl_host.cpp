// The NCCL calls tandem makes (include/nccl.h), over host memory and Unix sockets, for the
// emulated build: built as libtandem_nccl_host.so and opened in place of libnccl
// (TANDEM_NCCL_LIBRARY), so NCCL links run in CI between threads or processes of one
// machine. "Device" buffers are host memory there (emu/runtime.cpp).
//
// A unique id names an abstract Unix socket. A two-rank communicator is one connection
// (rank 0 accepts, rank 1 connects); a one-rank communicator is a socket pair to itself.
// Initialisation is non-blocking, as the project asks: the connection is made on a thread
// and ncclCommGetAsyncError says ncclInProgress until it is up. Each communicator has a
// sender and a receiver thread: a send or receive is queued on its stream (which is busy
// until it is done, emu/stream.h) and done in order. A peer that goes away makes the
// communicator's state ncclRemoteError; its unfinished operations end when it is aborted.
#include <nccl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cuda/emu/stream.h"

namespace {

constexpr char kIdPrefix[] = "tandem-nccl-host:";
constexpr auto kConnectTimeout = std::chrono::seconds(60);

struct Op {
  char* data;
  size_t bytes;
  CUstream_st* stream;
};

// Operations waiting for a thread, in order.
class OpQueue {
 public:
  void push(Op op) {
    std::lock_guard lock(mutex_);
    ops_.push_back(op);
    changed_.notify_all();
  }
  // The next operation; false once closed.
  bool pop(Op& op) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !ops_.empty() || closed_; });
    if (closed_) return false;
    op = ops_.front();
    ops_.pop_front();
    return true;
  }
  // Closes the queue; what was still in it.
  std::deque<Op> close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
    return std::move(ops_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Op> ops_;
  bool closed_ = false;
};

sockaddr_un address_of(const ncclUniqueId& id) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // Abstract namespace (a leading NUL): nothing on disk to clean up.
  const std::string name = std::string("tandem-nccl-") + (id.internal + sizeof kIdPrefix - 1);
  std::memcpy(address.sun_path + 1, name.data(), std::min(name.size(), sizeof address.sun_path - 2));
  return address;
}

bool write_all(int fd, const char* data, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::send(fd, data, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    bytes -= size_t(n);
  }
  return true;
}

bool read_all(int fd, char* data, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::recv(fd, data, bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    bytes -= size_t(n);
  }
  return true;
}

}  // namespace

struct ncclComm {
  int ranks = 1, rank = 0;
  ncclUniqueId id{};
  std::atomic<ncclResult_t> state{ncclInProgress};
  std::atomic<bool> aborted{false};
  int fd_out = -1, fd_in = -1;
  OpQueue sends, recvs;
  std::mutex stuck_mutex;
  std::vector<Op> stuck;  // operations a broken link left unfinished
  std::thread connector, sender, receiver;

  void start() {
    connector = std::thread([this] {
      if (!connect_link()) {
        if (state == ncclInProgress) state = ncclSystemError;
        return;
      }
      sender = std::thread([this] { run(sends, fd_out, true); });
      receiver = std::thread([this] { run(recvs, fd_in, false); });
      state = ncclSuccess;
    });
  }

  // Moves the queue's operations over the socket until it closes or the link breaks.
  void run(OpQueue& queue, int fd, bool sending) {
    Op op;
    while (queue.pop(op)) {
      const bool ok = sending ? write_all(fd, op.data, op.bytes) : read_all(fd, op.data, op.bytes);
      if (!ok) {
        std::lock_guard lock(stuck_mutex);
        stuck.push_back(op);
        if (!aborted) state = ncclRemoteError;
        return;
      }
      op.stream->end();
    }
  }

  bool connect_link() {
    if (ranks == 1) {
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return false;
      fd_out = pair[0];
      fd_in = pair[1];
      return true;
    }
    const sockaddr_un address = address_of(id);
    const auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
    int fd = -1;
    if (rank == 0) {
      const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
      if (listener < 0 || bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
          listen(listener, 1) != 0) {
        if (listener >= 0) close(listener);
        return false;
      }
      while (fd < 0 && !aborted && std::chrono::steady_clock::now() < deadline) {
        pollfd p{listener, POLLIN, 0};
        if (poll(&p, 1, 20) > 0) fd = accept(listener, nullptr, nullptr);
      }
      close(listener);
    } else {
      while (fd < 0 && !aborted && std::chrono::steady_clock::now() < deadline) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) break;
        if (fd >= 0) close(fd);
        fd = -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (fd < 0) return false;
    // Each side says which rank it is: two rank 0s (or 1s) on one id is a misuse.
    const int32_t mine = rank;
    int32_t theirs = -1;
    if (!write_all(fd, reinterpret_cast<const char*>(&mine), 4) || !read_all(fd, reinterpret_cast<char*>(&theirs), 4) ||
        theirs != 1 - rank) {
      close(fd);
      state = ncclInvalidUsage;
      return false;
    }
    fd_out = fd_in = fd;
    return true;
  }

  // Stops everything and ends every unfinished operation, so no stream waits forever.
  void abort() {
    aborted = true;
    if (connector.joinable()) connector.join();  // gives up connecting within 20 ms
    for (int fd : {fd_out, fd_in})
      if (fd >= 0) shutdown(fd, SHUT_RDWR);  // wakes a thread blocked on the socket
    std::deque<Op> left = sends.close();
    for (const Op& op : recvs.close()) left.push_back(op);
    if (sender.joinable()) sender.join();
    if (receiver.joinable()) receiver.join();
    for (const Op& op : stuck) left.push_back(op);
    for (const Op& op : left) op.stream->end();
    if (fd_out >= 0) close(fd_out);
    if (fd_in >= 0 && fd_in != fd_out) close(fd_in);
  }
};

namespace {

ncclResult_t queue_op(ncclComm* comm, char* data, size_t count, ncclDataType_t type, int peer, cudaStream_t stream,
                      bool sending) {
  if (!comm || !stream || (count > 0 && !data)) return ncclInvalidArgument;
  if (peer != (comm->ranks == 1 ? 0 : 1 - comm->rank)) return ncclInvalidArgument;
  const size_t unit = type == ncclInt32 || type == ncclFloat32 ? 4 : 1;
  if (count == 0) return ncclSuccess;
  stream->begin();
  (sending ? comm->sends : comm->recvs).push({data, count * unit, stream});
  return comm->state == ncclSuccess || comm->state == ncclInProgress ? ncclSuccess : comm->state.load();
}

}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::random_device random;
  std::string text = kIdPrefix;
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) text += digits[random() % 16];
  *id = {};
  std::memcpy(id->internal, text.data(), text.size());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int ranks, ncclUniqueId id, int rank, ncclConfig_t* config) {
  if (!comm || ranks < 1 || ranks > 2 || rank < 0 || rank >= ranks) return ncclInvalidArgument;
  if (std::strncmp(id.internal, kIdPrefix, sizeof kIdPrefix - 1) != 0) return ncclInvalidArgument;
  auto* c = new ncclComm;
  c->ranks = ranks;
  c->rank = rank;
  c->id = id;
  c->start();
  *comm = c;
  if (config && config->blocking == 0) return ncclInProgress;
  while (c->state == ncclInProgress) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return c->state;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* state) {
  if (!comm || !state) return ncclInvalidArgument;
  *state = comm->state;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (!comm) return ncclSuccess;
  comm->abort();
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclSend(const void* data, size_t count, ncclDataType_t type, int peer, ncclComm_t comm,
                      cudaStream_t stream) {
  return queue_op(comm, const_cast<char*>(static_cast<const char*>(data)), count, type, peer, stream, true);
}

ncclResult_t ncclRecv(void* data, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t stream) {
  return queue_op(comm, static_cast<char*>(data), count, type, peer, stream, false);
}

// Sends and receives start as they are queued, each side on its own thread, so a group
// needs no holding back.
ncclResult_t ncclGroupStart() { return ncclSuccess; }
ncclResult_t ncclGroupEnd() { return ncclSuccess; }

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error (the host transport could not connect)";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
  }
  return "unknown result code";
}

}  // extern "C"
