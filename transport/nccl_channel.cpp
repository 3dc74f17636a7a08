#include "transport/nccl_channel.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/device.h"
#include "transport/nccl_library.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kSlots = 4;  // received frames a slow reader may leave waiting before the sender stalls

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
  }
}

std::string nccl_error(ncclResult_t r) { return nccl_library().get_error_string(r); }

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess && r != ncclInProgress) throw std::runtime_error(std::string(what) + ": " + nccl_error(r));
}

// Waits until the calls made on a non-blocking `comm` have been issued (or it broke).
void wait_issued(ncclComm_t comm, Clock::time_point deadline, const char* what) {
  for (;;) {
    ncclResult_t state = ncclSuccess;
    check_nccl(nccl_library().comm_get_async_error(comm, &state), what);
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) throw std::runtime_error(std::string(what) + ": " + nccl_error(state));
    if (Clock::now() > deadline) throw std::runtime_error(std::string(what) + ": timed out");
    std::this_thread::yield();
  }
}

// Waits until `stream` finished, the communicator broke, the deadline passed or `stop` was set:
// true only in the first case.
bool wait_done(ncclComm_t comm, cudaStream_t stream, Clock::time_point deadline, const std::atomic<bool>* stop) {
  for (int spins = 0;; ++spins) {
    const cudaError_t e = cudaStreamQuery(stream);
    if (e == cudaSuccess) return true;
    if (e != cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    ncclResult_t state = ncclSuccess;
    if (nccl_library().comm_get_async_error(comm, &state) != ncclSuccess ||
        (state != ncclSuccess && state != ncclInProgress))
      return false;
    if (Clock::now() > deadline || (stop && *stop)) return false;
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(20));  // idle: spare the core
  }
}

std::string to_hex(const ncclUniqueId& id) {
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : id.internal) hex += {digits[c >> 4], digits[c & 15]};
  return hex;
}

ncclUniqueId from_hex(std::string_view hex) {
  ncclUniqueId id{};
  if (hex.size() != 2 * sizeof id.internal) throw std::runtime_error("an NCCL group id is not 256 hex digits");
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::runtime_error("an NCCL group id is not hex");
  };
  for (size_t i = 0; i < sizeof id.internal; ++i) id.internal[i] = char(digit(hex[2 * i]) << 4 | digit(hex[2 * i + 1]));
  return id;
}

void require_nccl() {
  if (std::string why = nccl_unavailable_reason(); !why.empty()) throw std::runtime_error("no NCCL link: " + why);
}

// A non-blocking communicator of `ranks` on the current device (the init is only started).
ncclComm_t start_comm(int ranks, const ncclUniqueId& id, int rank) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  // An older libnccl reads the fields of the version it knows; a newer one those we know.
  config.version = std::min<unsigned>(config.version, unsigned(nccl_library().version));
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  check_nccl(nccl_library().comm_init_rank_config(&comm, ranks, id, rank, &config), "ncclCommInitRankConfig");
  return comm;
}

}  // namespace

// The state of one end. Sends run on the caller's thread over `out`; a receiver thread keeps
// a receive posted on `in` (two ranks), or send itself receives (loopback, one communicator).
struct NcclChannel::State {
  int device = 0;
  int peer = 0;  // the other end's rank (0 for loopback)
  bool loopback = false;
  size_t max_frame = 0;
  std::chrono::milliseconds timeout{10000};
  ncclComm_t out = nullptr, in = nullptr;  // loopback: out only
  cudaStream_t out_stream = nullptr, in_stream = nullptr;
  void* staging = nullptr;        // a host frame on its way out
  int64_t* out_length = nullptr;  // device: the length sent before each frame
  int64_t* in_length = nullptr;   // device: the length received
  std::vector<void*> slots;       // device: received frames
  std::mutex send_mutex;

  std::mutex mutex;  // guards what follows
  std::condition_variable changed;
  std::deque<std::pair<int, size_t>> full;  // (slot, bytes) in arrival order
  std::vector<int> free_slots;
  std::atomic<bool> broken{false};  // also read by the sender without `mutex`
  std::atomic<bool> stopping{false};
  std::thread receiver;

