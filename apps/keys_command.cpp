// tandem keys generate NAME: a CURVE key pair for a server, node or client
// (NAME.key, secret, and NAME.pub to hand to whoever must know it).
#include <iostream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "cluster/curve.h"

namespace tandem {

int run_keys(const std::vector<std::string>& args) {
  Flags flags(
      "tandem keys",
      "tandem keys generate --out NAME: writes a CURVE key pair, NAME.key (keep it secret; --curve-secret-key)\n"
      "and NAME.pub (its public half: a client's --curve-server-key, or a line of a server's\n"
      "--curve-authorized-keys).");
  flags.add("out", "", "path and base name of the files to write");
  if (args.empty() || args[0] != "generate") {
    if (!flags.parse(args)) return 0;  // --help
    throw UsageError("the only action is 'generate'");
  }
  if (!flags.parse(std::vector<std::string>(args.begin() + 1, args.end()))) return 0;
  if (flags.get("out").empty()) throw UsageError("--out NAME is required");
  const CurveKeyPair keys = generate_curve_keys();
  write_curve_key_files(flags.get("out"), keys);
  std::cout << "wrote " << flags.get("out") << ".key (secret) and " << flags.get("out") << ".pub: public key "
            << keys.public_key << std::endl;
  return 0;
}

}  // namespace tandem
