#include "apps/scheduler_host.h"

#include <fstream>
#include <map>
#include <sstream>

#include "actors/messages.h"
#include "apps/bind_policy.h"
#include "apps/flags.h"
#include "model/fingerprint.h"
#include "transport/control_plane.h"

namespace tandem {

namespace {

// --api-keys and --api-keys-file: key -> name.
std::map<std::string, std::string> api_keys(const Flags& flags) {
  std::map<std::string, std::string> keys;
  auto add = [&](const std::string& key, const std::string& name) {
    if (key.size() < 16) throw UsageError("API keys must have 16 characters or more");
    keys[key] = name;
  };
  int n = 0;
  for (const std::string& key : flags.get_list("api-keys")) add(key, "key-" + std::to_string(++n));
  if (const std::string path = flags.get("api-keys-file"); !path.empty()) {
    std::ifstream in(path);
    if (!in) throw UsageError(path + ": cannot open the API keys file");
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string key, name;
      if (!(words >> key) || key[0] == '#') continue;
      words >> name;
      add(key, name.empty() ? "key-" + std::to_string(++n) : name);
    }
    if (keys.empty()) throw UsageError(path + ": lists no API key, so nobody could use the API");
  }
  return keys;
}

}  // namespace

void add_client_endpoint_flags(Flags& f) {
  f.add("max-body-bytes", std::to_string(HttpLimits{}.max_body_bytes),
        "HTTP: larger request bodies get 413 without being read");
  f.add("http-threads", std::to_string(HttpLimits{}.threads),
        "HTTP: event loop threads; every connection shares them, however many there are");
  f.add("http-max-connections", std::to_string(HttpLimits{}.max_connections),
        "HTTP: open connections at most (idle keep-alive ones included); more are closed at once");
  f.add("http-timeout-s", std::to_string(HttpLimits{}.read_timeout_s),
        "HTTP: deadline for a whole request header, a whole body, and each write of a reply");
  f.add("http-idle-timeout-s", std::to_string(HttpLimits{}.idle_timeout_s),
        "HTTP: a keep-alive connection with no new request for this long is closed");
  f.add("http-stream-backlog-bytes", std::to_string(HttpLimits{}.max_stream_backlog_bytes),
        "HTTP: streamed bytes a client may leave unread (beyond the socket's buffers) before it is dropped and its "
        "request cancelled");
  f.add("http-send-buffer-bytes", "0",
        "HTTP: each connection's kernel send buffer (SO_SNDBUF, like nginx's listen sndbuf=); 0: the kernel's "
        "autotuning, which may hold megabytes for a client that does not read");
  f.add("api-keys", "",
        "HTTP: comma-separated API keys (16 characters or more); with any, /v1/ requests need 'Authorization: "
        "Bearer KEY' (/health, /ready, /metrics stay open)");
  f.add("api-keys-file", "", "HTTP: file of API keys, one per line, optionally followed by a name for the logs");
  f.add("http-tls-cert", "",
        "HTTP: serve HTTPS with this PEM certificate (chain), e.g. from 'tandem keys cert --name HOST' or any CA");
  f.add("http-tls-key", "", "HTTP: the private key of --http-tls-cert (PEM)");
  f.add("curve-secret-key", "",
        "ZeroMQ clients: this server's CURVE key pair (tandem keys generate); with it, only clients whose public "
        "keys --curve-authorized-keys lists can connect, and all traffic is encrypted");
  f.add("curve-authorized-keys", "", "ZeroMQ clients: file of the client public keys admitted, one per line");
  add_insecure_flag(f);
}

void check_scheduler_exposure(const Flags& flags, const std::string& listen, const std::string& http,
                              const std::string& control, const ClientEndpointSettings& settings) {
  check_exposure(flags, "ZeroMQ clients", listen, settings.curve.has_value(),
                 "--curve-secret-key and --curve-authorized-keys");
  check_exposure(flags, "HTTP clients", http, !settings.http.api_keys.empty(), "--api-keys or --api-keys-file");
  check_exposure(flags, "joining nodes (the control plane)", control, !flags.get("cluster-ca").empty(),
                 "--cluster-ca, --cluster-cert and --cluster-key");
}

