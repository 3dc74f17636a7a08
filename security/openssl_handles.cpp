#include "security/openssl_handles.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <stdexcept>

namespace tandem::openssl {

std::string errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text += (text.empty() ? "" : "; ") + std::string(buffer);
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + errors());
}

std::unique_ptr<FILE, Free> open_file(const std::string& path, const char* mode) {
  std::unique_ptr<FILE, Free> file(fopen(path.c_str(), mode));
  if (!file) throw std::runtime_error(path + ": cannot open");
  return file;
}

Key read_key(const std::string& path) {
  Key key(PEM_read_PrivateKey(open_file(path, "r").get(), nullptr, nullptr, nullptr));
  if (!key) throw std::runtime_error(path + ": not a PEM private key (" + errors() + ")");
  return key;
}

Certificate read_certificate(const std::string& path) {
  Certificate cert(PEM_read_X509(open_file(path, "r").get(), nullptr, nullptr, nullptr));
  if (!cert) throw std::runtime_error(path + ": not a PEM certificate (" + errors() + ")");
  return cert;
}

}  // namespace tandem::openssl