  ~State() {
    {
      std::lock_guard lock(mutex);  // so that a reader waiting for a slot cannot miss it
      stopping = true;
      changed.notify_all();
    }
    if (receiver.joinable()) receiver.join();  // it aborts `in` on its way out
    {
      std::lock_guard lock(send_mutex);
      if (out) nccl_library().comm_abort(out);  // abort, not destroy: never waits on a vanished peer
    }
    cudaSetDevice(device);
    for (void* p : slots) cudaFree(p);
    cudaFree(staging);
    cudaFree(out_length);
    cudaFree(in_length);
    if (out_stream) cudaStreamDestroy(out_stream);
    if (in_stream) cudaStreamDestroy(in_stream);
  }

  void allocate() {
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&out_stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaStreamCreateWithFlags(&in_stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaMalloc(&staging, std::max<size_t>(max_frame, 1)), "cudaMalloc");
    check_cuda(cudaMalloc(&out_length, sizeof(int64_t)), "cudaMalloc");
    check_cuda(cudaMalloc(&in_length, sizeof(int64_t)), "cudaMalloc");
    for (int i = 0; i < kSlots; ++i) {
      check_cuda(cudaMalloc(&slots.emplace_back(), std::max<size_t>(max_frame, 1)), "cudaMalloc");
      free_slots.push_back(i);
    }
  }

  void mark_broken() {
    std::lock_guard lock(mutex);
    broken = true;
    changed.notify_all();
  }

  // A free slot, waiting for the reader to consume one if `wait`; -1 when there is none
  // (stopping, broken, or none free without waiting).
  int take_free_slot(bool wait) {
    std::unique_lock lock(mutex);
    if (wait) changed.wait(lock, [&] { return !free_slots.empty() || stopping || broken; });
    if (stopping || broken || free_slots.empty()) return -1;
    const int slot = free_slots.back();
    free_slots.pop_back();
    return slot;
  }

  void deliver(int slot, size_t bytes) {
    std::lock_guard lock(mutex);
    full.emplace_back(slot, bytes);
    changed.notify_all();
  }

  // Receiver thread (two ranks): a length, then that many bytes, into the next free slot.
  void receive_loop() {
    cudaSetDevice(device);
    while (!stopping) {
      const int slot = take_free_slot(true);
      if (slot < 0) break;
      const std::optional<size_t> length = receive_length();
      // Once its length came the frame is under way, so its bytes get the usual deadline.
      if (!length || (*length > 0 && !receive_into(slots[size_t(slot)], *length, Clock::now() + timeout))) break;
      deliver(slot, *length);
    }
    mark_broken();
    nccl_library().comm_abort(in);  // cancels a receive still posted
    in = nullptr;
  }

  // The next frame's length; nothing when the link broke, is stopping, or the length is past
  // the limit (refused before a byte of the frame is received).
  std::optional<size_t> receive_length() {
    int64_t length = -1;
    if (!receive_into(in_length, sizeof length, Clock::time_point::max()) ||
        cudaMemcpy(&length, in_length, sizeof length, cudaMemcpyDeviceToHost) != cudaSuccess)
      return std::nullopt;
    if (length < 0 || uint64_t(length) > max_frame) return std::nullopt;
    return size_t(length);
  }

  // Receives `bytes` from the peer into device memory at `data`.
  bool receive_into(void* data, size_t bytes, Clock::time_point deadline) {
    try {
      check_nccl(nccl_library().recv(data, bytes, ncclInt8, peer, in, in_stream), "ncclRecv");
      wait_issued(in, Clock::now() + timeout, "ncclRecv");
    } catch (const std::runtime_error&) { return false; }
    return wait_done(in, in_stream, deadline, &stopping);
  }

