#pragma once
// NCCL data links: frames between two GPU processes moved device to device by ncclSend and
// ncclRecv, behind the same Channel interface as ZeroMQ, plus device buffers that never
// touch host memory. libnccl is opened at run time (libnccl.so.2, or TANDEM_NCCL_LIBRARY),
// so a binary without it, or a machine without a GPU, simply has no NCCL links.
//
// A link is one group of two ranks (0: the verifier, 1: its drafter) with one communicator
// per direction, so a send and the receive always posted for the peer's next frame never
// queue behind each other. A frame is an 8-byte length, then its bytes; the receiving end
// refuses a length over its limit (and closes the link) before it receives the bytes.
// Every wait has a deadline; a link whose peer stops answering inside NCCL is aborted.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "transport/channel.h"

namespace tandem {

/// Why NCCL links cannot be made here (no GPU, no libnccl, a build without CUDA), one
/// line; empty when they can.
std::string nccl_unavailable_reason();
/// The loaded libnccl's version ("2.28.9"); empty when none is loaded.
std::string nccl_version();

/// Ids of a new link group, as text for the control plane (hex; one id per direction).
/// The process that makes them hosts the group's rendezvous until both ranks joined, so
/// the verifier (rank 0) makes them. Throws std::runtime_error when NCCL is unavailable.
std::string nccl_new_group_ids();

/// How one end joins a link.
struct NcclLinkSettings {
  int device = 0;                            // the CUDA device this end's buffers live on
  int rank = 0;                              // 0 or 1
  std::string group_ids;                     // nccl_new_group_ids() of rank 0, handed to both ends
  std::chrono::milliseconds timeout{10000};  // joining, and each frame's send
  size_t max_frame_bytes = size_t(1) << 20;  // both ends must agree
};

/// One end of an NCCL link. send/receive carry host frames (copied to and from the device);
/// send_device/receive_device carry device memory as it is.
class NcclChannel : public Channel {
 public:
  /// Joins the group as `settings.rank`, waiting up to the timeout for the other end. Throws
  /// std::runtime_error (NCCL unavailable, bad ids, the peer never came).
  static std::unique_ptr<NcclChannel> join(const NcclLinkSettings& settings);
  /// A one-rank link to itself on `device`: what is sent is received back, through NCCL.
  static std::unique_ptr<NcclChannel> loopback(int device, size_t max_frame_bytes);
  ~NcclChannel() override;

  bool send(std::string_view frame) override;
  std::optional<std::string> receive(std::chrono::milliseconds timeout) override;
  const char* kind() const override { return "nccl"; }

  /// Sends `bytes` of device memory at `data`; false when the link is closed or the frame too large.
  bool send_device(const void* data, size_t bytes);
  /// Receives the next frame into device memory at `data` (room for `capacity` bytes): its
  /// size, or nothing on timeout or closure. A frame larger than `capacity` is dropped and
  /// std::length_error thrown.
  std::optional<size_t> receive_device(void* data, size_t capacity, std::chrono::milliseconds timeout);
  /// Whether the link broke (the peer left, timed out or sent a frame over the limit).
  bool closed() const;

  struct State;

 private:
  explicit NcclChannel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tandem
