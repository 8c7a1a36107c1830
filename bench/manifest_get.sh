#!/usr/bin/env bash
# Manifest GET throughput: a stored manifest against a schema1 variant (what Docker <= 1.9
# gets for a schema2 tag), by tag and by digest. The variant is made on the first request and
# stored, so a steady-state GET of it should cost what a stored manifest of its size costs
# (target: within 10%). A stored signed schema1 of the same image is that baseline; the
# stored schema2 (583 bytes against 2.8 KB) is shown too.
#
#   bash bench/manifest_get.sh            # median of 3 runs of 5 s per scenario, 16 connections
#   DURATION=1s REPEAT=1 CONNECTIONS=4 bash bench/manifest_get.sh   # a smoke run
# Prints Markdown; bench/results.sh puts it into bench/RESULTS.md.
# Needs: wrk, curl, a release build (HOIST_BIN, default target/release/hoist).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${HOIST_BIN:-target/release/hoist}
DURATION=${DURATION:-5s}
REPEAT=${REPEAT:-3}
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
echo "## A schema1 variant against stored manifests (\`bench/manifest_get.sh\`)"
echo
echo "wrk, $CONNECTIONS connections, $THREADS threads; each row the median of $REPEAT runs of $DURATION."
echo
echo "| manifest GET | req/s | p50 | p99 |"
echo "|---|---|---|---|"
declare -A rps
for s in "${scenarios[@]}"; do
  IFS='|' read -r name url accept <<<"$s"
  args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
  [ -n "$accept" ] && args+=(-H "Accept: $accept")
  runs=$(for _ in $(seq "$REPEAT"); do
    out=$(wrk "${args[@]}" "$url")
    if echo "$out" | grep -q 'Non-2xx'; then echo "$name: errors: $out" >&2; exit 1; fi
    echo "$out" | awk '/Requests\/sec/{r=$2} $1=="50%"{p50=$2} $1=="99%"{p99=$2} END{print r, p50, p99}'
  done)
  read -r r p50 p99 <<<"$(sort -n -k1,1 <<<"$runs" | awk '{l[NR]=$0} END {print l[int((NR+1)/2)]}')"
  rps[$name]=$r
  echo "| $name | $r | $p50 | $p99 |"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
echo
echo "| ratio | value |"
echo "|---|---|"
echo "| schema1 variant / stored schema1 of the same size, by tag (target >= 0.9) | $(ratio "${rps[schema1 variant by tag]}" "${rps[stored schema1 by tag]}") |"
echo "| schema1 variant / stored schema2, by tag | $(ratio "${rps[schema1 variant by tag]}" "${rps[stored schema2 by tag]}") |"
echo "| schema1 variant / stored schema2, by digest | $(ratio "${rps[schema1 variant by digest]}" "${rps[stored schema2 by digest]}") |"
