#include "apps/flags.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace tandem {

std::string env_name(const std::string& flag) {
  std::string name = "TANDEM_";
  for (char c : flag) name += c == '-' ? '_' : char(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

Flags::Flags(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {
  add("config", "", "file of 'name = value' lines setting these flags (# starts a comment)");
  add("log-level", "info", "lowest level of the event lines written to stderr: debug, info, warn or error");
  add("log-format", "text", "event lines as text (key=value) or json (one object per line)");
}

std::function<void(const Flags&)>& Flags::after_parse() {
  static std::function<void(const Flags&)> hook;
  return hook;
}

void Flags::read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the config file " + path);
  auto trim = [](std::string s) {
    const char* space = " \t\r";
    s.erase(0, s.find_first_not_of(space));
    s.erase(s.find_last_not_of(space) + 1);
    return s;
  };
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) throw UsageError(where + "expected 'name = value', got '" + line + "'");
    const std::string name = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    auto it = flags_.find(name);
    if (it == flags_.end() || name == "config") throw UsageError(where + "unknown setting '" + name + "'");
    if (it->second.given) continue;  // the environment already set it
    it->second.value = value;
    it->second.given = true;
  }
}

void Flags::add(const std::string& name, const std::string& default_value, const std::string& help) {
  Flag f{default_value, default_value, help, false, false};
  if (const char* env = std::getenv(env_name(name).c_str())) {
    f.value = env;
    f.given = true;
  }
  flags_[name] = f;
  order_.push_back(name);
}

void Flags::add_switch(const std::string& name, const std::string& help) {
  add(name, "false", help);
  flags_[name].is_switch = true;
}

bool Flags::parse(const std::vector<std::string>& args) {
  // The config file first, so that the command line (below) overrides it.
  std::string config = flags_.at("config").value;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) config = args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) config = args[i].substr(9);
  }
  if (!config.empty()) read_config(config);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << help();
      return false;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) throw UsageError("unknown flag --" + name);
    Flag& f = it->second;
    if (f.is_switch) {
      f.value = has_value ? value : "true";
    } else if (has_value) {
      f.value = value;
    } else {
      if (i + 1 >= args.size()) throw UsageError("flag --" + name + " needs a value");
      f.value = args[++i];
    }
    f.given = true;
  }
  if (after_parse()) after_parse()(*this);
  return true;
}

const Flags::Flag& Flags::flag(const std::string& name) const {
  auto it = flags_.find(name);
  if (it == flags_.end()) throw std::logic_error("flag --" + name + " was never declared");
  return it->second;
}

const std::string& Flags::get(const std::string& name) const { return flag(name).value; }
bool Flags::given(const std::string& name) const { return flag(name).given; }

long long Flags::get_int(const std::string& name) const {
  const std::string& v = get(name);
  try {
    size_t used = 0;
    long long x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {}
  throw UsageError("--" + name + " expects an integer, got '" + v + "'");
}

double Flags::get_double(const std::string& name) const {
  const std::string& v = get(name);
  try {
    size_t used = 0;
    double x = std::stod(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {}
  throw UsageError("--" + name + " expects a number, got '" + v + "'");
}

bool Flags::get_switch(const std::string& name) const {
  const std::string& v = get(name);
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no" || v.empty()) return false;
  throw UsageError("--" + name + " expects true or false, got '" + v + "'");
}

std::vector<std::string> Flags::get_list(const std::string& name) const {
  std::vector<std::string> items;
  std::stringstream in(get(name));
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

std::string Flags::help() const {
  std::ostringstream out;
  out << "usage: " << command_ << " [flags]\n\n" << summary_ << "\n\nflags (environment variable, default):\n";
  for (const auto& name : order_) {
    const Flag& f = flags_.at(name);
    out << "  --" << name << (f.is_switch ? "" : " VALUE") << "\n      " << f.help << " (" << env_name(name);
    if (!f.is_switch) out << ", default: " << (f.default_value.empty() ? "none" : f.default_value);
    out << ")\n";
  }
  return out.str();
}

}  // namespace tandem
