#!/usr/bin/env bash
# Mirroring, measured against the tools people use today, all on 127.0.0.1 with fresh dirs:
#   1. hoist sync of a four-layer image from a local distribution, against `skopeo sync` of the
#      same image into another distribution;
#   2. cold and warm pulls through hoist's pull-through prefix against distribution 2.8's own
#      pull-through cache (proxy: remoteurl) in front of the same upstream, and a plain pull of
#      the same image from a hoist that holds it;
#   3. a re-sync of TAGS tags that finds nothing new: seconds and the upstream's requests;
#   4. hoist's peak RSS while it mirrors a HUGE_MB image.
# Prints Markdown tables (copied to OUT); bench/results.sh puts them in bench/RESULTS.md.
#
#   bash bench/mirror.sh             # 200 MB image, 1000 tags, 1 GB image; medians of 3
#   SMOKE=1 bash bench/mirror.sh     # small sizes, for CI
# Needs: docker-registry, skopeo, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
SMOKE=${SMOKE:-}
if [ -n "$SMOKE" ]; then
  IMAGE_MB=${IMAGE_MB:-4}; TAGS=${TAGS:-50}; HUGE_MB=${HUGE_MB:-16}; REPEAT=${REPEAT:-1}
else
  IMAGE_MB=${IMAGE_MB:-200}; TAGS=${TAGS:-1000}; HUGE_MB=${HUGE_MB:-1024}; REPEAT=${REPEAT:-3}
fi
OUT=${OUT:-/dev/null}
HOIST_BIN=${HOIST_BIN:-target/release/hoist}
for tool in docker-registry skopeo curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install docker-registry skopeo curl python3" >&2; exit 1; }
done
[ -x "$HOIST_BIN" ] || cargo build --release --locked

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
SKOPEO=(skopeo --insecure-policy)
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }

# ---- the upstream, seeded with the image (four layers) and many tags of a small one
UP_PORT=$(free_port); UP=127.0.0.1:$UP_PORT
pids+=("$(start_distribution "$work/up" "$UP_PORT" "")")
make_layout "$work/image" 4 "$((IMAGE_MB / 4))"
"${SKOPEO[@]}" copy -q --format v2s2 --dest-tls-verify=false "oci:$work/image:latest" "docker://$UP/bench/image:v1"
python3 - "$UP" "$TAGS" <<'PY'
import hashlib, json, sys, urllib.request
up, n = sys.argv[1], int(sys.argv[2])
def post(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{up}/v2/bench/tags/blobs/uploads/", method="POST")
    loc = urllib.request.urlopen(req).headers["Location"]
    if loc.startswith("/"):
        loc = f"http://{up}{loc}"
    sep = "&" if "?" in loc else "?"
    # Go parses a form-encoded body (urllib's default type) away before distribution reads it.
    urllib.request.urlopen(urllib.request.Request(f"{loc}{sep}digest={d}", data=data, method="PUT",
        headers={"Content-Type": "application/octet-stream"}))
    return d
layer = b"tags bench layer" * 64
config = json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": post(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": post(layer), "size": len(layer)}]}).encode()
for i in range(n):
    urllib.request.urlopen(urllib.request.Request(f"http://{up}/v2/bench/tags/manifests/t{i:05d}", data=m, method="PUT",
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}))
PY

upstream_toml() { printf '[[upstreams]]\nname = "up"\nurl = "http://%s"\nmax_concurrency = 4\n' "$UP"; }
mirror_rule() { printf '[[mirrors]]\nname = "%s"\nupstream = "up"\nfrom = "%s"\nto = "%s"\n' "$1" "$2" "$3"; }

# ---- 1. hoist sync against skopeo sync
sync_hoist() { # -> seconds of one cold hoist sync of the image
  local d; d=$(mktemp -d -p "$work")
  { upstream_toml; mirror_rule image bench/image bench/image; } >"$d.toml"
  start_hoist "$d" --config "$d.toml"
  local s; s=$(seconds "$HOIST_BIN" sync --registry "http://$HOIST_ADDR" image)
  kill "$HOIST_PID"; wait "$HOIST_PID" 2>/dev/null || true
  echo "$s"
}
sync_skopeo() { # -> seconds of one cold skopeo sync of the image into a fresh distribution
  local d port; d=$(mktemp -d -p "$work"); port=$(free_port)
  local pid; pid=$(start_distribution "$d" "$port" "")
  local s; s=$(seconds "${SKOPEO[@]}" sync --src docker --dest docker --src-tls-verify=false \
    --dest-tls-verify=false "$UP/bench/image:v1" "127.0.0.1:$port/mirror")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$s"
}
hoist_sync_s=$(for _ in $(seq "$REPEAT"); do sync_hoist; done | median)
skopeo_sync_s=$(for _ in $(seq "$REPEAT"); do sync_skopeo; done | median)

