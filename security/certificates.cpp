#include "security/certificates.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "security/join_proof.h"
#include "security/openssl_handles.h"

namespace tandem {
namespace {

using openssl::Certificate;
using openssl::Key;
using openssl::open_file;
using openssl::read_certificate;
using openssl::read_key;
using openssl::require;

Key new_key() {
  Key key(EVP_EC_gen("P-256"));
  require(key != nullptr, "cannot make a P-256 key");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  require(extension != nullptr, std::string("cannot make extension ") + value);
  const bool added = X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  require(added, "cannot add an extension");
}

// A certificate for `key` named `name`, to be signed by `issuer` (null: by itself).
Certificate new_certificate(EVP_PKEY* key, const std::string& name, X509* issuer, int days) {
  Certificate cert(X509_new());
  require(cert != nullptr && X509_set_version(cert.get(), 2) == 1, "cannot make a certificate");
  unsigned char serial[16];
  require(RAND_bytes(serial, sizeof serial) == 1, "no random serial");
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, openssl::Free> number(BN_bin2bn(serial, sizeof serial, nullptr));
  require(number && BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get())), "cannot set the serial");
  require(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) &&  // tolerate clocks an hour apart
              X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(days) * 86400),
          "cannot set the dates");
  require(X509_set_pubkey(cert.get(), key) == 1, "cannot set the public key");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  require(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>("tandem cluster"), -1, -1, 0) &&
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0),
          "cannot set the name");
  require(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get())) == 1,
          "cannot set the issuer");
  return cert;
}

// How a subjectAltName URI naming a node the certificate binds begins.
const std::string kNodeUriPrefix = std::string("URI:") + kNodeUriScheme;

bool is_ip_address(const std::string& name) {
  unsigned char address[16];
  return inet_pton(AF_INET, name.c_str(), address) == 1 || inet_pton(AF_INET6, name.c_str(), address) == 1;
}

bool is_host_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

void write_key_file(const std::string& path, EVP_PKEY* key) {
  const mode_t old = umask(077);  // the private key is the owner's alone
  auto file = fopen(path.c_str(), "w");
  umask(old);
  if (!file) throw std::runtime_error(path + ": cannot write");
  std::unique_ptr<FILE, openssl::Free> closer(file);
  if (fchmod(fileno(file), 0600) != 0) throw std::runtime_error(path + ": cannot make it private");  // it existed
  require(PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, path + ": cannot write");
}

void write_certificate_file(const std::string& path, X509* cert) {
  require(PEM_write_X509(open_file(path, "w").get(), cert) == 1, path + ": cannot write");
}

}  // namespace

void write_cluster_ca(const std::string& base, int days) {
  Key key = new_key();
  Certificate cert = new_certificate(key.get(), "tandem cluster CA", nullptr, days);
  add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  require(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "cannot sign the CA certificate");
  write_key_file(base + ".key", key.get());
  write_certificate_file(base + ".crt", cert.get());
}

void write_node_certificate(const std::string& ca_base, const std::string& base, const std::string& name,
                            const std::vector<std::string>& nodes, int days) {
  for (const std::string& node : nodes)
    if (std::string wrong = check_node_binding(node); !wrong.empty()) throw std::runtime_error(wrong);
  Certificate ca = read_certificate(ca_base + ".crt");
  Key ca_key = read_key(ca_base + ".key");
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1)
    throw std::runtime_error(ca_base + ".key is not the key of " + ca_base + ".crt");
  Key key = new_key();
  Certificate cert = new_certificate(key.get(), name, ca.get(), days);
  add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_extension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth");  // nodes both listen and connect
  add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  // The name as a subject alternative name too, so HTTPS clients can check it (--http-tls-cert),
  // and the nodes the certificate binds (security/join_proof.h).
  std::string alt_names;
  if (is_ip_address(name))
    alt_names = "IP:" + name;
  else if (is_host_name(name))
    alt_names = "DNS:" + name;
  for (const std::string& node : nodes) alt_names += (alt_names.empty() ? "" : ",") + kNodeUriPrefix + node;
  if (!alt_names.empty()) add_extension(cert.get(), ca.get(), NID_subject_alt_name, alt_names.c_str());
  require(X509_sign(cert.get(), ca_key.get(), EVP_sha256()) > 0, "cannot sign the node certificate");
  write_key_file(base + ".key", key.get());
  write_certificate_file(base + ".crt", cert.get());
}

void check_cluster_tls(const ClusterTls& tls) {
  if (tls.ca_file.empty() || tls.cert_file.empty() || tls.key_file.empty())
    throw std::runtime_error("the cluster CA, certificate and key go together");
  Certificate ca = read_certificate(tls.ca_file), cert = read_certificate(tls.cert_file);
  Key key = read_key(tls.key_file);
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    throw std::runtime_error(tls.key_file + " is not the key of " + tls.cert_file);
  std::unique_ptr<X509_STORE, openssl::Free> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, openssl::Free> context(X509_STORE_CTX_new());
  require(store && context && X509_STORE_add_cert(store.get(), ca.get()) == 1 &&
              X509_STORE_CTX_init(context.get(), store.get(), cert.get(), nullptr) == 1,
          "cannot check the certificate");
  if (X509_verify_cert(context.get()) != 1)
    throw std::runtime_error(tls.cert_file + " does not verify against " + tls.ca_file + ": " +
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get())));
}

}  // namespace tandem
