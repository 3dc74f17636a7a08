#include "security/join_proof.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>

#include "security/openssl_handles.h"

namespace tandem {
namespace {

using openssl::Certificate;
using openssl::Free;

constexpr const char* kProofHeader = "tandem-join-proof-1";
constexpr const char* kLocalHeader = "tandem-join-local-1";

std::string to_hex(const unsigned char* bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (size_t i = 0; i < n; ++i) text += {digits[bytes[i] >> 4], digits[bytes[i] & 15]};
  return text;
}

// '' for anything but an even number of hex digits.
std::string from_hex(const std::string& text) {
  auto value = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10; };
  if (text.size() % 2 != 0) return "";
  std::string bytes;
  for (size_t i = 0; i < text.size(); i += 2) {
    if (!std::isxdigit(static_cast<unsigned char>(text[i])) ||
        !std::isxdigit(static_cast<unsigned char>(text[i + 1])) || std::isupper(static_cast<unsigned char>(text[i])) ||
        std::isupper(static_cast<unsigned char>(text[i + 1])))
      return "";
    bytes += char(value(text[i]) * 16 + value(text[i + 1]));
  }
  return bytes;
}

bool known_role(const std::string& role) {
  return role == "verifier" || role == "drafter" || role == "shard" || role == "*";
}

bool name_character(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':';
}

// The parts of a proof: nonce, signature (bytes), certificate (PEM); false if malformed.
struct ProofParts {
  std::string nonce, signature, certificate;
};
bool split_proof(const std::string& proof, ProofParts& parts) {
  std::istringstream in(proof);
  std::string header, nonce, signature;
  if (!std::getline(in, header) || header != kProofHeader || !std::getline(in, nonce) || !std::getline(in, signature))
    return false;
  parts.nonce = nonce;
  parts.signature = from_hex(signature);
  parts.certificate = proof.substr(std::min(proof.size(), size_t(in.tellg())));
  return nonce.size() == 64 && !from_hex(nonce).empty() && !parts.signature.empty();
}

std::vector<std::string> bindings_of(X509* cert) {
  std::vector<std::string> bindings;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return bindings;
  const std::string scheme = kNodeUriScheme;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
                          size_t(ASN1_STRING_length(name->d.uniformResourceIdentifier)));
    if (uri.rfind(scheme, 0) == 0) bindings.push_back(uri.substr(scheme.size()));
  }
  GENERAL_NAMES_free(names);
  return bindings;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text.empty() ? "none" : text;
}

}  // namespace

std::string JoinClaim::signed_bytes() const {
  std::string bytes = "tandem join\n";
  for (const std::string* field : {&role, &name, &data_endpoint, &data_key, &nonce})
    bytes += std::to_string(field->size()) + ":" + *field + "\n";
  return bytes;
}

std::string new_nonce() {
  unsigned char bytes[32];
  openssl::require(RAND_bytes(bytes, sizeof bytes) == 1, "no random bytes for a nonce");
  return to_hex(bytes, sizeof bytes);
}

std::string Challenges::issue(int64_t now_ms) {
  if (issued_.size() >= kMost) issued_.pop_front();
  issued_.emplace_back(new_nonce(), now_ms);
  return issued_.back().first;
}

bool Challenges::take(const std::string& nonce, int64_t now_ms) {
  while (!issued_.empty() && now_ms - issued_.front().second > kLifetimeMs) issued_.pop_front();
  auto it = std::find_if(issued_.begin(), issued_.end(), [&](const auto& entry) { return entry.first == nonce; });
  if (it == issued_.end()) return false;
  issued_.erase(it);
  return true;
}

std::string check_node_binding(const std::string& binding) {
  const size_t slash = binding.find('/');
  if (slash == std::string::npos) return "a node binding is ROLE/NAME, not '" + binding + "'";
  const std::string role = binding.substr(0, slash), name = binding.substr(slash + 1);
  if (!known_role(role)) return "'" + binding + "': the role is verifier, drafter, shard or *";
  const std::string stem = !name.empty() && name.back() == '*' ? name.substr(0, name.size() - 1) : name;
  if (name.empty() || name.size() > 200 || !std::all_of(stem.begin(), stem.end(), name_character))
    return "'" + binding + "': the name is letters, digits, '-', '.', '_' or ':', optionally ending in *";
  return "";
}

bool node_bindings_allow(const std::vector<std::string>& bindings, const std::string& role, const std::string& name) {
  return std::any_of(bindings.begin(), bindings.end(), [&](const std::string& binding) {
    if (!check_node_binding(binding).empty()) return false;
    const size_t slash = binding.find('/');
    const std::string bound_role = binding.substr(0, slash), pattern = binding.substr(slash + 1);
    if (bound_role != "*" && bound_role != role) return false;
    if (pattern.back() != '*') return pattern == name;
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  });
}

