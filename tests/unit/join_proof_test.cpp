// A node's name bound to its certificate (security/join_proof.h): real certificates made by
// the same code as `tandem keys`, proofs signed with their keys, and every way a proof can
// be wrong refused with a reason.
#include "security/join_proof.h"

#include <gtest/gtest.h>

#include "security/certificates.h"
#include "test_helpers.h"

namespace tandem {
namespace {

struct Files {
  std::string cert, key;
};

// A CA (per `stem`) and a node certificate of it binding `nodes`.
Files certificate(const std::string& ca, const std::string& stem, const std::vector<std::string>& nodes) {
  const std::string base = test::temp_path(stem);
  write_node_certificate(ca, base, "node", nodes, 30);
  return {base + ".crt", base + ".key"};
}

std::string new_ca(const std::string& stem) {
  const std::string base = test::temp_path(stem);
  write_cluster_ca(base, 30);
  return base;
}

JoinClaim claim(const std::string& role, const std::string& name, const std::string& nonce) {
  return {role, name, "tcp://10.0.0.7:5601", "PUBKEY", nonce};
}

TEST(JoinProof, BindingsMatchRoleAndNameOrPrefix) {
  const std::vector<std::string> drafters = {"drafter/tandem-drafter-*"};
  EXPECT_TRUE(node_bindings_allow(drafters, "drafter", "tandem-drafter-7f9c"));
  EXPECT_TRUE(node_bindings_allow(drafters, "drafter", "tandem-drafter-"));
  EXPECT_FALSE(node_bindings_allow(drafters, "verifier", "tandem-drafter-7f9c"));  // another role
  EXPECT_FALSE(node_bindings_allow(drafters, "drafter", "tandem-drafte"));
  EXPECT_FALSE(node_bindings_allow(drafters, "drafter", "x-tandem-drafter-1"));
  EXPECT_TRUE(node_bindings_allow({"verifier/v1", "shard/s*"}, "shard", "s2"));
  EXPECT_FALSE(node_bindings_allow({"verifier/v1"}, "verifier", "v10"));  // exact unless it ends in *
  EXPECT_TRUE(node_bindings_allow({"*/*"}, "verifier", "anything"));
  EXPECT_FALSE(node_bindings_allow({}, "verifier", "v1"));
  EXPECT_FALSE(node_bindings_allow({"verifier"}, "verifier", "verifier"));  // malformed: binds nothing
}

TEST(JoinProof, BindingsAreCheckedWhenACertificateIsMade) {
  EXPECT_EQ(check_node_binding("verifier/v1"), "");
  EXPECT_EQ(check_node_binding("*/tandem-drafter-*"), "");
  EXPECT_NE(check_node_binding("v1"), "");
  EXPECT_NE(check_node_binding("scheduler/s"), "");  // schedulers do not join
  EXPECT_NE(check_node_binding("verifier/"), "");
  EXPECT_NE(check_node_binding("verifier/v,1"), "");  // a comma would split the subjectAltName
  EXPECT_NE(check_node_binding("verifier/a*b"), "");  // * only at the end
  const std::string ca = new_ca("bindings-ca");
  EXPECT_THROW(write_node_certificate(ca, test::temp_path("bad"), "n", {"verifier/a b"}, 30), std::runtime_error);
  const Files files = certificate(ca, "bound", {"verifier/v1", "drafter/d-*"});
  EXPECT_EQ(certificate_node_bindings(files.cert), (std::vector<std::string>{"verifier/v1", "drafter/d-*"}));
}

TEST(JoinProof, AProofOfABoundNameIsAccepted) {
  const std::string ca = new_ca("accept-ca");
  const Files files = certificate(ca, "accept", {"drafter/d*"});
  const JoinProofChecker checker(ca + ".crt", "");
  const JoinClaim c = claim("drafter", "d1", new_nonce());
  const std::string proof = make_join_proof(files.cert, files.key, c);
  EXPECT_EQ(join_proof_nonce(proof), c.nonce);
  EXPECT_EQ(checker.check(proof, c), "");
}

TEST(JoinProof, EveryChangedFieldOrForeignCertificateIsRefused) {
  const std::string ca = new_ca("refuse-ca");
  const Files drafter = certificate(ca, "refuse-d", {"drafter/d1"});
  const JoinProofChecker checker(ca + ".crt", "");
  const JoinClaim c = claim("drafter", "d1", new_nonce());
  const std::string proof = make_join_proof(drafter.cert, drafter.key, c);
  // A proof replayed for another claim (each signed field changed) does not hold.
  for (int field = 0; field < 5; ++field) {
    JoinClaim changed = c;
    std::string* parts[] = {&changed.role, &changed.name, &changed.data_endpoint, &changed.data_key, &changed.nonce};
    *parts[field] += "x";
    EXPECT_NE(checker.check(proof, changed), "") << "field " << field;
  }
  // The certificate binds d1 as a drafter only.
  JoinClaim as_verifier = c;
  as_verifier.role = "verifier";
  const std::string signed_as_verifier = make_join_proof(drafter.cert, drafter.key, as_verifier);
  EXPECT_NE(checker.check(signed_as_verifier, as_verifier).find("does not bind verifier/d1"), std::string::npos);
  // A certificate of another CA, properly signed with its own key.
  const Files stranger = certificate(new_ca("other-ca"), "stranger", {"*/*"});
  EXPECT_NE(checker.check(make_join_proof(stranger.cert, stranger.key, c), c).find("not the cluster's"),
            std::string::npos);
  // Our certificate with another node's signature (its key is not the certificate's).
  const Files other = certificate(ca, "refuse-o", {"drafter/d1"});
  const std::string theirs = make_join_proof(other.cert, other.key, c);
  const std::string mixed = theirs.substr(0, theirs.find("-----BEGIN")) + proof.substr(proof.find("-----BEGIN"));
  EXPECT_NE(checker.check(mixed, c).find("signature"), std::string::npos);
}

TEST(JoinProof, MalformedProofsAreRefusedWithAReason) {
  const std::string ca = new_ca("malformed-ca");
  const JoinProofChecker checker(ca + ".crt", "");
  const JoinClaim c = claim("verifier", "v1", new_nonce());
  const std::string header = "tandem-join-proof-1\n" + c.nonce + "\n";
  for (const std::string& proof :
       {std::string(), std::string("garbage"), header, header + "zz\n", header + "00\nnot a certificate",
        header + "3045\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        std::string(kMaxJoinProofBytes + 1, 'a')})
    EXPECT_NE(checker.check(proof, c), "") << proof.substr(0, 80);
  EXPECT_EQ(join_proof_nonce("garbage"), "");
}

TEST(JoinProof, TheLocalSecretProvesANodeInTheSchedulersProcess) {
  const std::string secret = new_nonce();
  const JoinProofChecker checker("", secret);
  const JoinClaim c = claim("verifier", "local", "");
  EXPECT_EQ(checker.check(make_local_join_proof(secret), c), "");
  EXPECT_NE(checker.check(make_local_join_proof(new_nonce()), c), "");
  EXPECT_NE(checker.check(make_local_join_proof(""), c), "");
  EXPECT_NE(JoinProofChecker("", "").check(make_local_join_proof(""), c), "");  // no secret: no local proof
}

TEST(JoinProof, ChallengesAreGoodOnceAndNotForever) {
  Challenges challenges;
  const std::string a = challenges.issue(0), b = challenges.issue(0);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_TRUE(challenges.take(a, 1000));
  EXPECT_FALSE(challenges.take(a, 1000));                         // used up
  EXPECT_FALSE(challenges.take(b, Challenges::kLifetimeMs + 1));  // too old
  EXPECT_FALSE(challenges.take(new_nonce(), 0));                  // never handed out
  const std::string first = challenges.issue(0);
  for (size_t i = 0; i < Challenges::kMost; ++i) challenges.issue(0);
  EXPECT_FALSE(challenges.take(first, 0));  // pushed out: the book is bounded
}

}  // namespace
}  // namespace tandem
