#!/usr/bin/env bash
# Installs whatever is missing on a fresh Debian 12 machine (apt packages, the
# Python virtual environment, the models) and builds tandem into build/.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential cmake pkg-config git python3 python3-venv python3-pip
              libgtest-dev libgmock-dev libbenchmark-dev libicu-dev nlohmann-json3-dev
              libprotobuf-dev protobuf-compiler libzmq3-dev cppzmq-dev libcpp-httplib-dev libboost1.81-dev libboost-context1.81-dev libcaf-dev libssl-dev openssl
              prometheus-cpp-dev prometheus clang-format)
# kubectl (for `kubectl kustomize` in the manifest tests) comes from Debian's kubernetes-client
# unless a kubectl is already installed.
command -v kubectl >/dev/null || APT_PACKAGES+=(kubernetes-client)

missing_packages() {
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

missing=$(missing_packages)
if [ -n "$missing" ]; then
  echo "setup: installing apt packages:" $missing
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# Python environment for the model installer and the reference checks.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! cmp -s scripts/requirements.txt .venv/.requirements.installed; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/.requirements.installed
fi

# TANDEM_SKIP_MODELS=1 (the container build) leaves the models to a volume.
[ "${TANDEM_SKIP_MODELS:-0}" = 1 ] || .venv/bin/python scripts/install_models.py
# The model families' chat templates, for the Jinja interpreter's tests.
[ "${TANDEM_SKIP_MODELS:-0}" = 1 ] || scripts/install_chat_templates.sh

BUILD_TYPE=${TANDEM_BUILD_TYPE:-Release}
# TANDEM_CMAKE_ARGS adds options, such as -DTANDEM_TESTS=OFF -DTANDEM_NATIVE=OFF for a portable image.
cmake -S . -B build -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${TANDEM_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "$(nproc)"

# FR-Spec's draft vocabulary: the draft model's tokens that a pinned corpus uses most
# (scripts/install_corpus.py, `tandem vocab`); `--draft-vocab auto` finds it beside the model.
if [ "${TANDEM_SKIP_MODELS:-0}" != 1 ]; then
  .venv/bin/python scripts/install_corpus.py
  vocab=models/qwen2.5-coder-0.5b-instruct-q4_k_m.vocab
  if [ ! -s "$vocab" ] || [ models/corpus/.installed -nt "$vocab" ]; then
    build/tandem vocab --corpus models/corpus --out "$vocab"
  fi
fi
