#include "transport/link_site.h"

#include <fstream>
#include <stdexcept>
#include <utility>

#include "transport/nccl_channel.h"

namespace tandem {
namespace {

constexpr size_t kMaxSiteBytes = 1024;

// The site's fields as the join message names them, in order.
constexpr std::pair<const char*, std::string LinkSite::*> kFields[] = {{"host", &LinkSite::host},
                                                                       {"gpu", &LinkSite::gpu},
                                                                       {"nccl", &LinkSite::nccl},
                                                                       {"net", &LinkSite::network},
                                                                       {"why", &LinkSite::why_not}};

std::string boot_id() {
  std::ifstream file("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(file, id);
  return id;
}

// A field's value with the separators it may not hold replaced.
std::string clean(std::string value) {
  for (char& c : value)
    if (c == ';' || c == '\n') c = ',';
  return value;
}

}  // namespace

LinkSite local_link_site(const Device& device, const std::string& link, const std::string& network) {
  if (link != "auto" && link != "zeromq") throw std::invalid_argument("--link is auto or zeromq, not '" + link + "'");
  LinkSite site;
  site.host = boot_id();
  if (device.kind == Device::Kind::Cuda) site.gpu = cuda_device_uuid(device.index);
  site.network = network;
  if (link == "zeromq")
    site.why_not = "--link zeromq was given";
  else if (site.gpu.empty())
    site.why_not = "it runs on the CPU";
  else if (std::string why = nccl_unavailable_reason(); !why.empty())
    site.why_not = why;
  else
    site.nccl = nccl_version();
  return site;
}

std::string format_link_site(const LinkSite& s) {
  std::string text;
  for (const auto& [key, field] : kFields) {
    if (!text.empty()) text += ';';
    text += key;
    text += '=';
    text += clean(s.*field);
  }
  return text;
}

LinkSite parse_link_site(const std::string& text) {
  LinkSite site;
  if (text.empty() || text.size() > kMaxSiteBytes) return {};
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    const std::string field = text.substr(start, end - start);
    const size_t eq = field.find('=');
    if (eq == std::string::npos) return {};
    const std::string name = field.substr(0, eq);
    for (const auto& [key, member] : kFields)  // other keys: from a newer node, ignored
      if (name == key) site.*member = field.substr(eq + 1);
    start = end + 1;
  }
  return site;
}

LinkChoice choose_link(const LinkSite& verifier, const LinkSite& drafter) {
  auto zeromq = [](const std::string& why) { return LinkChoice{"zeromq", why}; };
  for (const auto& [side, site] : {std::pair{"verifier", &verifier}, std::pair{"drafter", &drafter}})
    if (site->nccl.empty())
      return zeromq(std::string("the ") + side +
                    " cannot use NCCL: " + (site->why_not.empty() ? "it did not say why" : site->why_not));
  if (verifier.gpu == drafter.gpu) return zeromq("both on one GPU (NCCL takes one GPU per rank)");
  if (!verifier.host.empty() && verifier.host == drafter.host) return {"nccl", "both on GPUs of one machine"};
  if (!verifier.network.empty() && verifier.network == drafter.network)
    return {"nccl", "GPUs on NCCL network '" + verifier.network + "'"};
  return zeromq("GPUs of different machines without an NCCL network in common (--nccl-network)");
}

std::string describe_links(const LinkSite& site, const Device& device) {
  if (site.nccl.empty()) return "links: zeromq only (" + site.why_not + ")";
  return "links: nccl " + site.nccl + (cuda_emulated() ? " (the emulated build's host transport)" : "") + " on " +
         device_label(device.name()) + (site.network.empty() ? "" : ", network " + site.network);
}

}  // namespace tandem
