// tandem: speculative-decoding inference. One binary, one subcommand per job.
#include <iostream>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/flags.h"
#include "model/mapped_file.h"
#include "observability/log.h"

namespace {

const char* kUsage =
    "usage: tandem COMMAND [flags]\n\n"
    "commands:\n"
    "  serve      load the models once and serve ZeroMQ and HTTP clients\n"
    "  node       one role of a multi-process cluster: scheduler, verifier, drafter or shard\n"
    "  generate   generate text from a prompt, locally or on a server (--server)\n"
    "  models     list the installed models\n"
    "  keys       make CURVE key files (tandem keys generate --out NAME)\n"
    "  vocab      count a corpus's tokens into a draft vocabulary (--draft-vocab)\n"
    "  template   print the prompt a model is shown for a conversation (its chat template)\n\n"
    "Run 'tandem COMMAND --help' for the flags of a command.\n";

}  // namespace

void tandem::apply_log_flags(const Flags& flags, const std::string& node) {
  try {
    configure_logging(log_level_named(flags.get("log-level")), log_format_named(flags.get("log-format")), node);
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }
}

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  // `tandem node` names itself again once it knows its node name.
  tandem::Flags::after_parse() = [&command](const tandem::Flags& flags) { tandem::apply_log_flags(flags, command); };
  try {
    if (command == "generate") return tandem::run_generate(args);
    if (command == "models") return tandem::run_models(args);
    if (command == "serve") return tandem::run_serve(args);
    if (command == "node") return tandem::run_node(args);
    if (command == "keys") return tandem::run_keys(args);
    if (command == "vocab") return tandem::run_vocab(args);
    if (command == "template") return tandem::run_template(args);
    std::cerr << "tandem: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const tandem::UsageError& e) {
    std::cerr << "tandem " << command << ": " << e.what() << " (see 'tandem " << command << " --help')\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tandem " << command << ": " << e.what() << "\n";
    return 1;
  }
}
