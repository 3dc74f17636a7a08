// Choosing a pair's link (NCCL or ZeroMQ) from the two nodes' sites, the sites as they travel
// in the join message, the membership table's record of each pair's link, and what the NCCL
// channel says on a machine where it cannot run.
#include "transport/link_site.h"

#include <gtest/gtest.h>

#include "membership/membership.h"
#include "transport/nccl_channel.h"

namespace tandem {
namespace {

LinkSite gpu_site(const std::string& host, const std::string& gpu, const std::string& network = "") {
  return {host, gpu, "2.28.9", network, ""};
}

TEST(LinkChoice, NcclOnlyWhenBothEndsAreGpusNcclCanJoin) {
  const LinkSite a = gpu_site("boot-a", "gpu-0"), a1 = gpu_site("boot-a", "gpu-1"), b = gpu_site("boot-b", "gpu-9");
  EXPECT_EQ(choose_link(a, a1), (LinkChoice{"nccl", "both on GPUs of one machine"}));
  EXPECT_EQ(choose_link(a, a).link, "zeromq");  // one GPU cannot hold both ranks
  EXPECT_EQ(choose_link(a, a).reason, "both on one GPU (NCCL takes one GPU per rank)");
  EXPECT_EQ(choose_link(a, b).link, "zeromq");  // two machines, no network named
  EXPECT_NE(choose_link(a, b).reason.find("--nccl-network"), std::string::npos);
  EXPECT_EQ(choose_link(gpu_site("boot-a", "g0", "ib0"), gpu_site("boot-b", "g1", "ib0")),
            (LinkChoice{"nccl", "GPUs on NCCL network 'ib0'"}));
  EXPECT_EQ(choose_link(gpu_site("boot-a", "g0", "ib0"), gpu_site("boot-b", "g1", "ib1")).link, "zeromq");

  LinkSite cpu{"boot-a", "", "", "", "it runs on the CPU"};
  EXPECT_EQ(choose_link(cpu, a1), (LinkChoice{"zeromq", "the verifier cannot use NCCL: it runs on the CPU"}));
  EXPECT_EQ(choose_link(a, cpu), (LinkChoice{"zeromq", "the drafter cannot use NCCL: it runs on the CPU"}));
  EXPECT_EQ(choose_link(a, LinkSite{}), (LinkChoice{"zeromq", "the drafter cannot use NCCL: it did not say why"}));
}

TEST(LinkChoice, SitesTravelAsOneLineAndMalformedOnesMeanZeromq) {
  const LinkSite site{"1b2c-boot", "0a1b2c", "2.28.9", "ib0", "none"};
  EXPECT_EQ(parse_link_site(format_link_site(site)), site);
  LinkSite odd = site;
  odd.why_not = "cannot open x; y\nz";  // separators inside a value do not split it
  EXPECT_EQ(parse_link_site(format_link_site(odd)).why_not, "cannot open x, y,z");
  EXPECT_EQ(parse_link_site("host=a;gpu=b;nccl=2;future=1").nccl, "2");  // a newer node's extra field
  for (const std::string& bad : std::vector<std::string>{"", "garbage", "host=a;;gpu=b", std::string(2000, 'x'),
                                                         "host=a;gpu=" + std::string(1100, 'g') + ";nccl=2"})
    EXPECT_EQ(parse_link_site(bad), LinkSite{}) << bad.substr(0, 40);
  EXPECT_EQ(choose_link(parse_link_site("garbage"), gpu_site("a", "b")).link, "zeromq");
}

TEST(LinkChoice, ThisMachinesSiteSaysWhyItHasNoNccl) {
  const LinkSite cpu = local_link_site(Device{}, "auto", "");
  EXPECT_FALSE(cpu.host.empty());  // the kernel's boot id
  EXPECT_EQ(cpu.gpu, "");
  EXPECT_EQ(cpu.nccl, "");
  EXPECT_EQ(cpu.why_not, "it runs on the CPU");
  EXPECT_EQ(describe_links(cpu, Device{}), "links: zeromq only (it runs on the CPU)");
  EXPECT_EQ(local_link_site(Device{}, "zeromq", "").why_not, "--link zeromq was given");
  EXPECT_THROW(local_link_site(Device{}, "nccl-please", ""), std::invalid_argument);
  if (cuda_device_count() > 0) {
    const LinkSite gpu = local_link_site(Device{Device::Kind::Cuda, 0}, "auto", "");
    EXPECT_EQ(gpu.gpu.size(), 32u);
    EXPECT_EQ(gpu.nccl.empty(), !nccl_unavailable_reason().empty());
  }
}

TEST(LinkChoice, WithoutNcclEveryNcclCallIsAClearError) {
  const std::string why = nccl_unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "NCCL is usable here (the gpu tests cover it)";
  try {
    NcclChannel::loopback(0, 1024);
    ADD_FAILURE() << "a loopback link without NCCL";
  } catch (const std::runtime_error& e) { EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what(); }
  EXPECT_THROW(nccl_new_group_ids(), std::runtime_error);
  NcclLinkSettings settings;
  settings.group_ids = "not,ids";
  EXPECT_THROW(NcclChannel::join(settings), std::runtime_error);
}

NodeInfo member(const std::string& name, NodeRole role, const LinkSite& site) {
  NodeInfo n;
  n.name = name;
  n.role = role;
  n.site = site;
  if (role == NodeRole::drafter) n.data_endpoint = "tcp://" + name + ":1";
  return n;
}

TEST(LinkChoice, MembershipRecordsEachPairsLinkAndItsFallback) {
  Membership m(1000);
  m.join(member("v1", NodeRole::verifier, gpu_site("boot-a", "g0")), 0);
  m.join(member("v2", NodeRole::verifier, LinkSite{"boot-a", "", "", "", "it runs on the CPU"}), 0);
  m.join(member("d1", NodeRole::drafter, gpu_site("boot-a", "g1")), 0);
  ASSERT_EQ(m.pair_by_load().size(), 2u);
  EXPECT_EQ(m.find("v1")->link.link, "nccl");
  EXPECT_EQ(m.find("v2")->link.link, "zeromq");
  EXPECT_FALSE(m.fall_back_to_zeromq("v2", "x"));  // no NCCL link to fall back from
  EXPECT_TRUE(m.fall_back_to_zeromq("v1", "joining timed out"));
  EXPECT_EQ(m.find("v1")->link, (LinkChoice{"zeromq", "joining timed out"}));
  m.leave("d1");  // unpaired: no link
  EXPECT_EQ(m.find("v1")->link, LinkChoice{});
}

}  // namespace
}  // namespace tandem
