#!/usr/bin/env bash
# hoist next to distribution 2.8.2 (Debian's docker-registry) and nginx serving the same
# manifest and blob bytes as static files (this machine's ceiling), all on 127.0.0.1 with
# fresh data dirs. Prints Markdown tables (and copies them to OUT); bench/results.sh puts them
# into bench/RESULTS.md.
#
#   bash bench/compare.sh                 # full run: each cell 3 times 5 s, medians
#   SMOKE=1 bash bench/compare.sh         # a few seconds per scenario (CI), writes nothing
# Needs: wrk, ab (apache2-utils), skopeo, docker-registry, nginx, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${SMOKE:-}
if [ -n "$SMOKE" ]; then
  DURATION=${DURATION:-1s}; CONNS=${CONNS:-"1 16"}; REQUESTS=${REQUESTS:-2000}; REPEAT=${REPEAT:-1}
  BLOB_MB=${BLOB_MB:-2}; BIG_LAYER_MB=${BIG_LAYER_MB:-2}; PUSHES=${PUSHES:-4}
  HUGE_MB=${HUGE_MB:-8}; HUGE_CONNS=${HUGE_CONNS:-4}
  OUT=${OUT:-/dev/null}
else
  DURATION=${DURATION:-5s}; CONNS=${CONNS:-"1 16 64"}; REQUESTS=${REQUESTS:-50000}; REPEAT=${REPEAT:-3}
  BLOB_MB=${BLOB_MB:-50}; BIG_LAYER_MB=${BIG_LAYER_MB:-50}; PUSHES=${PUSHES:-20}
  HUGE_MB=${HUGE_MB:-1024}; HUGE_CONNS=${HUGE_CONNS:-64}
  OUT=${OUT:-/dev/null}
fi
BIN=${HOIST_BIN:-target/release/hoist}
for tool in wrk ab skopeo docker-registry nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk apache2-utils skopeo docker-registry nginx" >&2; exit 1; }
done
[ -x "$BIN" ] || cargo build --release --locked

work=$(mktemp -d)
chmod 755 "$work"   # nginx workers run unprivileged and must reach the static files
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
S2=application/vnd.docker.distribution.manifest.v2+json
SKOPEO=(skopeo --insecure-policy)

# ---- images: the recorded test image, one with a BLOB_MB layer, one with 4 BIG_LAYER_MB layers
cp -r tests/fixtures/layout/simple "$work/small"
make_layout "$work/blob" 1 "$BLOB_MB"
make_layout "$work/big" 4 "$BIG_LAYER_MB"

# ---- servers
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/hoist" --log warn >"$work/hoist.out" 2>"$work/hoist.log" &
pids+=($!); hoist_pid=$!
for _ in $(seq 100); do grep -q listening "$work/hoist.out" 2>/dev/null && break; sleep 0.1; done
HOIST=$(sed -n 's/.*http:\/\///p' "$work/hoist.out" | head -1)

DIST=127.0.0.1:$(free_port)
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $work/distribution}
  delete: {enabled: true}
http: {addr: $DIST}
YML
docker-registry serve "$work/registry.yml" >"$work/distribution.log" 2>&1 &
pids+=($!); dist_pid=$!
for _ in $(seq 100); do curl -sf "http://$DIST/v2/" >/dev/null && break; sleep 0.1; done

# ---- seed both with skopeo (schema2, so distribution can convert for old clients too)
seed() { # registry, repo, layout
  "${SKOPEO[@]}" copy -q --format v2s2 --dest-tls-verify=false "oci:$3:latest" "docker://$1/$2:latest"
}
for reg in "$HOIST" "$DIST"; do
  seed "$reg" bench/small "$work/small"; seed "$reg" bench/blob "$work/blob"