# ---- 2. pull-through: cold and warm, hoist and distribution's proxy, and a plain local pull
pull() { # registry ref -> seconds of a skopeo pull into a fresh dir
  local dest; dest=$(mktemp -d -p "$work")
  seconds "${SKOPEO[@]}" copy --src-tls-verify=false "docker://$1" "dir:$dest"
  rm -rf "$dest"
}
through_hoist() { # -> "cold warm"
  local d; d=$(mktemp -d -p "$work")
  { upstream_toml; printf '[[proxies]]\nprefix = "p"\nupstream = "up"\nfresh_for = "1h"\n'; } >"$d.toml"
  start_hoist "$d" --config "$d.toml"
  local cold warm; cold=$(pull "$HOIST_ADDR/p/bench/image:v1"); warm=$(pull "$HOIST_ADDR/p/bench/image:v1")
  kill "$HOIST_PID"; wait "$HOIST_PID" 2>/dev/null || true
  echo "$cold $warm"
}
through_distribution() { # -> "cold warm"
  local d port; d=$(mktemp -d -p "$work"); port=$(free_port)
  local pid; pid=$(start_distribution "$d" "$port" "proxy: {remoteurl: http://$UP}")
  local cold warm; cold=$(pull "127.0.0.1:$port/bench/image:v1"); warm=$(pull "127.0.0.1:$port/bench/image:v1")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$cold $warm"
}
plain_local() { # -> seconds of a pull from a hoist the image was pushed to
  local d; d=$(mktemp -d -p "$work")
  start_hoist "$d"
  "${SKOPEO[@]}" copy -q --format v2s2 --dest-tls-verify=false "oci:$work/image:latest" "docker://$HOIST_ADDR/bench/image:v1"
  local s; s=$(pull "$HOIST_ADDR/bench/image:v1")
  kill "$HOIST_PID"; wait "$HOIST_PID" 2>/dev/null || true
  echo "$s"
}
h_pulls=$(for _ in $(seq "$REPEAT"); do through_hoist; done)
d_pulls=$(for _ in $(seq "$REPEAT"); do through_distribution; done)
hoist_cold=$(awk '{print $1}' <<<"$h_pulls" | median); hoist_warm=$(awk '{print $2}' <<<"$h_pulls" | median)
dist_cold=$(awk '{print $1}' <<<"$d_pulls" | median); dist_warm=$(awk '{print $2}' <<<"$d_pulls" | median)
local_pull=$(for _ in $(seq "$REPEAT"); do plain_local; done | median)

# ---- 3. a no-op re-sync of TAGS tags
d=$(mktemp -d -p "$work")
{ upstream_toml; mirror_rule tags bench/tags bench/tags; } >"$d.toml"
start_hoist "$d" --config "$d.toml"
"$HOIST_BIN" sync --registry "http://$HOIST_ADDR" tags >/dev/null
mark=$(wc -l <"$work/up/access.log")
noop_s=$(seconds "$HOIST_BIN" sync --registry "http://$HOIST_ADDR" tags)
sleep 0.3   # distribution writes its access log after each response
noop_requests=$(tail -n +"$((mark + 1))" "$work/up/access.log" | grep -c '"[A-Z]* /v2/' || true)
noop_heads=$(tail -n +"$((mark + 1))" "$work/up/access.log" | grep -c '"HEAD /v2/' || true)
noop_gets=$(tail -n +"$((mark + 1))" "$work/up/access.log" | grep '"GET /v2/' | grep -vc 'tags/list\|"GET /v2/ ' || true)
kill "$HOIST_PID"; wait "$HOIST_PID" 2>/dev/null || true

# ---- 4. peak RSS while hoist mirrors a HUGE_MB image
make_layout "$work/huge" 4 "$((HUGE_MB / 4))"
"${SKOPEO[@]}" copy -q --format v2s2 --dest-tls-verify=false "oci:$work/huge:latest" "docker://$UP/bench/huge:v1"
rm -rf "$work/huge"
d=$(mktemp -d -p "$work")
{ upstream_toml; mirror_rule huge bench/huge bench/huge; } >"$d.toml"
start_hoist "$d" --config "$d.toml"
reset_peak "$HOIST_PID"
huge_s=$(seconds "$HOIST_BIN" sync --registry "http://$HOIST_ADDR" huge)
huge_rss=$(peak_mb "$HOIST_PID")
kill "$HOIST_PID"; wait "$HOIST_PID" 2>/dev/null || true

{
  echo "### Mirroring ($(nproc) cores; medians of $REPEAT)"
  echo
  echo "| scenario | hoist | reference | hoist / reference | target |"
  echo "|---|---|---|---|---|"
  echo "| mirror a ${IMAGE_MB} MB image of 4 layers | ${hoist_sync_s} s (hoist sync) | ${skopeo_sync_s} s (skopeo sync into distribution) | $(ratio "$hoist_sync_s" "$skopeo_sync_s") | <= 1 |"
  echo "| cold pull through a prefix | ${hoist_cold} s | ${dist_cold} s (distribution proxy cache) | $(ratio "$hoist_cold" "$dist_cold") | <= 1 |"
  echo "| warm pull through a prefix | ${hoist_warm} s | ${local_pull} s (plain pull from hoist) | $(ratio "$hoist_warm" "$local_pull") | <= 1.10 |"
  echo "| warm pull, distribution's proxy cache | - | ${dist_warm} s | - | - |"
  echo
  echo "No-op re-sync of $TAGS tags: ${noop_s} s, $noop_requests upstream requests ($noop_heads HEAD, $noop_gets GETs other than tags/list)."
  echo
  echo "Mirroring a ${HUGE_MB} MB image (4 layers): ${huge_s} s, hoist's peak RSS ${huge_rss} MB (target < 100 MB)."
} | tee -a "$OUT"