  // Sends one frame: `bytes` at device address `data`, or, when `host` is given, those
  // bytes copied to the device first.
  bool send_frame(const void* data, size_t bytes, const char* host = nullptr) {
    if (bytes > max_frame) return false;
    std::lock_guard lock(send_mutex);
    if (broken || !out) return false;
    try {
      cudaSetDevice(device);
      if (host && bytes > 0) {
        check_cuda(cudaMemcpy(staging, host, bytes, cudaMemcpyHostToDevice), "copy to the device");
        data = staging;
      }
      const auto deadline = Clock::now() + timeout;
      if (loopback) return send_to_self(data, bytes, deadline);
      const int64_t length = int64_t(bytes);
      check_cuda(cudaMemcpyAsync(out_length, &length, sizeof length, cudaMemcpyHostToDevice, out_stream), "copy");
      const NcclLibrary& nccl = nccl_library();
      check_nccl(nccl.send(out_length, sizeof length, ncclInt8, peer, out, out_stream), "ncclSend");
      wait_issued(out, deadline, "ncclSend");
      if (bytes > 0) {
        check_nccl(nccl.send(data, bytes, ncclInt8, peer, out, out_stream), "ncclSend");
        wait_issued(out, deadline, "ncclSend");
      }
      if (wait_done(out, out_stream, deadline, nullptr)) return true;
    } catch (const std::runtime_error&) {}
    nccl_library().comm_abort(out);  // the peer is gone or stuck: never wait on it again
    out = nullptr;
    mark_broken();
    return false;
  }

  // Loopback: the send and its receive in one group, as NCCL needs for a rank talking to itself.
  bool send_to_self(const void* data, size_t bytes, Clock::time_point deadline) {
    const int slot = take_free_slot(false);  // nobody reads: refuse rather than wait on ourselves
    if (slot < 0) return false;
    const NcclLibrary& nccl = nccl_library();
    if (bytes > 0) {
      check_nccl(nccl.group_start(), "ncclGroupStart");
      check_nccl(nccl.send(data, bytes, ncclInt8, 0, out, out_stream), "ncclSend");
      check_nccl(nccl.recv(slots[size_t(slot)], bytes, ncclInt8, 0, out, out_stream), "ncclRecv");
      check_nccl(nccl.group_end(), "ncclGroupEnd");
      wait_issued(out, deadline, "ncclGroupEnd");
      if (!wait_done(out, out_stream, deadline, nullptr)) throw std::runtime_error("loopback timed out");
    }
    deliver(slot, bytes);
    return true;
  }

  // Copies the next frame, waiting up to `wait`, to where `destination(bytes)` says (device
  // or host memory, as `kind` says) and frees its slot: its size, or nothing on timeout or
  // closure. What `destination` throws (the frame does not fit) drops the frame.
  std::optional<size_t> take(std::chrono::milliseconds wait, const std::function<void*(size_t)>& destination,
                             cudaMemcpyKind kind) {
    std::pair<int, size_t> frame;
    {
      std::unique_lock lock(mutex);
      changed.wait_for(lock, wait, [&] { return !full.empty() || broken; });
      if (full.empty()) return std::nullopt;
      frame = full.front();
      full.pop_front();
    }
    const auto [slot, bytes] = frame;
    cudaError_t e = cudaSuccess;
    try {
      void* to = destination(bytes);
      if (bytes > 0) {
        cudaSetDevice(device);
        e = cudaMemcpy(to, slots[size_t(slot)], bytes, kind);
      }
    } catch (...) {
      release(slot);
      throw;
    }
    release(slot);
    if (e != cudaSuccess) {
      cudaGetLastError();
      mark_broken();
      return std::nullopt;
    }
    return bytes;
  }

  void release(int slot) {
    std::lock_guard lock(mutex);
    free_slots.push_back(slot);
    changed.notify_all();
  }
};

std::string nccl_unavailable_reason() {
  if (cuda_device_count() == 0) return "no GPU: no CUDA device is usable here";
  return nccl_library().missing;
}

std::string nccl_version() {
  const NcclLibrary& nccl = nccl_library();
  return nccl.missing.empty() ? nccl_version_text(nccl.version) : "";
}

std::string nccl_new_group_ids() {
  require_nccl();
  ncclUniqueId to_drafter, to_verifier;
  check_nccl(nccl_library().get_unique_id(&to_drafter), "ncclGetUniqueId");
  check_nccl(nccl_library().get_unique_id(&to_verifier), "ncclGetUniqueId");
  return to_hex(to_drafter) + "," + to_hex(to_verifier);
}