std::vector<std::string> certificate_node_bindings(const std::string& cert_file) {
  return bindings_of(openssl::read_certificate(cert_file).get());
}

std::string make_join_proof(const std::string& cert_file, const std::string& key_file, const JoinClaim& claim) {
  openssl::Key key = openssl::read_key(key_file);
  std::unique_ptr<EVP_MD_CTX, Free> context(EVP_MD_CTX_new());
  const std::string message = claim.signed_bytes();
  size_t size = 0;
  openssl::require(context && EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
                       EVP_DigestSign(context.get(), nullptr, &size,
                                      reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1,
                   "cannot sign the join claim");
  std::string signature(size, '\0');
  openssl::require(EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                                  reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1,
                   "cannot sign the join claim");
  auto file = openssl::open_file(cert_file, "r");
  std::string certificate;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, file.get())) certificate.append(buffer, n);
  return std::string(kProofHeader) + "\n" + claim.nonce + "\n" +
         to_hex(reinterpret_cast<const unsigned char*>(signature.data()), size) + "\n" + certificate;
}

JoinProver certificate_prover(const std::string& cert_file, const std::string& key_file) {
  return [cert_file, key_file](const JoinClaim& claim) { return make_join_proof(cert_file, key_file, claim); };
}

std::string make_local_join_proof(const std::string& local_secret) {
  return std::string(kLocalHeader) + "\n" + local_secret;
}

std::string join_proof_nonce(const std::string& proof) {
  ProofParts parts;
  return proof.size() <= kMaxJoinProofBytes && split_proof(proof, parts) ? parts.nonce : "";
}

struct JoinProofChecker::Store {
  std::unique_ptr<X509_STORE, Free> store;
};

JoinProofChecker::JoinProofChecker(const std::string& ca_file, std::string local_secret)
    : store_(std::make_unique<Store>()), local_secret_(std::move(local_secret)) {
  if (ca_file.empty()) return;
  Certificate ca = openssl::read_certificate(ca_file);
  store_->store.reset(X509_STORE_new());
  openssl::require(store_->store && X509_STORE_add_cert(store_->store.get(), ca.get()) == 1,
                   "cannot hold the cluster CA");
}

JoinProofChecker::~JoinProofChecker() = default;

std::string JoinProofChecker::check(const std::string& proof, const JoinClaim& claim) const {
  if (proof.size() > kMaxJoinProofBytes)
    return "the join proof is over " + std::to_string(kMaxJoinProofBytes) + " bytes";
  const std::string local = make_local_join_proof(local_secret_);
  if (!local_secret_.empty() && proof.size() == local.size() &&
      CRYPTO_memcmp(proof.data(), local.data(), local.size()) == 0)
    return "";
  if (!store_->store) return "no join proof is accepted here";
  ProofParts parts;
  if (!split_proof(proof, parts)) return "no join proof (a node certificate's signature over its claim) was given";
  if (parts.nonce != claim.nonce) return "the join proof answers another challenge";
  std::unique_ptr<BIO, Free> bio(BIO_new_mem_buf(parts.certificate.data(), int(parts.certificate.size())));
  Certificate cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    openssl::errors();  // empties OpenSSL's queue
    return "the join proof's certificate is not PEM";
  }
  std::unique_ptr<X509_STORE_CTX, Free> context(X509_STORE_CTX_new());
  if (!context || X509_STORE_CTX_init(context.get(), store_->store.get(), cert.get(), nullptr) != 1)
    return "cannot check the join proof's certificate: " + openssl::errors();
  X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(context.get()) != 1)
    return std::string("the join proof's certificate is not the cluster's: ") +
           X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get()));
  const std::vector<std::string> bindings = bindings_of(cert.get());
  if (!node_bindings_allow(bindings, claim.role, claim.name))
    return "the certificate does not bind " + claim.role + "/" + claim.name + " (it binds " + joined(bindings) +
           "; tandem keys cert --node ROLE/NAME)";
  std::unique_ptr<EVP_MD_CTX, Free> verify(EVP_MD_CTX_new());
  const std::string message = claim.signed_bytes();
  const bool signed_by_it =
      verify && EVP_DigestVerifyInit(verify.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert.get())) == 1 &&
      EVP_DigestVerify(verify.get(), reinterpret_cast<const unsigned char*>(parts.signature.data()),
                       parts.signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  if (!signed_by_it) {
    openssl::errors();
    return "the join proof's signature does not match its certificate and claim";
  }
  return "";
}

}  // namespace tandem
