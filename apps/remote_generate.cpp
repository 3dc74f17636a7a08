// tandem generate --server: the same request, answered by a running `tandem serve`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "proto/client.pb.h"
#include "security/curve.h"

namespace tandem {

int run_remote_generate(const Flags& flags) {
  wire::ClientMessage message;
  wire::SubmitRequest* r = message.mutable_submit();
  r->set_request_id("cli-" + std::to_string(::getpid()));
  r->set_text(flags.get("prompt"));
  r->set_chat(flags.get_switch("chat"));
  r->set_max_tokens(int32_t(flags.get_int("max-tokens")));
  r->mutable_sampling()->set_temperature(float(flags.get_double("temperature")));
  r->mutable_sampling()->set_top_k(int32_t(flags.get_int("top-k")));
  r->mutable_sampling()->set_top_p(float(flags.get_double("top-p")));
  r->mutable_sampling()->set_seed(uint64_t(flags.get_int("seed")));
  if (flags.given("mode")) r->set_mode(flags.get("mode"));
  if (!flags.get("stop").empty()) r->add_stop(flags.get("stop"));
  const int64_t samples = flags.get_int("samples");
  if (samples < 1 || samples > 128) throw UsageError("--samples must be between 1 and 128");
  r->set_n(uint32_t(samples));
  r->set_first_finish(flags.get_switch("first-finish"));
  r->set_stream(samples == 1);  // several samples' chunks would interleave: each is printed whole at the end
  r->set_deadline_ms(uint32_t(flags.get_int("deadline-ms")));
  constexpr auto kHeartbeat = std::chrono::milliseconds(1000);  // so the server can tell if we vanish
  r->set_heartbeat_ms(uint32_t(kHeartbeat.count()));
  const bool json = flags.get_switch("json");

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  if (!flags.get("curve-server-key").empty() || !flags.get("curve-secret-key").empty()) {
    if (flags.get("curve-server-key").empty() || flags.get("curve-secret-key").empty())
      throw UsageError("--curve-server-key and --curve-secret-key go together");
    make_curve_client(socket, read_curve_secret_key(flags.get("curve-secret-key")),
                      read_curve_public_key(flags.get("curve-server-key")));
  }
  socket.connect(flags.get("server"));
  socket.send(zmq::buffer(message.SerializeAsString()), zmq::send_flags::none);

  const auto timeout = std::chrono::milliseconds(flags.get_int("timeout-ms"));
  wire::ClientMessage heartbeat;
  heartbeat.mutable_heartbeat();
  const std::string heartbeat_bytes = heartbeat.SerializeAsString();
  auto last_reply = std::chrono::steady_clock::now(), last_sent = last_reply;
  for (;;) {
    if (std::chrono::steady_clock::now() - last_sent >= kHeartbeat) {
      // Never blocks: a server that refused our key leaves no connection to queue on.
      (void)socket.send(zmq::buffer(heartbeat_bytes), zmq::send_flags::dontwait);
      last_sent = std::chrono::steady_clock::now();
    }
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, kHeartbeat) == 0) {
      if (std::chrono::steady_clock::now() - last_reply > timeout)
        throw std::runtime_error(flags.get("server") + " has been silent for " + std::to_string(timeout.count()) +
                                 " ms: it is gone or unreachable");
      continue;
    }
    last_reply = std::chrono::steady_clock::now();
    zmq::message_t frame;
    (void)socket.recv(frame, zmq::recv_flags::none);
    wire::ServerMessage reply;
    if (!reply.ParseFromArray(frame.data(), int(frame.size())))
      throw std::runtime_error(flags.get("server") + " sent a frame that is not a ServerMessage");
    if (reply.has_heartbeat()) continue;  // the server is alive; the answer is still coming
    if (reply.has_chunk()) {
      if (!json) {
        std::fwrite(reply.chunk().text().data(), 1, reply.chunk().text().size(), stdout);
        std::fflush(stdout);
      }
    } else if (reply.has_error()) {
      throw std::runtime_error("server: " + wire::ErrorCode_Name(reply.error().code()) + ": " +
                               reply.error().message());
    } else if (reply.has_final()) {
      const wire::FinalResult& f = reply.final();
      const wire::Statistics& s = f.stats();
      if (json) {
        nlohmann::json choices = nlohmann::json::array();
        for (const wire::Choice& c : f.choices())
          choices.push_back({{"index", c.index()},
                             {"ids", std::vector<int32_t>(c.ids().begin(), c.ids().end())},
                             {"text", c.text()},
                             {"finish_reason", c.finish_reason()}});
        nlohmann::json out = {{"ids", std::vector<int32_t>(f.ids().begin(), f.ids().end())},
                              {"choices", choices},
                              {"text", f.text()},
                              {"finish_reason", f.finish_reason()},
                              {"stats",
                               {{"prompt_tokens", s.prompt_tokens()},
                                {"generated_tokens", s.generated_tokens()},
                                {"queue_seconds", s.queue_seconds()},
                                {"prefill_seconds", s.prefill_seconds()},
                                {"decode_seconds", s.decode_seconds()},
                                {"kv_cache_bytes", s.kv_cache_bytes()},
                                {"speculation",
                                 {{"mode", s.mode()},
                                  {"verifier_passes", s.verifier_passes()},
                                  {"drafted_tokens", s.drafted_tokens()},
                                  {"accepted_tokens", s.accepted_tokens()},
                                  {"tokens_per_pass", s.tokens_per_pass()},
                                  {"acceptance_rate", s.acceptance_rate()},
                                  {"drafter_idle_seconds", s.drafter_idle_seconds()},
                                  {"verifier_idle_seconds", s.verifier_idle_seconds()}}}}}};
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        for (const wire::Choice& c : f.choices())
          std::cout << "--- sample " << c.index() << " (" << c.finish_reason() << ") ---\n" << c.text() << "\n";
        std::cout << std::endl;
        std::fprintf(stderr,
                     "server %s | mode %s | prompt %d tokens | generated %d tokens, %.1f tok/s | %s | %.2f tokens "
                     "per pass, %.0f%% of %lld drafts accepted\n",
                     flags.get("server").c_str(), s.mode().c_str(), s.prompt_tokens(), s.generated_tokens(),
                     s.decode_seconds() > 0 ? s.generated_tokens() / s.decode_seconds() : 0.0,
                     f.finish_reason().c_str(), s.tokens_per_pass(), 100 * s.acceptance_rate(),
                     (long long)s.drafted_tokens());
      }
      return 0;
    }
  }
}

}  // namespace tandem