done
manifest_digest=$(curl -sfI -H "Accept: $S2" "http://$HOIST/v2/bench/small/manifests/latest" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
blob_digest=$(curl -sf -H "Accept: $S2" "http://$HOIST/v2/bench/blob/manifests/latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')

# ---- nginx: the same bytes as static files
NGINX=127.0.0.1:$(free_port)
root="$work/static/v2/bench"
mkdir -p "$root/small/manifests" "$root/small/s1" "$root/blob/blobs" "$work/nginx/logs"
curl -sf -H "Accept: $S2" "http://$HOIST/v2/bench/small/manifests/latest" -o "$root/small/manifests/latest"
curl -sf -H 'Accept:' "http://$HOIST/v2/bench/small/manifests/latest" -o "$root/small/s1/latest"
curl -sf "http://$HOIST/v2/bench/blob/blobs/$blob_digest" -o "$root/blob/blobs/$blob_digest"
cat >"$work/nginx.conf" <<NGX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen $NGINX; root $work/static; }
}
NGX
nginx -p "$work/nginx" -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$NGINX/v2/bench/small/manifests/latest" >/dev/null && break; sleep 0.1; done

# ---- load
declare -A result   # "scenario|conns|server" -> "rps p50 p99" (or MB/s)
run_wrk() { # url, conns, accept ("" = none), [more headers] -> "rps p50ms p99ms MBps"
  local url=$1 conns=$2 accept=$3 h
  shift 3
  # wrk needs a connection per thread.
  local args=(-t"$((conns < 2 ? 1 : 2))" -c"$conns" -d"$DURATION" --latency)
  [ -n "$accept" ] && args+=(-H "Accept: $accept")
  for h in "$@"; do args+=(-H "$h"); done
  wrk "${args[@]}" "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    function mb(v) { if (v ~ /GB$/) return v*1024; if (v ~ /MB$/) return v+0; if (v ~ /KB$/) return v/1024; return v/1048576 }
    /Requests\/sec/ {r=$2} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)} /Transfer\/sec/ {t=mb($2)}
    /Non-2xx/ {bad=1}
    END { if (bad) print "error"; else printf "%.0f %.3f %.3f %.1f\n", r, p50, p99, t }'
}
run_ab() { # url, conns, accept -> "rps p50ms p99ms"
  # Bounded by time like wrk (-t), and by REQUESTS so a fast server ends early.
  local csv="$work/ab.csv" args=(-k -i -q -t "${DURATION%s}" -n "$REQUESTS" -c "$2" -e "$work/ab.csv")
  [ -n "$3" ] && args+=(-H "Accept: $3")
  ab "${args[@]}" "$1" 2>/dev/null |
    awk '/Requests per second/ {r=$4} /Non-2xx/ {bad=1} END { if (bad) print "error"; else printf "%.0f", r }' >"$work/ab.rps"
  printf '%s %s %s\n' "$(cat "$work/ab.rps")" "$(awk -F, '$1=="50"{print $2}' "$csv")" "$(awk -F, '$1=="99"{print $2}' "$csv")"
}
declare -A base=([hoist]="http://$HOIST" [distribution]="http://$DIST" [nginx]="http://$NGINX")
median() { # lines of "value ..." on stdin -> the line with the median first value ("error" wins)
  local lines; lines=$(cat)
  if grep -q error <<<"$lines"; then echo error; return; fi
  sort -n -k1,1 <<<"$lines" | awk '{l[NR]=$0} END {print l[int((NR+1)/2)]}'
}
scenario() { # name, tool, path-for-registries, path-for-nginx, accept
  local name=$1 tool=$2 path=$3 npath=$4 accept=$5 r
  for c in $CONNS; do
    for server in hoist distribution nginx; do
      local p=$path; [ "$server" = nginx ] && p=$npath
      [ -z "$p" ] && continue
      result["$name|$c|$server"]=$(for r in $(seq "$REPEAT"); do "run_$tool" "${base[$server]}$p" "$c" "$accept"; done | median)
    done
  done
}
scenario "manifest GET by tag (schema2 Accept)" wrk /v2/bench/small/manifests/latest /v2/bench/small/manifests/latest "$S2"
scenario "manifest HEAD by tag" ab /v2/bench/small/manifests/latest /v2/bench/small/manifests/latest "$S2"
scenario "manifest GET, no Accept (schema1)" wrk /v2/bench/small/manifests/latest /v2/bench/small/s1/latest ""
scenario "blob HEAD" ab "/v2/bench/blob/blobs/$blob_digest" "/v2/bench/blob/blobs/$blob_digest" ""
scenario "blob GET ${BLOB_MB} MB" wrk "/v2/bench/blob/blobs/$blob_digest" "/v2/bench/blob/blobs/$blob_digest" ""

