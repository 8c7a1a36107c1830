#!/usr/bin/env bash
# Latency of reads while uploads stall (issue 9): a manifest GET by tag, a blob HEAD and a
# tags/list, measured with wrk on an idle hoist and again while STALLED uploads (half
# monolithic POSTs, half PATCHes into sessions, 50 per client address from 127.0.0.2 on)
# have sent a first chunk and then nothing.
#
#   bash bench/stalls.sh                      # release build, 1000 stalled uploads
#   HOIST_BIN=/path/to/other/hoist bash bench/stalls.sh   # the same against another build
#   SMOKE=1 bash bench/stalls.sh              # seconds, for CI
# Needs: wrk, ab (apache2-utils), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${SMOKE:-}
if [ -n "$SMOKE" ]; then
  STALLED=${STALLED:-100}; DURATION=${DURATION:-1s}; HEAD_REQUESTS=${HEAD_REQUESTS:-2000}
else
  STALLED=${STALLED:-1000}; DURATION=${DURATION:-5s}; HEAD_REQUESTS=${HEAD_REQUESTS:-100000}
fi
CONNS=${CONNS:-8}
BIN=${HOIST_BIN:-target/release/hoist}
for tool in wrk ab curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk apache2-utils curl python3" >&2; exit 1; }
done
[ -x "$BIN" ] || cargo build --release --locked

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Old builds may not know the idle timeout; stalls must outlast the measurement either way.
extra=()
"$BIN" serve --help | grep -q body-idle-timeout-secs && extra=(--body-idle-timeout-secs 600)
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" --log warn "${extra[@]}" \
  >"$work/out" 2>"$work/log" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/.*http:\/\///p' "$work/out" | head -1)

# One small image to read.
python3 - "$ADDR" >"$work/refs" <<'PY'
import hashlib, json, sys, urllib.request
addr = sys.argv[1]
def post(repo, data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    urllib.request.urlopen(urllib.request.Request(
        f"http://{addr}/v2/{repo}/blobs/uploads/?digest={d}", data=data, method="POST"))
    return d
config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
layer = b"layer bytes" * 100
c, l = post("bench/app", config), post("bench/app", layer)
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": len(layer)}]}).encode()
urllib.request.urlopen(urllib.request.Request(f"http://{addr}/v2/bench/app/manifests/v1", data=m,
    method="PUT", headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
print(l)
PY
BLOB=$(cat "$work/refs")
OCI=application/vnd.oci.image.manifest.v1+json

# p50 p99 req/s timeouts+errors of one wrk run
measure() { # url, extra wrk args...
  local url=$1; shift
  wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency "$@" "$url" >"$work/wrk" 2>&1 || true
  python3 - "$work/wrk" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def lat(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", t, re.M)
    if not m: return "-"
    v = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    return f"{v:.2f} ms"
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
errs = re.search(r"Socket errors:.*timeout (\d+)", t)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
bad = (int(errs.group(1)) if errs else 0) + (int(non2xx.group(1)) if non2xx else 0)
rate = float(rps.group(1)) if rps else 0
if rate == 0:
    print("| - | - | 0 | all (timed out) |")
else:
    print(f"| {lat(50)} | {lat(99)} | {rate:.0f} | {bad} |")
PY
}
# The same for HEAD, with ab (wrk waits for a body after a HEAD's Content-Length).
measure_head() { # url
  ab -k -i -s 5 -c "$CONNS" -n "$HEAD_REQUESTS" "$1" >"$work/ab" 2>&1 || true
  python3 - "$work/ab" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def pct(p):
    m = re.search(rf"^\s+{p}%\s+(\d+)", t, re.M)
    return f"{m.group(1)} ms" if m else "-"
rps = re.search(r"Requests per second:\s+([\d.]+)", t)
failed = re.search(r"Failed requests:\s+(\d+)", t)
non2xx = re.search(r"Non-2xx responses:\s+(\d+)", t)
done = re.search(r"Complete requests:\s+(\d+)", t)
bad = (int(failed.group(1)) if failed else 0) + (int(non2xx.group(1)) if non2xx else 0)
if not done: bad = "all (timed out)"
print(f"| {pct(50)} | {pct(99)} | {float(rps.group(1)) if rps else 0:.0f} | {bad} |")
PY
}
table() { # label
  echo "| $1 | request | p50 | p99 | req/s | timeouts + errors |"
  echo "|---|---|---|---|---|---|"
  echo "| $1 | manifest GET by tag $(measure "http://$ADDR/v2/bench/app/manifests/v1" -H "Accept: $OCI")"
  echo "| $1 | blob HEAD (ab, ms resolution) $(measure_head "http://$ADDR/v2/bench/app/blobs/$BLOB")"
  echo "| $1 | tags/list $(measure "http://$ADDR/v2/bench/app/tags/list")"
}

echo "hoist: $("$BIN" --version), $(nproc) cores, wrk -t2 -c$CONNS -d$DURATION"
table "idle"

# Stalled uploads, held open by a background python process.
python3 - "$ADDR" "$STALLED" >"$work/stall.out" 2>&1 <<'PY' &
import socket, sys, time, urllib.request
addr, n = sys.argv[1], int(sys.argv[2])
host, port = addr.split(":"); port = int(port)
def session(src):
    p = socket.socket(); p.bind((src, 0)); p.connect((host, port))
    p.sendall(f"POST /v2/stall/s/blobs/uploads/ HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    head = p.recv(4096).decode(); p.close()
    return [l.split(": ", 1)[1] for l in head.split("\r\n") if l.lower().startswith("location:")][0]
# Sessions first: a server whose threads the stalls take could not open them afterwards.
sources = [f"127.0.0.{2 + i // 50}" for i in range(n)]
targets = [("POST", "/v2/stall/mono/blobs/uploads/?digest=sha256:" + "0" * 63 + "1") if i % 2 == 0
           else ("PATCH", session(sources[i])) for i in range(n)]
held = []
for src, (method, target) in zip(sources, targets):
    s = socket.socket(); s.bind((src, 0)); s.connect((host, port))
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n".encode() + b"x" * 100 + b"\r\n")
    held.append(s)
print("stalled", len(held), flush=True)
time.sleep(3600)
PY
pids+=($!)
for _ in $(seq 600); do grep -q stalled "$work/stall.out" 2>/dev/null && break; sleep 0.1; done
grep -q stalled "$work/stall.out" || { echo "could not open the stalled uploads: $(cat "$work/stall.out")" >&2; exit 1; }
sleep 1
echo
table "$STALLED stalled uploads"
