#pragma once
// OpenSSL objects owned by unique_ptr, and the few reads the cluster's certificate code
// shares (security/certificates.cpp, security/join_proof.cpp).
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <string>

namespace tandem::openssl {

/// Frees whichever OpenSSL object it is given.
struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(FILE* p) const { fclose(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Certificate = std::unique_ptr<X509, Free>;

/// OpenSSL's queued errors as one line (and the queue emptied).
std::string errors();
/// std::runtime_error(what: errors()) unless `ok`.
void require(bool ok, const std::string& what);
/// The file open in `mode`; std::runtime_error if it cannot be.
std::unique_ptr<FILE, Free> open_file(const std::string& path, const char* mode);
/// The PEM private key in `path`; std::runtime_error saying what is wrong.
Key read_key(const std::string& path);
/// The PEM certificate in `path`; std::runtime_error saying what is wrong.
Certificate read_certificate(const std::string& path);

}  // namespace tandem::openssl
