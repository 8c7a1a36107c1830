#!/usr/bin/env bash
# Manifest GET throughput: a stored manifest against a schema1 variant (what Docker <= 1.9
# gets for a schema2 tag), by tag and by digest. The variant is made on the first request and
# stored, so a steady-state GET of it should cost what a stored manifest of its size costs
# (target: within 10%). A stored signed schema1 of the same image is that baseline; the
# stored schema2 (583 bytes against 2.8 KB) is shown too.
#
#   bash bench/manifest_get.sh            # 10 s per scenario, 16 connections
#   DURATION=2s CONNECTIONS=4 bash bench/manifest_get.sh   # a smoke run
# Needs: wrk, curl, a release build (HOIST_BIN, default target/release/hoist).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${HOIST_BIN:-target/release/hoist}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
[ -x "$BIN" ] || cargo build --release --locked
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" --log warn >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*http:\/\///p' "$work/out" | head -1)
base="http://$addr/v2/bench/simple"

# Seed the recorded test image: its blobs, then its schema2 manifest as :latest.
for blob in tests/fixtures/layout/simple/blobs/sha256/*; do
  curl -sf -X POST "$base/blobs/uploads/?digest=sha256:$(basename "$blob")" --data-binary @"$blob" -o /dev/null
done
S2=application/vnd.docker.distribution.manifest.v2+json
curl -sf -X PUT -H "Content-Type: $S2" --data-binary @tests/fixtures/pushed/simple.v2s2.manifest.json \
  "$base/manifests/latest" -o /dev/null
# The same image pushed as signed schema1: a stored manifest of the variant's size.
curl -sf -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v1+prettyjws' \
  --data-binary @tests/fixtures/responses/put/input-signed-s1.json "$base/manifests/s1" -o /dev/null
stored=$(curl -sfI -H "Accept: $S2" "$base/manifests/latest" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
variant=$(curl -sfI "$base/manifests/latest" -H 'Accept:' | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')

# name | url | Accept header ("" = none, as Docker 1.6-1.9 send)
scenarios=(
  "stored schema2 by tag|$base/manifests/latest|$S2"
  "stored schema1 by tag|$base/manifests/s1|"
  "schema1 variant by tag|$base/manifests/latest|"
  "stored schema2 by digest|$base/manifests/$stored|$S2"
  "schema1 variant by digest|$base/manifests/$variant|"
)
printf '%-28s %12s %10s %10s\n' scenario req/s p50 p99
declare -A rps
for s in "${scenarios[@]}"; do
  IFS='|' read -r name url accept <<<"$s"
  args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
  [ -n "$accept" ] && args+=(-H "Accept: $accept")
  out=$(wrk "${args[@]}" "$url")
  if echo "$out" | grep -q 'Non-2xx'; then echo "$name: errors: $out" >&2; exit 1; fi
  r=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  p50=$(echo "$out" | awk '$1=="50%"{print $2}')
  p99=$(echo "$out" | awk '$1=="99%"{print $2}')
  rps[$name]=$r
  printf '%-28s %12s %10s %10s\n' "$name" "$r" "$p50" "$p99"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
echo "schema1 variant / stored schema1, by tag: $(ratio "${rps[schema1 variant by tag]}" "${rps[stored schema1 by tag]}")"
echo "schema1 variant / stored schema2, by tag: $(ratio "${rps[schema1 variant by tag]}" "${rps[stored schema2 by tag]}")"
echo "schema1 variant / stored schema2, by digest: $(ratio "${rps[schema1 variant by digest]}" "${rps[stored schema2 by digest]}")"
