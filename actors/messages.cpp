#include "actors/messages.h"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

namespace tandem {
namespace {

constexpr caf::atom_value kCategory = caf::atom("tandem");

}  // namespace

void add_message_types(caf::actor_system_config& config) {
  config.add_message_type<JoinRequest>("tandem.JoinRequest");
  config.add_message_type<Heartbeat>("tandem.Heartbeat");
  config.add_message_type<SubmitWork>("tandem.SubmitWork");
  config.add_message_type<VerifierReply>("tandem.VerifierReply");
  config.add_message_type<PairWith>("tandem.PairWith");
}

caf::error cluster_failure(cluster_error code, std::string reason) {
  return caf::error(uint8_t(code), kCategory, caf::make_message(std::move(reason)));
}

bool is_cluster_error(const caf::error& e, cluster_error code) {
  return e.category() == kCategory && e.code() == uint8_t(code);
}

std::string failure_reason(const caf::error& e, caf::actor_system& system) {
  if (e.category() == kCategory && e.context().match_elements<std::string>()) return e.context().get_as<std::string>(0);
  return system.render(e);
}

}  // namespace tandem
