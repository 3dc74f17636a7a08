#!/usr/bin/env bash
# Makes the cluster's certificate authority and one node certificate with `tandem keys`,
# and prints the Secret every tandem pod mounts (tandem-cluster-tls: ca.crt, node.crt,
# node.key). The CA's private key stays in DIR, off the cluster: keep it offline.
#   deploy/k8s/cluster-secret.sh DIR | kubectl apply -f -
set -euo pipefail
dir=${1:?usage: $0 DIR (where the CA and node files are written; keep DIR/ca.key secret)}
tandem=${TANDEM:-$(dirname "$0")/../../build/tandem}
mkdir -p "$dir"
[ -f "$dir/ca.crt" ] || "$tandem" keys ca --out "$dir/ca" >&2
"$tandem" keys cert --ca "$dir/ca" --out "$dir/node" --name "tandem node" >&2
kubectl create secret generic tandem-cluster-tls --namespace tandem --dry-run=client -o yaml \
  --from-file=ca.crt="$dir/ca.crt" --from-file=node.crt="$dir/node.crt" --from-file=node.key="$dir/node.key"
