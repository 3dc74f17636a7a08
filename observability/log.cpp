#include "observability/log.h"

#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <stdexcept>

namespace tandem {
namespace {

struct LogSettings {
  std::mutex mutex;
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;
  std::string node;
};

LogSettings& settings() {
  static LogSettings s;
  return s;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

// UTC with milliseconds, e.g. 2026-11-30T12:00:00.123Z.
std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int millis = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];  // room for any int the compiler imagines
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
  return text;
}

// A text value: bare when it is one plain word, else quoted as a JSON string.
std::string text_value(const LogFields& value) {
  const std::string dumped = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!value.is_string()) return dumped;
  const std::string& s = value.get_ref<const std::string&>();
  const bool plain = !s.empty() && s.find_first_of(" \t\n\r\"=\\") == std::string::npos;
  return plain ? s : dumped;
}

}  // namespace

LogLevel log_level_named(const std::string& name) {
  for (LogLevel level : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error})
    if (name == level_name(level)) return level;
  throw std::invalid_argument("log level must be debug, info, warn or error, got '" + name + "'");
}

LogFormat log_format_named(const std::string& name) {
  if (name == "text") return LogFormat::text;
  if (name == "json") return LogFormat::json;
  throw std::invalid_argument("log format must be text or json, got '" + name + "'");
}

// protobuf writes its own complaints to stderr; the parse errors among them come from
// peers' malformed frames, which are already logged (frame_refused), so they go to our
// log at debug level instead of as unformatted ERROR lines.
static void protobuf_log(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  const LogLevel ours = level >= google::protobuf::LOGLEVEL_FATAL ? LogLevel::error : LogLevel::debug;
  log_event(ours, "protobuf", {{"message", message}, {"at", std::string(file) + ":" + std::to_string(line)}});
}

void configure_logging(LogLevel level, LogFormat format, const std::string& node) {
  google::protobuf::SetLogHandler(&protobuf_log);
  LogSettings& s = settings();
  std::lock_guard lock(s.mutex);
  s.level = level;
  s.format = format;
  s.node = node;
}

void log_event(LogLevel level, const std::string& event, const LogFields& fields) {
  LogSettings& s = settings();
  std::lock_guard lock(s.mutex);
  if (level < s.level) return;
  std::string line;
  if (s.format == LogFormat::json) {
    LogFields out = {{"time", timestamp()}, {"level", level_name(level)}, {"node", s.node}, {"event", event}};
    for (const auto& [key, value] : fields.items()) out[key] = value;
    line = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = timestamp() + " " + level_name(level) + " node=" + text_value(s.node) + " event=" + event;
    for (const auto& [key, value] : fields.items()) line += " " + key + "=" + text_value(value);
  }
  line += "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tandem
