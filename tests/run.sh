#!/usr/bin/env bash
# The project's one test command (README, CI). Installs the Debian packages whose real clients
# the interop tests drive, if missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in skopeo podman; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} from Debian"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --locked "$@"