ClientEndpointSettings client_endpoint_settings(const Flags& flags) {
  ClientEndpointSettings settings;
  HttpLimits& limits = settings.http;
  const long long body = flags.get_int("max-body-bytes"), threads = flags.get_int("http-threads"),
                  connections = flags.get_int("http-max-connections"), timeout = flags.get_int("http-timeout-s"),
                  idle = flags.get_int("http-idle-timeout-s"), backlog = flags.get_int("http-stream-backlog-bytes"),
                  send_buffer = flags.get_int("http-send-buffer-bytes");
  if (body < 1024 || body > (1LL << 30)) throw UsageError("--max-body-bytes must be between 1024 and 1 GiB");
  if (threads < 1 || threads > 64) throw UsageError("--http-threads must be between 1 and 64");
  if (connections < 1 || connections > 1000000)
    throw UsageError("--http-max-connections must be between 1 and 1000000");
  if (timeout < 1 || timeout > 3600) throw UsageError("--http-timeout-s must be between 1 and 3600");
  if (idle < 1 || idle > 3600) throw UsageError("--http-idle-timeout-s must be between 1 and 3600");
  if (backlog < 1024 || backlog > (1LL << 30))
    throw UsageError("--http-stream-backlog-bytes must be between 1024 and 1 GiB");
  if (send_buffer != 0 && (send_buffer < 1024 || send_buffer > (64LL << 20)))
    throw UsageError("--http-send-buffer-bytes must be 0 or between 1024 and 64 MiB");
  limits.max_body_bytes = size_t(body);
  limits.threads = int(threads);
  limits.max_connections = size_t(connections);
  limits.read_timeout_s = int(timeout);
  limits.idle_timeout_s = int(idle);
  limits.max_stream_backlog_bytes = size_t(backlog);
  limits.send_buffer_bytes = size_t(send_buffer);
  limits.api_keys = api_keys(flags);
  limits.tls_cert_file = flags.get("http-tls-cert");
  limits.tls_key_file = flags.get("http-tls-key");
  if (limits.tls_cert_file.empty() != limits.tls_key_file.empty())
    throw UsageError("--http-tls-cert and --http-tls-key go together");
  for (const std::string& file : {limits.tls_cert_file, limits.tls_key_file})
    if (!file.empty() && !std::ifstream(file)) throw UsageError(file + ": cannot read it");
  const std::string secret = flags.get("curve-secret-key"), authorized = flags.get("curve-authorized-keys");
  if (secret.empty() != authorized.empty())
    throw UsageError("--curve-secret-key and --curve-authorized-keys go together");
  if (!secret.empty()) try {
      settings.curve = CurveServer{read_curve_secret_key(secret), read_authorized_keys(authorized)};
    } catch (const std::runtime_error& e) { throw UsageError(e.what()); }
  return settings;
}

SchedulerHost::SchedulerHost(caf::actor_system& system, int64_t node_timeout_ms, const Model& model,
                             const ClusterTls& tls)
    : system_(system),
      scheduler_(spawn_scheduler(system, {.sink = endpoints_.sink(),
                                          .view = view_,
                                          .node_timeout_ms = node_timeout_ms,
                                          .model = model_fingerprint(model),
                                          .vocabulary = vocabulary_fingerprint(model.tokenizer()),
                                          .cluster_ca = tls.ca_file,
                                          .local_secret = local_secret_})),
      gateway_(std::make_unique<SchedulerGateway>(scheduler_, view_)) {}

JoinProver SchedulerHost::local_prover() const {
  return [secret = local_secret_](const JoinClaim&) { return make_local_join_proof(secret); };
}

nlohmann::json SchedulerHost::pairs() const {
  nlohmann::json list = nlohmann::json::array();
  std::lock_guard lock(view_->mutex);
  for (const PairView& p : view_->pairs)
    list.push_back({{"verifier", p.verifier}, {"drafter", p.drafter}, {"link", p.link}, {"reason", p.reason}});
  return list;
}

std::string SchedulerHost::publish(const std::string& control) {
  if (control.empty()) return "none";
  published_ = publish_actor(system_, scheduler_, control);
  return published_.address;
}

void SchedulerHost::open(const Model& model, const std::string& listen, const std::string& http,
                         const ClientEndpointSettings& settings) {
  try {
    endpoints_.open(*gateway_, model, listen, http, settings);
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }
}

void SchedulerHost::shutdown(std::chrono::milliseconds drain, const std::function<void()>& stop_local_work) {
  endpoints_.drain(drain);
  endpoints_.stop_admitting();
  if (stop_local_work) stop_local_work();
  // The scheduler relays what the verifiers sent before this request, then quits.
  caf::scoped_actor self{system_};
  self->request(scheduler_, std::chrono::seconds(5), flush_atom::value).receive([](bool) {}, [](caf::error&) {});
  caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
  endpoints_.close();
}

}  // namespace tandem
