// A client's ZeroMQ frame as the server takes it: parsed as a ClientMessage, and a submit
// validated and prepared as the request worker would (prompt text or ids, chat messages,
// mode, limits, sampling, stop sequences), against the real stories260K model.
#include <memory>

#include "fuzz_input.h"
#include "model/transformer.h"
#include "proto/client.pb.h"
#include "server/active_request.h"

namespace {
tandem::Transformer& target() {
  static auto model = tandem::Model::load(tandem::fuzz::stories_model());
  static tandem::Transformer transformer(*model, 1);
  return transformer;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::wire::ClientMessage message;
  if (!message.ParseFromArray(data, int(size)) || !message.has_submit()) return 0;
  auto ticket = std::make_shared<tandem::RequestTicket>();
  ticket->client = "fuzz";
  ticket->request = message.submit();
  tandem::ServingModels models{&target()};
  tandem::ServingOptions options;
  options.max_context = 512;
  try {
    tandem::ActiveRequest request(ticket, models, options,
                                  [](const std::string&, const tandem::wire::ServerMessage&) {});
  } catch (const std::invalid_argument&) {  // the INVALID_ARGUMENT a client gets
  }
  return 0;
}
