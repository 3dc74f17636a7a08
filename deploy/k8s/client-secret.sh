#!/usr/bin/env bash
# Makes the scheduler's client credentials with `tandem keys` and prints the Secret the
# scheduler pod mounts (tandem-client-keys):
#   server.key      its CURVE key pair (ZeroMQ clients need server.pub, written beside it)
#   authorized-keys the ZeroMQ clients' public keys, one per line with a name: starts with
#                   DIR/client.pub (give DIR/client.key to that client); add more and re-apply
#   api-keys        HTTP API keys, one per line with a name: starts with one random key
#   http.crt/.key   the HTTPS certificate for the Service name tandem-scheduler, signed by
#                   the cluster CA in DIR (deploy/k8s/cluster-secret.sh DIR makes it first)
#   deploy/k8s/client-secret.sh DIR | kubectl apply -f -
set -euo pipefail
dir=${1:?usage: $0 DIR (where cluster-secret.sh wrote the CA; keys are written there too)}
tandem=${TANDEM:-$(dirname "$0")/../../build/tandem}
[ -f "$dir/ca.crt" ] || { echo "$dir/ca.crt missing: run deploy/k8s/cluster-secret.sh $dir first" >&2; exit 2; }
[ -f "$dir/server.key" ] || "$tandem" keys generate --out "$dir/server" >&2
[ -f "$dir/client.key" ] || "$tandem" keys generate --out "$dir/client" >&2
[ -f "$dir/authorized-keys" ] || echo "$(sed -n 's/^public *= *//p' "$dir/client.pub") client" >"$dir/authorized-keys"
[ -f "$dir/api-keys" ] || (umask 077 && echo "sk-$(openssl rand -hex 24) default" >"$dir/api-keys")
"$tandem" keys cert --ca "$dir/ca" --out "$dir/http" --name tandem-scheduler >&2
kubectl create secret generic tandem-client-keys --namespace tandem --dry-run=client -o yaml \
  --from-file=server.key="$dir/server.key" --from-file=authorized-keys="$dir/authorized-keys" \
  --from-file=api-keys="$dir/api-keys" --from-file=http.crt="$dir/http.crt" --from-file=http.key="$dir/http.key"
