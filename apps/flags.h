#pragma once
// Command-line flags with defaults, overridable by TANDEM_* environment variables
// (TANDEM_MAX_TOKENS for --max-tokens), themselves overridden by the command line.
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem {

/// A mistake in how a command was called; main prints it with a hint to use --help.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The flags of one command.
class Flags {
 public:
  /// `command` as the user types it, e.g. "tandem generate" or "tandem_bench". Every
  /// command has --config: a file of `name = value` lines (# comments) that sets flags;
  /// TANDEM_* environment variables override it, and the command line overrides both.
  /// Every command also has --log-level and --log-format.
  Flags(std::string command, std::string summary);

  /// Declares a flag that takes a value.
  void add(const std::string& name, const std::string& default_value, const std::string& help);
  /// Declares a switch (false unless given).
  void add_switch(const std::string& name, const std::string& help);

  /// Parses arguments after the command name. Returns false when --help was asked (help already printed).
  bool parse(const std::vector<std::string>& args);

  /// The value of a flag.
  const std::string& get(const std::string& name) const;
  /// The value as an integer / a number / a switch; a malformed value is a UsageError.
  long long get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  bool get_switch(const std::string& name) const;
  /// The value as a comma-separated list (empty items dropped).
  std::vector<std::string> get_list(const std::string& name) const;
  /// Whether the flag was set on the command line or in the environment.
  bool given(const std::string& name) const;

  /// Runs after every successful parse (the tandem binary applies --log-level and
  /// --log-format with it); empty by default.
  static std::function<void(const Flags&)>& after_parse();

  /// The --help text.
  std::string help() const;

 private:
  struct Flag {
    std::string value, default_value, help;
    bool is_switch = false, given = false;
  };
  const Flag& flag(const std::string& name) const;
  void read_config(const std::string& path);

  std::string command_, summary_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
};

/// TANDEM_ plus the flag name in capitals with '-' as '_'.
std::string env_name(const std::string& flag);

}  // namespace tandem
