#pragma once
// The cluster's certificate authority for the control plane (TLS through CAF's OpenSSL
// module): only a node holding a certificate signed by the cluster's CA joins, and it
// joins only a scheduler holding one too.
//
//   tandem keys ca --out DIR/ca        ->  ca.crt (give to every node), ca.key (keep offline)
//   tandem keys cert --ca DIR/ca --out DIR/node --node ROLE/NAME  ->  node.crt, node.key
//        (signed by the CA; binding the nodes it may join as, security/join_proof.h)
//   every node: --cluster-ca ca.crt --cluster-cert node.crt --cluster-key node.key
//
// Keys are ECDSA P-256, certificates X.509 v3 signed with SHA-256.
#include <string>
#include <vector>

namespace tandem {

/// The three files a node needs for TLS on the control plane; all empty: plain TCP.
struct ClusterTls {
  std::string ca_file, cert_file, key_file;
  bool enabled() const { return !ca_file.empty(); }
};

/// Writes `base`.crt (a self-signed CA certificate, valid `days`) and `base`.key (mode 0600).
void write_cluster_ca(const std::string& base, int days);
/// Writes `base`.crt, signed by the CA in `ca_base`.crt/.key, for `name`, binding `nodes`
/// ("ROLE/NAME", security/join_proof.h), and `base`.key (mode 0600).
void write_node_certificate(const std::string& ca_base, const std::string& base, const std::string& name,
                            const std::vector<std::string>& nodes, int days);
/// Checks that the files exist and fit: the certificate is signed by the CA, is within its
/// dates, and matches the key. std::runtime_error saying what is wrong.
void check_cluster_tls(const ClusterTls& tls);

}  // namespace tandem
