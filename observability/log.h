#pragma once
// Operator logs: one line per event on stderr, with the time, the level, this
// process's node name, the event and its fields, as `key=value` text or one JSON
// object per line (--log-format json). Prompts and outputs are never logged.
#include <nlohmann/json.hpp>
#include <string>

namespace tandem {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, json };

/// debug, info, warn or error; std::invalid_argument otherwise.
LogLevel log_level_named(const std::string& name);
/// text or json; std::invalid_argument otherwise.
LogFormat log_format_named(const std::string& name);

/// Sets the lowest level written, the format, and the node name every line carries.
void configure_logging(LogLevel level, LogFormat format, const std::string& node);

/// Fields of a line, in the order written.
using LogFields = nlohmann::ordered_json;

/// Writes one line for `event` if `level` is at or above the configured one.
void log_event(LogLevel level, const std::string& event, const LogFields& fields = LogFields::object());

}  // namespace tandem
