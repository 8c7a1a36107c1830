# Shared by the benchmark scripts: free ports, generated images, servers, memory figures.
# Source it from the repository root: `. bench/lib.sh`.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# An OCI layout at $1 holding one image of $2 layers of $3 MB of random data each (tar, gzip
# level 1), tagged "latest", with history entries so converters work.
make_layout() { # dir, layer count, MB per layer
  python3 - "$@" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(os.path.join(blobs, d), "wb").write(b); return d
layers, diffs = [], []
for i in range(n):
    data = os.urandom(mb * 1024 * 1024)
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w") as tar:
        info = tarfile.TarInfo(f"layer{i}.bin"); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    raw = t.getvalue(); diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + put(gz), "size": len(gz)})
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs},
                     "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(n)]}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + put(config), "size": len(config)},
    "layers": layers}).encode()
md = put(manifest)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md,
    "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}

# Start Debian's distribution on 127.0.0.1:$2 with its root at $1/root; extra YAML from $3.
# Its access log (stdout) goes to $1/access.log. Prints its pid.
start_distribution() { # dir, port, extra yaml
  mkdir -p "$1/root"
  cat >"$1/config.yml" <<YML
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $1/root}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$2}
$3
YML
  docker-registry serve "$1/config.yml" >"$1/access.log" 2>"$1/registry.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/v2/" >/dev/null && break; sleep 0.1; done
  echo "$pid"
}

# Start hoist ($HOIST_BIN) on a free port with its data in $1 and more flags after; sets
# HOIST_ADDR and HOIST_PID.
start_hoist() { # data dir, flags...
  local dir=$1; shift
  mkdir -p "$dir"
  "$HOIST_BIN" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --log warn "$@" >"$dir/out" 2>"$dir/log" &
  HOIST_PID=$!
  for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
  HOIST_ADDR=$(sed -n 's/.*http:\/\///p' "$dir/out" | head -1)
}

reset_peak() { echo 5 >"/proc/$1/clear_refs"; }   # VmHWM restarts from the current RSS
peak_mb() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

# Seconds (with decimals) a command takes.
seconds() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || return 1; awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}'; }
