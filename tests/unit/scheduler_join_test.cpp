// The scheduler actor with the cluster's CA (issue 27): a node joins only as a role and name
// its certificate binds, proven with a signature over a nonce of this scheduler's, which is
// good once. Real certificates from the code behind `tandem keys`; the node side is a scoped
// actor sending the messages a node agent sends (actors/messages.h).
#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "actors/messages.h"
#include "actors/scheduler_actor.h"
#include "security/certificates.h"
#include "security/join_proof.h"
#include "test_helpers.h"

namespace tandem {
namespace {

struct Credentials {
  std::string cert, key;
};

// A joined node's work actor: hears what the scheduler tells it. (Spawned with an argument:
// CAF 0.17's spawn without one binds a null reference, which UBSan reports.)
caf::behavior joined_node(caf::event_based_actor*, int) {
  return {[](admit_atom, const std::string&) {}, [](shards_atom, const std::string&) {}};
}

struct Cluster {
  std::string ca = test::temp_path("join-ca");
  std::string local_secret = new_nonce();
  caf::actor_system_config config;
  caf::actor_system system{config};
  caf::actor scheduler;
  caf::actor work = system.spawn(joined_node, 0);

  Cluster() {
    write_cluster_ca(ca, 30);
    SchedulerSettings s;
    s.sink = [](const std::string&, const wire::ServerMessage&) {};
    s.cluster_ca = ca + ".crt";
    s.local_secret = local_secret;
    scheduler = spawn_scheduler(system, s);
  }
  ~Cluster() { caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown); }

  Credentials node_certificate(const std::string& stem, const std::vector<std::string>& nodes) {
    const std::string base = test::temp_path(stem);
    write_node_certificate(ca, base, "node", nodes, 30);
    return {base + ".crt", base + ".key"};
  }
  std::string challenge() {
    caf::scoped_actor self{system};
    std::string nonce;
    self->request(scheduler, std::chrono::seconds(5), challenge_atom::value)
        .receive([&](const std::string& n) { nonce = n; }, [](caf::error& e) { ADD_FAILURE() << caf::to_string(e); });
    return nonce;
  }
  // The scheduler's answer to a join as `claim` with `proof`: '' when it joined, else why it refused.
  std::string join(const JoinClaim& claim, const std::string& proof) {
    caf::scoped_actor self{system};
    std::string answer = "no answer";
    self->request(scheduler, std::chrono::seconds(5), join_atom::value,
                  JoinRequest{claim.role, claim.name, claim.data_endpoint, work, "", "", claim.data_key, "", proof})
        .receive([&] { answer = ""; },
                 [&](caf::error& e) {
                   EXPECT_TRUE(is_cluster_error(e, cluster_error::refused)) << failure_reason(e, system);
                   answer = failure_reason(e, system);
                 });
    return answer;
  }
};

JoinClaim drafter_claim(const std::string& name, const std::string& nonce) {
  return {"drafter", name, "tcp://127.0.0.1:5601", "KEY", nonce};
}

TEST(SchedulerJoin, ANodeJoinsOnlyAsItsCertificateBinds) {
  Cluster cluster;
  const Credentials drafters = cluster.node_certificate("drafters", {"drafter/d*"});
  JoinClaim d1 = drafter_claim("d1", cluster.challenge());
  EXPECT_EQ(cluster.join(d1, make_join_proof(drafters.cert, drafters.key, d1)), "");

  // The same certificate, signed honestly, for a role or a name it does not bind.
  JoinClaim verifier = {"verifier", "d2", "", "", cluster.challenge()};
  EXPECT_NE(cluster.join(verifier, make_join_proof(drafters.cert, drafters.key, verifier)).find("does not bind"),
            std::string::npos);
  JoinClaim other_name = drafter_claim("x1", cluster.challenge());
  EXPECT_NE(cluster.join(other_name, make_join_proof(drafters.cert, drafters.key, other_name)).find("does not bind"),
            std::string::npos);
  // No proof at all, and a proof of a shared */* certificate of another CA.
  EXPECT_NE(cluster.join(drafter_claim("d2", ""), ""), "");
  Cluster other;
  const Credentials stranger = other.node_certificate("stranger", {"*/*"});
  JoinClaim foreign = drafter_claim("d3", cluster.challenge());
  EXPECT_NE(cluster.join(foreign, make_join_proof(stranger.cert, stranger.key, foreign)).find("not the cluster's"),
            std::string::npos);
}

TEST(SchedulerJoin, AProofIsGoodForOneJoinToTheSchedulerThatAskedIt) {
  Cluster cluster;
  const Credentials drafters = cluster.node_certificate("replay", {"drafter/*"});
  JoinClaim first = drafter_claim("d1", cluster.challenge());
  const std::string proof = make_join_proof(drafters.cert, drafters.key, first);
  EXPECT_EQ(cluster.join(first, proof), "");
  // Replayed (after d1 has gone its name would be free again): the nonce is used up.
  EXPECT_NE(cluster.join(first, proof).find("answers no challenge"), std::string::npos);
  // A nonce this scheduler never handed out.
  JoinClaim invented = drafter_claim("d2", new_nonce());
  EXPECT_NE(cluster.join(invented, make_join_proof(drafters.cert, drafters.key, invented)).find("answers no challenge"),
            std::string::npos);
}

TEST(SchedulerJoin, ANodeInTheSchedulersProcessProvesItselfWithTheLocalSecret) {
  Cluster cluster;
  const JoinClaim local = {"verifier", "local", "", "", ""};
  EXPECT_NE(cluster.join(local, make_local_join_proof(new_nonce())), "");  // a guess
  EXPECT_EQ(cluster.join(local, make_local_join_proof(cluster.local_secret)), "");
}

}  // namespace
}  // namespace tandem
