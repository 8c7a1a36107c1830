#!/usr/bin/env bash
# The project's one test command (README, CI). Installs the Debian packages whose real
# programs the integration tests drive, if missing, then runs every test:
#   skopeo, podman            clients (interop, soak)
#   docker-registry           CNCF distribution 2.8: the upstreams of the mirror tests
#   apache2-utils             htpasswd, for an upstream behind basic auth
#   containerd, docker.io     engines pulling through hoist (ctr, dockerd)
# and, through tests/browser-deps.sh, chromium, chromium-driver and axe-core for the console.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in skopeo:skopeo podman:podman docker-registry:docker-registry htpasswd:apache2-utils \
    containerd:containerd ctr:containerd dockerd:docker.io; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    echo "installing $packages from Debian"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >/dev/null
fi

bash tests/browser-deps.sh   # chromium, chromium-driver, axe-core (npm): the console's browser tests
cargo test --locked "$@"
