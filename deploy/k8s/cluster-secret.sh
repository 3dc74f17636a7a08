#!/usr/bin/env bash
# Makes the cluster's certificate authority and one certificate per component with `tandem
# keys`, and prints the Secrets the pods mount (tandem-cluster-tls-ROLE: ca.crt, node.crt,
# node.key). Each node certificate binds its role and its pods' names (tandem-ROLE-*), so a
# drafter pod cannot join as a verifier or under another component's names; the scheduler's
# binds no node. The CA's private key stays in DIR, off the cluster: keep it offline.
#   deploy/k8s/cluster-secret.sh DIR | kubectl apply -f -
set -euo pipefail
dir=${1:?usage: $0 DIR (where the CA and node files are written; keep DIR/ca.key secret)}
tandem=${TANDEM:-$(dirname "$0")/../../build/tandem}
mkdir -p "$dir"
[ -f "$dir/ca.crt" ] || "$tandem" keys ca --out "$dir/ca" >&2
for role in scheduler verifier drafter shard; do
  nodes="$role/tandem-$role-*"
  [ "$role" = scheduler ] && nodes=none
  "$tandem" keys cert --ca "$dir/ca" --out "$dir/$role" --name "tandem-$role" --node "$nodes" >&2
  echo "---"
  kubectl create secret generic "tandem-cluster-tls-$role" --namespace tandem --dry-run=client -o yaml \
    --from-file=ca.crt="$dir/ca.crt" --from-file=node.crt="$dir/$role.crt" --from-file=node.key="$dir/$role.key"
done