# ---- access control: manifest GET by tag with a bearer token, against the same without auth
auth_dir=$work/hoist-auth
mkdir -p "$auth_dir"
printf '[auth]\nenabled = true\n' >"$auth_dir/hoist.toml"
HOIST_ADMIN_PASSWORD=bench-password "$BIN" serve --listen 127.0.0.1:0 --data-dir "$auth_dir/data" \
  --config "$auth_dir/hoist.toml" --log warn >"$auth_dir/out" 2>"$auth_dir/log" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$auth_dir/out" 2>/dev/null && break; sleep 0.1; done
AUTHED=$(sed -n 's/.*http:\/\///p' "$auth_dir/out" | head -1)
"${SKOPEO[@]}" copy -q --format v2s2 --dest-tls-verify=false --dest-creds admin:bench-password \
  "oci:$work/small:latest" "docker://$AUTHED/bench/small:latest"
bearer=$(curl -sf -u admin:bench-password "http://$AUTHED/token?service=hoist&scope=repository:bench/small:pull" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
declare -A auth_result
for c in $CONNS; do
  # Alternated run by run, so a drift of the machine's speed falls on both sides alike.
  : >"$work/plain.runs"; : >"$work/bearer.runs"
  for r in $(seq "$REPEAT"); do
    run_wrk "http://$HOIST/v2/bench/small/manifests/latest" "$c" "$S2" >>"$work/plain.runs"
    run_wrk "http://$AUTHED/v2/bench/small/manifests/latest" "$c" "$S2" "Authorization: Bearer $bearer" >>"$work/bearer.runs"
  done
  auth_result["plain|$c"]=$(median <"$work/plain.runs")
  auth_result["bearer|$c"]=$(median <"$work/bearer.runs")
done
# /token: Basic credentials in, a signed ES256 token out (credentials are cached after the first).
token_rate=$(wrk -t2 -c16 -d"$DURATION" -H "Authorization: Basic $(printf 'admin:bench-password' | base64)" \
  "http://$AUTHED/token?service=hoist&scope=repository:bench/small:pull" | awk '/Requests\/sec/ {printf "%.0f", $2} /Non-2xx/ {print " error"}')

# ---- one huge blob to HUGE_CONNS clients at once: throughput, and hoist's peak RSS meanwhile
huge_file=$work/huge.bin
head -c "$((HUGE_MB * 1024 * 1024))" /dev/urandom >"$huge_file"
huge_digest=sha256:$(sha256sum "$huge_file" | cut -d' ' -f1)
upload_blob() { # base url, repo, file, digest: POST then a streamed monolithic PUT
  local loc sep
  loc=$(curl -sf -X POST -D - -o /dev/null "$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  [[ $loc == http* ]] || loc="$1$loc"
  sep='?'; [[ $loc == *\?* ]] && sep='&'
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T "$3" "$loc${sep}digest=$4" -o /dev/null
}
upload_blob "http://$HOIST" bench/huge "$huge_file" "$huge_digest"
upload_blob "http://$DIST" bench/huge "$huge_file" "$huge_digest"
mkdir -p "$work/static/v2/bench/huge/blobs"
ln "$huge_file" "$work/static/v2/bench/huge/blobs/$huge_digest"
declare -A huge whole_run_peak
get_huge() { # base url -> aggregate MB/s of HUGE_CONNS simultaneous whole downloads
  local start i sizes=$work/huge.sizes
  : >"$sizes"
  start=$(date +%s.%N)
  for i in $(seq "$HUGE_CONNS"); do
    curl -sf -o /dev/null -w '%{size_download}\n' "$1/v2/bench/huge/blobs/$huge_digest" >>"$sizes" &
  done
  wait
  if [ "$(grep -cx "$((HUGE_MB * 1024 * 1024))" "$sizes")" -ne "$HUGE_CONNS" ]; then echo error; return; fi
  awk -v s="$start" -v e="$(date +%s.%N)" -v n="$HUGE_CONNS" -v mb="$HUGE_MB" 'BEGIN{printf "%.1f", n*mb/(e-s)}'
}
whole_run_peak=([hoist]=$(peak_mb "$hoist_pid") [distribution]=$(peak_mb "$dist_pid"))
for server in hoist distribution nginx; do
  [ "$server" = hoist ] && reset_peak "$hoist_pid"
  [ "$server" = distribution ] && reset_peak "$dist_pid"
  huge[$server]=$(get_huge "${base[$server]}")
done
huge[hoist_rss]=$(peak_mb "$hoist_pid")
huge[dist_rss]=$(peak_mb "$dist_pid")
rm -f "$huge_file" "$work/static/v2/bench/huge/blobs/$huge_digest"

# ---- whole-client scenarios, REPEAT times each with fresh images: concurrent pushes, a big pull
declare -A client
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}'; }
push_many() { # registry, layout, round -> seconds for PUSHES concurrent pushes of the layout
  local start i pushers=()
  start=$(date +%s.%N)
  for i in $(seq "$PUSHES"); do seed "$1" "bench/push$3-$i" "$2" & pushers+=($!); done
  for i in "${pushers[@]}"; do wait "$i"; done
  since "$start"
}
pull_big() { # registry -> seconds to pull the 4-layer image into an empty directory
  rm -rf "$work/pulled"
  local start; start=$(date +%s.%N)
  "${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$1/bench/big:latest" "oci:$work/pulled:latest"
  since "$start"
}
declare -A reg=([hoist]=$HOIST [distribution]=$DIST)
for server in hoist distribution; do seed "${reg[$server]}" bench/big "$work/big"; done
for round in $(seq "$REPEAT"); do
  rm -rf "$work/push"; make_layout "$work/push" 1 "$BLOB_MB"   # new bytes: nothing to mount
  for server in hoist distribution; do
    client["push|$server"]+="$(push_many "${reg[$server]}" "$work/push" "$round")"$'\n'
    client["pull|$server"]+="$(pull_big "${reg[$server]}")"$'\n'
  done
done
for key in "${!client[@]}"; do
  client[$key]=$(printf '%s' "${client[$key]}" | median)
done

# ---- process figures over the whole run: peak RSS (VmHWM, kept across the reset above), CPU
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$1/stat"; }
max() { awk -v a="$1" -v b="$2" 'BEGIN{print (a+0 > b+0) ? a : b}'; }
hoist_rss=$(max "${whole_run_peak[hoist]}" "$(peak_mb "$hoist_pid")")
dist_rss=$(max "${whole_run_peak[distribution]}" "$(peak_mb "$dist_pid")")
hoist_cpu=$(cpu_s "$hoist_pid")
dist_cpu=$(cpu_s "$dist_pid")

# ---- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 == 0 || a == "" || b == "") print "-"; else printf "%.2f", a/b }'; }
{
  echo "## hoist vs distribution 2.8.2 vs nginx (\`bench/compare.sh\`)"
  echo
  echo "Everything on 127.0.0.1: load generator, hoist (release build), distribution, nginx (2 workers, sendfile)."
  echo "Each cell is the median of $REPEAT runs of $DURATION: wrk (2 threads) for GET, ab -k -i for HEAD (wrk cannot finish a HEAD with a Content-Length), at most $REQUESTS requests per run."
  echo
  echo "| scenario | conns | hoist req/s | p50 ms | p99 ms | distribution req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  names=("manifest GET by tag (schema2 Accept)" "manifest HEAD by tag" "manifest GET, no Accept (schema1)" "blob HEAD" "blob GET ${BLOB_MB} MB")
  for name in "${names[@]}"; do
    for c in $CONNS; do
      row="| $name | $c"
      for server in hoist distribution nginx; do
        read -r r p50 p99 mb <<<"${result["$name|$c|$server"]:-}"
        [[ $name == blob\ GET* ]] && r=${mb:-}
        row+=" | $r | $p50 | $p99"
      done
      echo "$row |" | sed 's/^| blob GET \([0-9]*\) MB /| blob GET \1 MB (MB\/s) /'
    done
  done
  echo
  echo "Ratios: throughput above 1 and latency below 1 favour hoist."
  echo
  echo "| scenario | conns | throughput hoist/distribution | throughput hoist/nginx | p50 hoist/distribution | p50 hoist/nginx | p99 hoist/distribution | p99 hoist/nginx |"
  echo "|---|---|---|---|---|---|---|---|"
  for name in "${names[@]}"; do
    for c in $CONNS; do
      read -r hr h50 h99 hmb <<<"${result["$name|$c|hoist"]:-}"
      read -r dr d50 d99 dmb <<<"${result["$name|$c|distribution"]:-}"
      read -r nr n50 n99 nmb <<<"${result["$name|$c|nginx"]:-}"
      if [[ $name == blob\ GET* ]]; then hr=${hmb:-}; dr=${dmb:-}; nr=${nmb:-}; fi
      echo "| $name | $c | $(ratio "$hr" "$dr") | $(ratio "$hr" "$nr") | $(ratio "$h50" "$d50") | $(ratio "$h50" "$n50") | $(ratio "$h99" "$d99") | $(ratio "$h99" "$n99") |"
    done
  done
  echo
  echo "Access control: manifest GET by tag with a bearer token (hoist with \`[auth] enabled = true\`) against the same without auth, measured back to back."
  echo
  echo "| conns | no auth req/s | bearer req/s | bearer/no auth | no auth p50 ms | bearer p50 ms | no auth p99 ms | bearer p99 ms |"
  echo "|---|---|---|---|---|---|---|---|"
  for c in $CONNS; do
    read -r pr p50 p99 _ <<<"${auth_result["plain|$c"]:-}"
    read -r br b50 b99 _ <<<"${auth_result["bearer|$c"]:-}"
    echo "| $c | $pr | $br | $(ratio "$br" "$pr") | $p50 | $b50 | $p99 | $b99 |"
  done
  echo
  echo "\`/token\` issues $token_rate tokens/s (16 connections, Basic credentials, ES256)."
  echo
  echo "| $HUGE_CONNS clients each GET one ${HUGE_MB} MB blob at once | hoist | distribution | nginx | hoist/distribution | hoist/nginx |"
  echo "|---|---|---|---|---|---|"
  echo "| MB/s, all clients together | ${huge[hoist]} | ${huge[distribution]} | ${huge[nginx]} | $(ratio "${huge[hoist]}" "${huge[distribution]}") | $(ratio "${huge[hoist]}" "${huge[nginx]}") |"
  echo "| peak RSS meanwhile (MB) | ${huge[hoist_rss]} | ${huge[dist_rss]} | - | $(ratio "${huge[hoist_rss]}" "${huge[dist_rss]}") | - |"
  echo
  echo "Whole clients, median of $REPEAT rounds (each round pushes new bytes):"
  echo
  echo "| whole client | hoist s | distribution s | hoist/distribution |"
  echo "|---|---|---|---|"
  echo "| $PUSHES concurrent skopeo pushes of a ${BLOB_MB} MB image | ${client["push|hoist"]} | ${client["push|distribution"]} | $(ratio "${client["push|hoist"]}" "${client["push|distribution"]}") |"
  echo "| skopeo pull of a $((4 * BIG_LAYER_MB)) MB image (4 layers) | ${client["pull|hoist"]} | ${client["pull|distribution"]} | $(ratio "${client["pull|hoist"]}" "${client["pull|distribution"]}") |"
  echo
  echo "| process over the whole run | hoist | distribution | hoist/distribution |"
  echo "|---|---|---|---|"
  echo "| peak RSS (MB) | $hoist_rss | $dist_rss | $(ratio "$hoist_rss" "$dist_rss") |"
  echo "| CPU seconds | $hoist_cpu | $dist_cpu | $(ratio "$hoist_cpu" "$dist_cpu") |"
} | tee "$work/results.md"
[ "$OUT" = /dev/null ] || cp "$work/results.md" "$OUT"
if grep -q '| error\|error |' "$work/results.md"; then
  echo "a scenario failed (non-2xx answers): see the table" >&2
  exit 1
fi
