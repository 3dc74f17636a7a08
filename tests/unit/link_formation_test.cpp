// How the scheduler forms a pair's NCCL link over the control plane: it asks the verifier for
// the link's ids, hands them to the drafter, then pairs the verifier with them; when the
// verifier cannot make a link (no GPU here: the real nccl_new_group_ids() answer), the pair
// uses ZeroMQ and the scheduler's view says why. The nodes are small actors speaking the
// node side of actors/messages.h (a real verifier needs a GPU to answer with ids).
#include <gtest/gtest.h>

#include <caf/all.hpp>
#include <mutex>
#include <thread>

#include "actors/messages.h"
#include "actors/scheduler_actor.h"
#include "transport/link_site.h"
#include "transport/nccl_channel.h"

namespace tandem {
namespace {

// What a node actor was told.
struct Heard {
  std::mutex mutex;
  std::vector<std::string> pair_ids;                        // the group ids of each pair message
  std::vector<std::pair<std::string, std::string>> groups;  // (verifier, ids) given to a drafter
};

// A node's work actor: answers (group) with `ids` ('' : with this process's real NCCL answer).
caf::behavior node_actor(caf::event_based_actor*, std::shared_ptr<Heard> heard, std::string ids) {
  return {
      [heard](pair_atom, const PairWith& p) {
        std::lock_guard lock(heard->mutex);
        heard->pair_ids.push_back(p.nccl_group_ids);
      },
      [ids](group_atom) -> caf::result<std::string> {
        if (!ids.empty()) return ids;
        try {
          return nccl_new_group_ids();
        } catch (const std::runtime_error& e) { return cluster_failure(cluster_error::no_link, e.what()); }
      },
      [heard](group_atom, const std::string& verifier, const std::string& group_ids) {
        std::lock_guard lock(heard->mutex);
        heard->groups.emplace_back(verifier, group_ids);
      },
      [](admit_atom, const std::string&) {},
      [](shards_atom, const std::string&) {},
  };
}

template <typename F>
bool eventually(F done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

struct Cluster {
  caf::actor_system_config config;
  caf::actor_system system{config};
  std::shared_ptr<SchedulerView> view = std::make_shared<SchedulerView>();
  caf::actor scheduler = spawn_scheduler(system, settings());
  std::shared_ptr<Heard> verifier_heard = std::make_shared<Heard>(), drafter_heard = std::make_shared<Heard>();

  SchedulerSettings settings() {
    SchedulerSettings s;
    s.sink = [](const std::string&, const wire::ServerMessage&) {};
    s.view = view;
    return s;
  }

  void join(const std::string& role, const std::string& name, const caf::actor& work, const LinkSite& site) {
    caf::scoped_actor self{system};
    const std::string endpoint = role == "drafter" ? "tcp://127.0.0.1:1" : "";
    self->request(scheduler, std::chrono::seconds(5), join_atom::value,
                  JoinRequest{role, name, endpoint, work, "", "", "", format_link_site(site), ""})
        .receive([] {}, [&](caf::error& e) { ADD_FAILURE() << failure_reason(e, system); });
  }
  // Joins a verifier answering (group) with `verifier_ids` and a drafter, at these sites; true
  // once the verifier heard its pair message.
  bool pair(const std::string& verifier_ids, const LinkSite& verifier_site, const LinkSite& drafter_site) {
    join("verifier", "v1", system.spawn(node_actor, verifier_heard, verifier_ids), verifier_site);
    join("drafter", "d1", system.spawn(node_actor, drafter_heard, std::string()), drafter_site);
    return eventually([&] {
      std::lock_guard lock(verifier_heard->mutex);
      return !verifier_heard->pair_ids.empty();
    });
  }
  ~Cluster() { caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown); }
};

const LinkSite kGpu0{"boot-a", "gpu-0", "2.28.9", "", ""}, kGpu1{"boot-a", "gpu-1", "2.28.9", "", ""};

TEST(LinkFormation, TheSchedulerHandsTheVerifiersIdsToTheDrafter) {
  Cluster c;
  const std::string ids = std::string(256, 'a') + "," + std::string(256, 'b');
  ASSERT_TRUE(c.pair(ids, kGpu0, kGpu1));
  // The drafter's and the verifier's messages are handled by two actors, in either order.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(c.drafter_heard->mutex);
    return !c.drafter_heard->groups.empty();
  }));
  std::lock_guard a(c.verifier_heard->mutex), b(c.drafter_heard->mutex);
  EXPECT_EQ(c.verifier_heard->pair_ids, std::vector<std::string>{ids});  // rank 0 joins with them
  EXPECT_EQ(c.drafter_heard->groups, (std::vector<std::pair<std::string, std::string>>{{"v1", ids}}));  // rank 1
  std::lock_guard view(c.view->mutex);
  ASSERT_EQ(c.view->pairs.size(), 1u);
  EXPECT_EQ(c.view->pairs[0].link, "nccl");
  EXPECT_EQ(c.view->pairs[0].reason, "both on GPUs of one machine");
}

TEST(LinkFormation, AVerifierThatCannotMakeALinkIsPairedOverZeromq) {
  const std::string why = nccl_unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "NCCL works here: the verifier would make a real link";
  Cluster c;
  // Sites claiming GPUs, as nodes on a GPU machine would; the verifier's real answer is "no NCCL".
  ASSERT_TRUE(c.pair("", kGpu0, kGpu1));
  std::lock_guard a(c.verifier_heard->mutex), b(c.drafter_heard->mutex);
  EXPECT_EQ(c.verifier_heard->pair_ids, std::vector<std::string>{""});  // ZeroMQ
  EXPECT_TRUE(c.drafter_heard->groups.empty());
  std::lock_guard view(c.view->mutex);
  ASSERT_EQ(c.view->pairs.size(), 1u);
  EXPECT_EQ(c.view->pairs[0].link, "zeromq");
  EXPECT_NE(c.view->pairs[0].reason.find(why), std::string::npos) << c.view->pairs[0].reason;
}

TEST(LinkFormation, MalformedIdsFromAVerifierMeanZeromq) {
  Cluster c;
  ASSERT_TRUE(c.pair(std::string(100000, 'x'), kGpu0, kGpu1));
  std::lock_guard a(c.verifier_heard->mutex), b(c.drafter_heard->mutex);
  EXPECT_EQ(c.verifier_heard->pair_ids, std::vector<std::string>{""});
  EXPECT_TRUE(c.drafter_heard->groups.empty()) << "nothing unchecked is passed on";
  std::lock_guard view(c.view->mutex);
  EXPECT_EQ(c.view->pairs.at(0).reason, "the verifier's link ids are malformed");
}

TEST(LinkFormation, CpuNodesArePairedOverZeromqWithoutAskingForIds) {
  Cluster c;
  const LinkSite cpu = local_link_site(Device{}, "auto", "");
  ASSERT_TRUE(c.pair("!never asked", cpu, cpu));
  std::lock_guard view(c.view->mutex);
  EXPECT_EQ(c.view->pairs.at(0).link, "zeromq");
  EXPECT_EQ(c.view->pairs.at(0).reason, "the verifier cannot use NCCL: it runs on the CPU");
}

}  // namespace
}  // namespace tandem
