#include "security/curve.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>
#include <zmq_addon.hpp>

#include "observability/log.h"

namespace tandem {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // fixed by the ZAP specification (RFC 27)

bool is_z85_key(const std::string& key) {
  if (key.size() != 40) return false;
  uint8_t binary[32];
  return zmq_z85_decode(binary, key.c_str()) != nullptr;
}

// "name = value" lines of a key file.
std::map<std::string, std::string> key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the key file");
  std::map<std::string, std::string> fields;
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    fields[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return fields;
}

std::string key_field(const std::map<std::string, std::string>& fields, const std::string& name,
                      const std::string& path) {
  auto it = fields.find(name);
  if (it == fields.end() || !is_z85_key(it->second))
    throw std::runtime_error(path + ": no valid '" + name + " = <40 Z85 characters>' line");
  return it->second;
}

}  // namespace

CurveKeyPair generate_curve_keys() {
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    throw std::runtime_error("this libzmq cannot make CURVE keys (built without libsodium)");
  return {public_key, secret_key};
}

void write_curve_key_files(const std::string& base, const CurveKeyPair& keys) {
  const std::string secret = base + ".key", pub = base + ".pub";
  {
    const mode_t old = umask(077);  // the secret key is the owner's alone
    std::ofstream out(secret);
    umask(old);
    if (!out) throw std::runtime_error(secret + ": cannot write");
    out << "# tandem CURVE key pair: keep this file secret\npublic = " << keys.public_key
        << "\nsecret = " << keys.secret_key << "\n";
  }
  std::ofstream out(pub);
  if (!out) throw std::runtime_error(pub + ": cannot write");
  out << "# tandem CURVE public key\npublic = " << keys.public_key << "\n";
}

CurveKeyPair read_curve_secret_key(const std::string& path) {
  const auto fields = key_file(path);
  return {key_field(fields, "public", path), key_field(fields, "secret", path)};
}

std::string read_curve_public_key(const std::string& path) { return key_field(key_file(path), "public", path); }

std::map<std::string, std::string> read_authorized_keys(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the authorized keys file");
  std::map<std::string, std::string> keys;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    // Z85 keys may contain '#': only a line that starts with it is a comment.
    std::istringstream words(line);
    std::string key, name;
    if (!(words >> key) || key[0] == '#') continue;
    if (key.rfind("public=", 0) == 0) key = key.substr(7);  // a .pub file's line pasted in
    if (!is_z85_key(key)) throw std::runtime_error(path + ":" + std::to_string(number) + ": not a Z85 public key");
    words >> name;
    keys[key] = name.empty() ? key.substr(0, 8) : name;
  }
  if (keys.empty()) throw std::runtime_error(path + ": lists no key, so nobody could connect");
  return keys;
}

ZapHandler::ZapHandler(zmq::context_t& context, std::map<std::string, std::string> authorized)
    : socket_(context, zmq::socket_type::rep), authorized_(std::move(authorized)) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind(kZapEndpoint);
  thread_ = std::thread([this] { serve(); });
}

ZapHandler::~ZapHandler() {
  stopping_ = true;
  thread_.join();
}

void ZapHandler::serve() {
  while (!stopping_) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
    // Request: version, request id, domain, address, identity, mechanism, credentials...
    std::vector<zmq::message_t> parts;
    (void)zmq::recv_multipart(socket_, std::back_inserter(parts));
    std::string status = "400", text = "not a ZAP request", user;
    if (parts.size() >= 7 && parts[0].to_string() == "1.0" && parts[5].to_string() == "CURVE" &&
        parts[6].size() == 32) {
      char z85[41];
      zmq_z85_encode(z85, static_cast<const uint8_t*>(parts[6].data()), 32);
      if (auto name = admitted(z85)) {
        status = "200", text = "OK", user = *name;
      } else {
        text = "unknown client key";
        ++refused_;
        log_event(LogLevel::warn, "curve_refused",
                  {{"peer", parts[3].to_string()}, {"key", std::string(z85, 8) + "..."}, {"reason", "not authorized"}});
      }
    }
    const std::string request_id = parts.size() >= 2 ? parts[1].to_string() : "";
    for (const std::string& frame : {std::string("1.0"), request_id, status, text, user})
      socket_.send(zmq::buffer(frame), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(std::string()), zmq::send_flags::none);  // metadata: none
  }
}

void ZapHandler::admit(std::map<std::string, std::string> authorized) {
  std::lock_guard lock(mutex_);
  authorized_ = std::move(authorized);
}

std::optional<std::string> ZapHandler::admitted(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = authorized_.find(key);
  if (it == authorized_.end()) return std::nullopt;
  return it->second;
}

void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys) {
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  socket.set(zmq::sockopt::zap_domain, "tandem");
}

void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& mine, const std::string& server_public) {
  socket.set(zmq::sockopt::curve_serverkey, server_public);
  socket.set(zmq::sockopt::curve_publickey, mine.public_key);
  socket.set(zmq::sockopt::curve_secretkey, mine.secret_key);
}

}  // namespace tandem