NcclChannel::NcclChannel(std::unique_ptr<State> state) : state_(std::move(state)) {}
NcclChannel::~NcclChannel() = default;

std::unique_ptr<NcclChannel> NcclChannel::join(const NcclLinkSettings& settings) {
  require_nccl();
  if (settings.rank != 0 && settings.rank != 1) throw std::runtime_error("an NCCL link has ranks 0 and 1");
  const size_t comma = settings.group_ids.find(',');
  if (comma == std::string::npos) throw std::runtime_error("NCCL group ids are two ids, comma-separated");
  // Communicator 0 carries frames from rank 0 to rank 1, communicator 1 the other way.
  const ncclUniqueId ids[2] = {from_hex(std::string_view(settings.group_ids).substr(0, comma)),
                               from_hex(std::string_view(settings.group_ids).substr(comma + 1))};
  auto state = std::make_unique<State>();
  state->device = settings.device;
  state->peer = 1 - settings.rank;
  state->max_frame = settings.max_frame_bytes;
  state->timeout = settings.timeout;
  state->allocate();
  ncclComm_t comms[2] = {nullptr, nullptr};
  const auto deadline = Clock::now() + settings.timeout;
  try {
    check_nccl(nccl_library().group_start(), "ncclGroupStart");
    for (int c = 0; c < 2; ++c) comms[c] = start_comm(2, ids[c], settings.rank);
    check_nccl(nccl_library().group_end(), "ncclGroupEnd");
    for (ncclComm_t comm : comms) wait_issued(comm, deadline, "joining the NCCL link");
  } catch (const std::runtime_error&) {
    for (ncclComm_t comm : comms)
      if (comm) nccl_library().comm_abort(comm);
    throw;
  }
  state->out = comms[settings.rank];
  state->in = comms[1 - settings.rank];
  State* s = state.get();
  state->receiver = std::thread([s] { s->receive_loop(); });
  return std::unique_ptr<NcclChannel>(new NcclChannel(std::move(state)));
}

std::unique_ptr<NcclChannel> NcclChannel::loopback(int device, size_t max_frame_bytes) {
  require_nccl();
  auto state = std::make_unique<State>();
  state->device = device;
  state->loopback = true;
  state->max_frame = max_frame_bytes;
  state->allocate();
  ncclUniqueId id;
  check_nccl(nccl_library().get_unique_id(&id), "ncclGetUniqueId");
  state->out = start_comm(1, id, 0);
  try {
    wait_issued(state->out, Clock::now() + state->timeout, "a one-rank NCCL communicator");
  } catch (const std::runtime_error&) {
    nccl_library().comm_abort(state->out);
    state->out = nullptr;
    throw;
  }
  return std::unique_ptr<NcclChannel>(new NcclChannel(std::move(state)));
}

bool NcclChannel::send(std::string_view frame) { return state_->send_frame(nullptr, frame.size(), frame.data()); }

bool NcclChannel::send_device(const void* data, size_t bytes) { return state_->send_frame(data, bytes); }

std::optional<std::string> NcclChannel::receive(std::chrono::milliseconds timeout) {
  std::string frame;
  auto into_frame = [&](size_t bytes) -> void* {
    frame.resize(bytes);
    return frame.data();
  };
  if (!state_->take(timeout, into_frame, cudaMemcpyDeviceToHost)) return std::nullopt;
  return frame;
}

std::optional<size_t> NcclChannel::receive_device(void* data, size_t capacity, std::chrono::milliseconds timeout) {
  auto into_data = [&](size_t bytes) -> void* {
    if (bytes > capacity)
      throw std::length_error("an NCCL frame of " + std::to_string(bytes) + " bytes does not fit in " +
                              std::to_string(capacity));
    return data;
  };
  return state_->take(timeout, into_data, cudaMemcpyDeviceToDevice);
}

bool NcclChannel::closed() const { return state_->broken; }

}  // namespace tandem
