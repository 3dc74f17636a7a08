#!/usr/bin/env bash
# Builds deploy/Dockerfile's CPU image (tandem:cpu, the tag deploy/k8s/overlays/cpu names)
# with podman, runs it, and answers a real prompt from it over HTTP. Not in the default CI run
# (about 15 minutes on 2 cores); run it after changing the Dockerfile or what the image links.
#
# No image registry is reachable from these machines, so the Dockerfile's bases (debian:12 and
# debian:12-slim) are made here: a Debian 12 root filesystem from this machine's own apt
# source, built by debootstrap (which checks the archive's signatures), imported under those
# names. On a machine that can pull them, they are pulled as usual instead.
#
#   scripts/image_check.sh            build (reusing the layers of earlier builds) and check
#   scripts/image_check.sh --rebuild  build from nothing, for the build time
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
missing=""
for tool in podman:podman runc:runc debootstrap:debootstrap curl:curl; do
  command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# runc, not crun: crun refuses the hybrid cgroup layout of some VMs. Explicit limits: a
# container may not raise them without CAP_SYS_RESOURCE, which a VM's root may lack.
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

# The base images, from Debian's archive as this machine reaches it.
if ! podman image exists docker.io/library/debian:12; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
  rootfs=$(mktemp -d)
  echo "image: debootstrap of Debian 12 (minbase) from $mirror"
  $SUDO debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
  # This machine's own trust: the certificate authorities it added (a proxy's, say) and, if
  # pip is told to use the system's bundle here, the same in the image, so that the build
  # reaches PyPI as this machine does.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    $SUDO cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    $SUDO chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  [ -f /etc/pip.conf ] && $SUDO cp /etc/pip.conf "$rootfs/etc/pip.conf"
  $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  $SUDO tar -C "$rootfs" -c . | podman import --quiet - docker.io/library/debian:12 >/dev/null
  $SUDO rm -rf "$rootfs"
fi
podman image exists docker.io/library/debian:12-slim || podman tag docker.io/library/debian:12 docker.io/library/debian:12-slim

build_args=()
[ "${1:-}" = --rebuild ] && build_args+=(--no-cache)
start=$(date +%s)
"${PODMAN[@]}" build "${build_args[@]}" "${LIMITS[@]}" --network host -f deploy/Dockerfile --target cpu -t tandem:cpu . \
  > /tmp/tandem-image-build.log 2>&1 || { tail -40 /tmp/tandem-image-build.log; exit 1; }
seconds=$(( $(date +%s) - start ))
size=$(podman image inspect tandem:cpu --format '{{.Size}}')
echo "image: tandem:cpu built in ${seconds} s, $(( size / 1000000 )) MB (log: /tmp/tandem-image-build.log)"

# Run it as the manifests do (models in a volume at /models, read-only) and ask it something.
model=${TANDEM_IMAGE_MODEL:-qwen2.5-coder-0.5b-instruct-q4_k_m.gguf}
[ -f "models/$model" ] || { echo "image: models/$model is missing: run scripts/setup.sh"; exit 1; }
port=$(( 20000 + RANDOM % 20000 ))
name=tandem-image-check-$$
"${PODMAN[@]}" run -d --rm --name "$name" "${LIMITS[@]}" --network host -v "$(pwd)/models:/models:ro" tandem:cpu \
  serve --model "$model" --draft-model none --threads 2 --http "127.0.0.1:$port" --listen tcp://127.0.0.1:0 >/dev/null
trap 'podman stop -t 5 "$name" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break
  sleep 1
done
answer=$(curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages": [{"role": "user", "content": "Write a Python function that adds two numbers."}], "max_tokens": 48, "temperature": 0}')
echo "$answer" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
text = answer["choices"][0]["message"]["content"]
assert "def " in text, text
print("image: answered over HTTP from the container:", repr(text[:120]), answer["usage"])'
echo "image: ok"
