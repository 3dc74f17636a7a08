#pragma once
// CurveZMQ for tandem's ZeroMQ sockets: key files, and a ZAP handler that admits only
// the clients whose public keys are listed. Keys are Z85 text (40 characters).
//
//   tandem keys generate NAME  ->  NAME.key (public and secret, mode 0600), NAME.pub
//   server: --curve-secret-key server.key --curve-authorized-keys clients.txt
//   client: --curve-server-key server.pub --curve-secret-key client.key
//
// An authorized-keys file holds one public key per line, optionally followed by a name
// for the logs; a line starting with '#' is a comment (a key may contain '#').
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

namespace tandem {

struct CurveKeyPair {
  std::string public_key, secret_key;  // Z85
};

/// A fresh key pair (libsodium through libzmq).
CurveKeyPair generate_curve_keys();
/// Writes `base`.key (both keys; readable by the owner only) and `base`.pub.
void write_curve_key_files(const std::string& base, const CurveKeyPair& keys);
/// The key pair in a .key file; std::runtime_error saying what is wrong.
CurveKeyPair read_curve_secret_key(const std::string& path);
/// The public key in a .pub (or .key) file.
std::string read_curve_public_key(const std::string& path);
/// Public key -> name (the key's first 8 characters when the line names none).
std::map<std::string, std::string> read_authorized_keys(const std::string& path);

/// Answers libzmq's authentication requests for every CURVE server socket of `context`:
/// a client whose public key is not listed is refused before any of its messages is read.
class ZapHandler {
 public:
  ZapHandler(zmq::context_t& context, std::map<std::string, std::string> authorized);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;
  /// Clients refused so far.
  int64_t refused() const { return refused_.load(); }
  /// Replaces the keys admitted from now on (connections already made stay).
  void admit(std::map<std::string, std::string> authorized);

 private:
  void serve();
  // The name of an admitted key, or nothing.
  std::optional<std::string> admitted(const std::string& key);

  zmq::socket_t socket_;
  std::mutex mutex_;
  std::map<std::string, std::string> authorized_;  // guarded by mutex_
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> refused_{0};
  std::thread thread_;
};

/// What a listening socket needs for CURVE: its key pair and the clients it admits.
struct CurveServer {
  CurveKeyPair keys;
  std::map<std::string, std::string> authorized;
};

/// Makes `socket` a CURVE server (before bind). Its context must have a ZapHandler.
void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys);
/// Makes `socket` a CURVE client of the server with public key `server_public` (before connect).
void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& mine, const std::string& server_public);

}  // namespace tandem
