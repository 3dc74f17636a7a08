// A build without CUDA or without NCCL's header: no NCCL links, said plainly.
#include <stdexcept>

#include "transport/nccl_channel.h"

namespace tandem {
namespace {
const char* const kWhy = "this build of tandem has no NCCL (built without CUDA or without nccl.h)";
}

std::string nccl_unavailable_reason() { return kWhy; }
std::string nccl_version() { return ""; }
std::string nccl_new_group_ids() { throw std::runtime_error(kWhy); }

struct NcclChannel::State {};
NcclChannel::NcclChannel(std::unique_ptr<State> state) : state_(std::move(state)) {}
NcclChannel::~NcclChannel() = default;
std::unique_ptr<NcclChannel> NcclChannel::join(const NcclLinkSettings&) { throw std::runtime_error(kWhy); }
std::unique_ptr<NcclChannel> NcclChannel::loopback(int, size_t) { throw std::runtime_error(kWhy); }
bool NcclChannel::send(std::string_view) { return false; }
std::optional<std::string> NcclChannel::receive(std::chrono::milliseconds) { return std::nullopt; }
bool NcclChannel::send_device(const void*, size_t) { return false; }
std::optional<size_t> NcclChannel::receive_device(void*, size_t, std::chrono::milliseconds) { return std::nullopt; }
bool NcclChannel::closed() const { return true; }

}  // namespace tandem
