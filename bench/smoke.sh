#!/usr/bin/env bash
# CI's short run of every benchmark, so none can rot: a minute of compare.sh against the
# debug build the tests made, manifest_get.sh for a second each, a small scale run, one
# pass of each criterion bench, console.sh at 300 repositories (chromium: tests/run.sh
# installs it).
# Figures from here mean nothing; bench/RESULTS.md comes from a full release run.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for pair in wrk:wrk ab:apache2-utils nginx:nginx docker-registry:docker-registry skopeo:skopeo; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --locked
SMOKE=1 HOIST_BIN=target/debug/hoist bash bench/compare.sh
DURATION=1s REPEAT=1 CONNECTIONS=4 HOIST_BIN=target/debug/hoist bash bench/manifest_get.sh
SMOKE=1 HOIST_BIN=target/debug/hoist bash bench/stalls.sh
SMOKE=1 HOIST_BIN=target/debug/hoist bash bench/mirror.sh
SCALE_REPOS=100 cargo bench --locked --profile dev --bench scale
cargo bench --locked --profile dev --bench formats -- --test
SMOKE=1 bash bench/console.sh
