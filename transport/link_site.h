#pragma once
// Which link a drafter and its verifier use, decided when the scheduler pairs them: NCCL
// when both run on GPUs that NCCL can join (one machine, or a network NCCL reaches both
// over), ZeroMQ otherwise. Each node states its site when it joins; the rest is a pure
// function of the two sites.
#include <string>

#include "kernels/device.h"

namespace tandem {

/// Where a node's data end runs, as far as choosing links goes.
struct LinkSite {
  std::string host;     // the machine (its kernel's boot id: the same in every container on it)
  std::string gpu;      // UUID of the GPU its model runs on ('' : the CPU)
  std::string nccl;     // libnccl version when it can make NCCL links ('' : it cannot)
  std::string network;  // an NCCL network it shares with other machines (--nccl-network; '' : none)
  std::string why_not;  // why it cannot make NCCL links, when it cannot
  bool operator==(const LinkSite&) const = default;
};

/// This process's site for a model on `device`. `link` is the node's --link: "auto" (NCCL
/// where it can) or "zeromq" (never NCCL). Throws std::invalid_argument for another value.
LinkSite local_link_site(const Device& device, const std::string& link, const std::string& network);

/// One line for the join message, and back. A site from the network is checked, not trusted:
/// over 1024 bytes, or a field that is not key=value, gives an empty site (ZeroMQ only).
std::string format_link_site(const LinkSite& site);
LinkSite parse_link_site(const std::string& text);

/// The link chosen for a pair, and why, for logs, /health and metrics.
struct LinkChoice {
  std::string link;    // "nccl" or "zeromq"
  std::string reason;  // e.g. "both on GPUs of one machine", "the drafter runs on the CPU"
  bool operator==(const LinkChoice&) const = default;
};
LinkChoice choose_link(const LinkSite& verifier, const LinkSite& drafter);

/// The serve and node banner's line on links: "links: nccl 2.28.9 on cuda:0" or "links:
/// zeromq only (no GPU: ...)".
std::string describe_links(const LinkSite& site, const Device& device);

}  // namespace tandem
