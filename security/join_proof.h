#pragma once
// Binding a node's name to its certificate (control plane with TLS). The TLS handshake only
// shows that a peer holds *some* certificate of the cluster's CA, and CAF does not tell the
// scheduler which one; so a joining node proves which, in its join message:
//
//   node ─(challenge)─▶ scheduler ─▶ a fresh random nonce (single use, 30 s)
//   node ─(join ..., proof)─▶ scheduler
//        proof = nonce, the node's certificate, and its key's signature over
//                (role, name, data endpoint, data key, nonce)
//
// The scheduler checks the certificate against the cluster's CA, that the certificate
// binds this role and name, and the signature. A certificate binds the nodes listed in its
// subjectAltName as URIs "tandem-node:ROLE/NAME" (`tandem keys cert --node ROLE/NAME`):
// ROLE is verifier, drafter, shard or *, NAME is a name or a prefix ending in * (Kubernetes
// pods: "drafter/tandem-drafter-*"). A node inside the scheduler's own process (tandem
// serve's verifier) proves itself with a secret that never leaves the process instead.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tandem {

/// What a joining node claims, as it is signed.
struct JoinClaim {
  std::string role, name, data_endpoint, data_key, nonce;
  /// The bytes signed: each field length-prefixed, so no two claims share them.
  std::string signed_bytes() const;
};

/// A fresh random nonce: 32 bytes as hex.
std::string new_nonce();

/// Whether a binding "ROLE/NAME" (as `--node` takes it) is well formed; '' or what is wrong.
std::string check_node_binding(const std::string& binding);
/// Whether any of `bindings` lets a node join as `role` under `name`.
bool node_bindings_allow(const std::vector<std::string>& bindings, const std::string& role, const std::string& name);

/// Makes a node's join proof for a claim.
using JoinProver = std::function<std::string(const JoinClaim&)>;
/// Proves with the certificate and key in these files (read at each join).
JoinProver certificate_prover(const std::string& cert_file, const std::string& key_file);

/// The proof for `claim` with the certificate and key in these files; std::runtime_error if
/// they cannot be read.
std::string make_join_proof(const std::string& cert_file, const std::string& key_file, const JoinClaim& claim);
/// The proof of a node in the scheduler's own process.
std::string make_local_join_proof(const std::string& local_secret);

/// The nonce a proof answers ('' when it has none: malformed, or a local proof).
std::string join_proof_nonce(const std::string& proof);

/// Checks join proofs against the cluster's CA (and the process's local secret).
class JoinProofChecker {
 public:
  /// `ca_file` '' : no certificate is accepted, only the local secret.
  JoinProofChecker(const std::string& ca_file, std::string local_secret);
  ~JoinProofChecker();
  /// '' when `proof` proves `claim` (its nonce already checked as fresh by the caller);
  /// else why not, in words for the log.
  std::string check(const std::string& proof, const JoinClaim& claim) const;

 private:
  struct Store;
  std::unique_ptr<Store> store_;
  std::string local_secret_;
};

/// The nonces a scheduler handed out and not yet seen back: each is good once, for
/// `kLifetimeMs`; at most `kMost` are kept (the oldest go first).
class Challenges {
 public:
  static constexpr int64_t kLifetimeMs = 30'000;
  static constexpr size_t kMost = 1024;
  /// A new nonce, good from `now_ms`.
  std::string issue(int64_t now_ms);
  /// Whether `nonce` was handed out, unused and fresh at `now_ms`; it is used up either way.
  bool take(const std::string& nonce, int64_t now_ms);

 private:
  std::deque<std::pair<std::string, int64_t>> issued_;  // (nonce, when), oldest first
};

/// The bindings ("ROLE/NAME") of the certificate in `cert_file`; std::runtime_error if it
/// cannot be read.
std::vector<std::string> certificate_node_bindings(const std::string& cert_file);

/// How a subjectAltName URI that binds a node begins.
inline constexpr const char* kNodeUriScheme = "tandem-node:";
/// Most bytes a proof may have: a certificate and a signature fit in far less.
inline constexpr size_t kMaxJoinProofBytes = 16 * 1024;

}  // namespace tandem
