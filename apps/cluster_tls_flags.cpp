#include "apps/cluster_tls_flags.h"

#include <stdexcept>

#include "apps/flags.h"

namespace tandem {

void add_cluster_tls_flags(Flags& f) {
  f.add("cluster-ca", "",
        "control plane: the cluster CA's certificate (tandem keys ca); with --cluster-cert and --cluster-key, "
        "nodes and scheduler talk TLS and accept only peers holding a certificate of this CA");
  f.add("cluster-cert", "", "control plane: this node's certificate, signed by the cluster CA (tandem keys cert)");
  f.add("cluster-key", "", "control plane: this node's private key");
}

ClusterTls cluster_tls(const Flags& flags) {
  ClusterTls tls{flags.get("cluster-ca"), flags.get("cluster-cert"), flags.get("cluster-key")};
  if (tls.ca_file.empty() && tls.cert_file.empty() && tls.key_file.empty()) return tls;
  try {
    check_cluster_tls(tls);
  } catch (const std::runtime_error& e) {
    throw UsageError(std::string("--cluster-ca, --cluster-cert, --cluster-key: ") + e.what());
  }
  return tls;
}

}  // namespace tandem
