// tandem keys: key material for the cluster.
//   generate --out NAME            a CURVE key pair for a ZeroMQ server or client (NAME.key, NAME.pub)
//   ca --out DIR/ca                the cluster's certificate authority (ca.crt, ca.key)
//   cert --ca DIR/ca --out NAME [--node ROLE/NAME,...]
//                                  a node certificate signed by that CA (NAME.crt, NAME.key),
//                                  binding the nodes it may join as (security/join_proof.h)
#include <iostream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "security/certificates.h"
#include "security/curve.h"
#include "security/join_proof.h"

namespace tandem {

int run_keys(const std::vector<std::string>& args) {
  Flags flags(
      "tandem keys",
      "tandem keys generate --out NAME: writes a CURVE key pair, NAME.key (keep it secret; --curve-secret-key)\n"
      "  and NAME.pub (its public half: a client's --curve-server-key, or a line of a server's\n"
      "  --curve-authorized-keys).\n"
      "tandem keys ca --out DIR/ca: writes the cluster's certificate authority for the control plane, ca.crt\n"
      "  (every node's --cluster-ca) and ca.key (keep it offline: whoever holds it can make nodes).\n"
      "tandem keys cert --ca DIR/ca --out NAME [--node ROLE/NAME,...] [--name CN]: writes NAME.crt, signed by\n"
      "  that CA, and NAME.key (a node's --cluster-cert and --cluster-key). The scheduler lets a node join only\n"
      "  under a role and name its certificate binds: --node verifier/v1, or a prefix, drafter/tandem-drafter-*\n"
      "  (*/* : any node, for a certificate all nodes share; default none). With --name HOST (a host name or IP\n"
      "  address) it also serves HTTPS for that name: serve's --http-tls-cert and --http-tls-key.");
  flags.add("out", "", "path and base name of the files to write");
  flags.add("ca", "", "cert: path and base name of the CA's files (.crt and .key)");
  flags.add("name", "tandem node",
            "cert: the certificate's common name (shown in TLS errors); a host name or IP address is also put in "
            "subjectAltName, the name HTTPS clients check");
  flags.add("node", "none",
            "cert: the nodes the certificate lets join, ROLE/NAME separated by commas (ROLE verifier, drafter, "
            "shard or *; NAME a name or a prefix ending in *), or none (a scheduler's or an HTTPS certificate)");
  flags.add("days", "825", "ca, cert: days the certificate is valid");
  const std::string action = args.empty() ? "" : args[0];
  if (action != "generate" && action != "ca" && action != "cert") {
    if (!flags.parse(args)) return 0;  // --help
    throw UsageError("the actions are 'generate', 'ca' and 'cert'");
  }
  if (!flags.parse(std::vector<std::string>(args.begin() + 1, args.end()))) return 0;
  const std::string out = flags.get("out");
  if (out.empty()) throw UsageError("--out NAME is required");
  const long long days = flags.get_int("days");
  if (days < 1 || days > 36500) throw UsageError("--days must be between 1 and 36500");
  if (action == "generate") {
    const CurveKeyPair keys = generate_curve_keys();
    write_curve_key_files(out, keys);
    std::cout << "wrote " << out << ".key (secret) and " << out << ".pub: public key " << keys.public_key << std::endl;
  } else if (action == "ca") {
    write_cluster_ca(out, int(days));
    std::cout << "wrote " << out << ".crt (the cluster CA: every node's --cluster-ca) and " << out
              << ".key (secret: signs node certificates)" << std::endl;
  } else {
    if (flags.get("ca").empty()) throw UsageError("--ca DIR/ca (the CA's base name) is required");
    std::vector<std::string> nodes = flags.get_list("node");
    if (nodes == std::vector<std::string>{"none"}) nodes.clear();
    for (const std::string& node : nodes)
      if (std::string wrong = check_node_binding(node); !wrong.empty()) throw UsageError("--node: " + wrong);
    write_node_certificate(flags.get("ca"), out, flags.get("name"), nodes, int(days));
    std::cout << "wrote " << out << ".crt and " << out << ".key (secret), signed by " << flags.get("ca")
              << ".crt; nodes it lets join: " << flags.get("node") << std::endl;
  }
  return 0;
}

}  // namespace tandem
