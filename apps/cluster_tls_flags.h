#pragma once
// --cluster-ca, --cluster-cert and --cluster-key: TLS on the control plane for every
// command that has one (tandem serve, tandem node), see security/certificates.h.
#include "security/certificates.h"

namespace tandem {

class Flags;

/// Adds the three flags.
void add_cluster_tls_flags(Flags& flags);
/// What they name, checked (the certificate is the CA's and fits the key); empty when none
/// is given; a UsageError saying what is wrong otherwise.
ClusterTls cluster_tls(const Flags& flags);

}  // namespace tandem
