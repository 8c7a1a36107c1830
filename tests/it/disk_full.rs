//! A full disk heals (issue defect 4). hoist keeps a free-space reserve on its data disk and
//! refuses upload bytes that would eat into it (507, before a declared body is read, or
//! mid-way through a chunked one with the bytes kept in `Range`); when the disk fills anyway
//! a write answers 507 "insufficient storage", never 500; reads go on; and as soon as there
//! is room again writes work and a refused upload resumes, with no restart.
//!
//! The story runs on a real 64 MiB tmpfs mounted by the test (tests and CI run as root).

use crate::harness::{client, sha256, Hoist};
use crate::rawhttp::{chunked, noise, read_response, RawResponse};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// The `--storage-reserve` of the tmpfs story.
const RESERVE: u64 = 8 * MIB;
const ENOSPC: i32 = 28;

/// hoist serving a data dir on a tmpfs of its own. Dropped: the server is killed first,
/// then the tmpfs is unmounted (lazily if still busy).
struct OnTmpfs {
    hoist: Option<Hoist>,
    /// The tmpfs mount point; the data dir is `<mount>/data`.
    mount: PathBuf,
    /// Holds the mount point.
    _root: tempfile::TempDir,
}

impl OnTmpfs {
    /// Mount a tmpfs of `size` (as `mount -o size=` takes it) and start hoist on it.
    /// Fails the test, with the reason, if the mount fails: this test needs root.
    fn start(size: &str, extra: &[&str]) -> OnTmpfs {
        let root = tempfile::tempdir().expect("temp dir");
        let mount = root.path().join("disk");
        std::fs::create_dir(&mount).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}; this test needs root and mount"));
        assert!(
            out.status.success(),
            "mount -t tmpfs -o size={size} tmpfs {} failed ({}): {}; this test needs root \
             (CAP_SYS_ADMIN) to mount a small file system and must not be skipped",
            mount.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let mut on = OnTmpfs {
            hoist: None,
            mount,
            _root: root,
        };
        on.hoist = Some(Hoist::start_at(on.mount.join("data"), extra));
        on
    }
}

impl std::ops::Deref for OnTmpfs {
    type Target = Hoist;

    fn deref(&self) -> &Hoist {
        self.hoist.as_ref().expect("running")
    }
}

impl Drop for OnTmpfs {
    fn drop(&mut self) {
        drop(self.hoist.take());
        let umount = |args: &[&str]| {
            Command::new("umount")
                .args(args)
                .arg(&self.mount)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !umount(&[]) && !umount(&["-l"]) {
            eprintln!("could not unmount {}", self.mount.display());
        }
    }
}

/// `errors[0].code` and `.message` of a spec error body.
fn error_of(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "error body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    let text = |k: &str| v["errors"][0][k].as_str().unwrap_or_default().to_owned();
    (text("code"), text("message"))
}

/// A response header that must be there.
fn must<'a>(r: &'a RawResponse, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header in {r:?}"))
}

/// Send a request head, then `body` from another thread while this one waits for the
/// response, so a server that answers without reading the whole body (or any of it) is
/// heard. Returns the response and how many body bytes were written before it came.
fn exchange(addr: &str, head: &str, body: Vec<u8>, timeout: Duration) -> (RawResponse, usize) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.write_all(head.as_bytes()).expect("write head");
    let mut writer = stream.try_clone().expect("clone socket");
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        for piece in body.chunks(64 * 1024) {
            if writer.write_all(piece).is_err() {
                break;
            }
            sent += piece.len();
        }
        sent
    });
    let response = read_response(&mut stream, timeout);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().expect("sender");
    let response = response.unwrap_or_else(|| {
        panic!(
            "no response within {timeout:?} to {}",
            head.lines().next().unwrap_or_default()
        )
    });
    (response, sent)
}

/// The bytes an upload `Range: 0-<end>` says were kept (`0-0` is read as none; the tests
/// never keep exactly one byte).
fn kept_of(range: &str) -> u64 {
    let end: u64 = range
        .strip_prefix("0-")
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("Range {range:?} is not 0-<end>"));
    if range == "0-0" {
        0
    } else {
        end + 1
    }
}

/// Write a file until the file system refuses with ENOSPC; returns the bytes written.
fn fill_until_enospc(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("create filler");
    let buf = vec![0xA5u8; MIB as usize];
    let mut written = 0u64;
    let mut piece = buf.len();
    loop {
        match file.write(&buf[..piece]) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(ENOSPC) => {
                if piece == 1 {
                    break;
                }
                // Down to the last byte a page-sized file system can still give.
                piece = (piece / 16).max(1);
            }
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    written
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The blob files under `<data>/blobs`, each checked to hold exactly its digest's bytes
/// (nothing half-written under a digest name). Returns their digests.
fn blob_files(data_dir: &Path) -> Vec<String> {
    let mut digests: Vec<String> = files_under(&data_dir.join("blobs"))
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("blob file name")
                .to_owned();
            let bytes = std::fs::read(&path).expect("read blob file");
            let digest = format!("sha256:{name}");
            assert_eq!(
                sha256(&bytes),
                digest,
                "{} does not hold the bytes of its digest",
                path.display()
            );
            digest
        })
        .collect();
    digests.sort();
    digests
}

async fn uploads_report(c: &reqwest::Client, url: String) -> serde_json::Value {
    let r = c.get(url).send().await.expect("uploads report");
    assert_eq!(r.status(), 200);
    r.json().await.expect("uploads report JSON")
}

/// Status, and the error code and message when it is an error.
async fn outcome(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    if status >= 400 {
        let (code, message) = error_of(&body);
        (status, code, message)
    } else {
        (status, String::new(), String::new())
    }
}

/// A step of the story, kept for the record printed at the end (and on failure).
struct Record(Vec<String>);

impl Record {
    fn note(&mut self, line: String) {
        eprintln!("[disk-full] {line}");
        self.0.push(line);
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_507_keeps_serving_reads_and_heals_without_restart() {
    let h = OnTmpfs::start("64m", &["--storage-reserve", "8MiB"]);
    let c = client();
    let repo = "full/disk";
    let mut rec = Record(Vec::new());
    let report = || h.url("/api/v1/uploads");

    // 1. A small image goes in and comes back by tag.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = noise(1, 100 * KIB as usize);
    let mut pushed = Vec::new();
    for blob in [config.as_slice(), layer.as_slice()] {
        let digest = sha256(blob);
        let r = c
            .post(h.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(blob.to_vec())
            .send()
            .await
            .expect("push blob");
        assert_eq!(r.status(), 201, "push blob {digest}");
        pushed.push(digest);
    }
    let manifest = |content: &[u8], note: &str| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha256(content), "size": content.len()}],
            "annotations": {"note": note},
        }))
        .expect("json")
    };
    let v1 = manifest(&layer, "v1");
    let v1_digest = sha256(&v1);
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/v1")))
        .header("content-type", OCI_MANIFEST)
        .body(v1.clone())
        .send()
        .await
        .expect("put v1");
    let (status, _, message) = outcome(r).await;
    assert_eq!(status, 201, "put v1: {message}");
    // (An Accept other than the one of the reads in step 3, so those are not answered from
    // the manifest cache, which is keyed by what the client reads.)
    let r = c
        .get(h.url(&format!("/v2/{repo}/manifests/v1")))
        .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
        .send()
        .await
        .expect("get v1");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body"), v1);
    let rep = uploads_report(&c, report()).await;
    assert_eq!(rep["reserve_bytes"], RESERVE, "{rep}");
    rec.note(format!(
        "1. pushed config + 100 KiB layer (201, 201) and manifest v1 (201); GET v1 200; \
         disk {} MiB total, {} MiB free, reserve {} MiB",
        rep["disk_total_bytes"].as_u64().expect("total") / MIB,
        rep["disk_available_bytes"].as_u64().expect("free") / MIB,
        RESERVE / MIB
    ));

    // Something else on the disk takes most of it, so an upload runs into the reserve.
    let ballast = h.mount.join("ballast");
    std::fs::write(&ballast, vec![0x5Au8; 36 * MIB as usize]).expect("ballast");
    let free = uploads_report(&c, report()).await["disk_available_bytes"]
        .as_u64()
        .expect("free");
    assert!(free > RESERVE + 4 * MIB, "the ballast left {free} bytes");
    let room = free - RESERVE;

    // 2a. A monolithic upload whose Content-Length would eat into the reserve is refused
    // before its body is read: only the head is sent.
    let big = room + MIB;
    let head = format!(
        "POST /v2/{repo}/blobs/uploads/?digest={} HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {big}\r\n\r\n",
        sha256(b"never sent"),
        h.addr
    );
    let began = Instant::now();
    let (r, _) = exchange(&h.addr, &head, Vec::new(), Duration::from_secs(20));
    let waited = began.elapsed();
    let (code, message) = error_of(&r.body);
    rec.note(format!(
        "2a. monolithic POST, Content-Length {big} ({} MiB free above the reserve), no body \
         sent: {} {code} {message:?} after {waited:?}",
        room / MIB,
        r.status
    ));
    assert_eq!(r.status, 507, "{message}");
    assert_eq!(code, "DENIED");
    assert!(
        message.starts_with("insufficient storage") && message.contains("storage_reserve"),
        "{message}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "the answer waited for the body"
    );
    assert!(
        files_under(&h.data_dir.join("uploads")).is_empty(),
        "a refused monolithic upload left a file"
    );

    // 2b. A chunked PATCH (no Content-Length) into a session runs into the reserve mid-way.
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("start session");
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let id = location.rsplit('/').next().expect("id").to_owned();
    let total = (room + 4 * MIB) as usize;
    let data = noise(2, total);
    // A first chunk that fits, so the session holds something before it runs out.
    let first = 2 * MIB as usize;
    let r = c
        .patch(h.url(&location))
        .header("content-type", "application/octet-stream")
        .body(data[..first].to_vec())
        .send()
        .await
        .expect("first chunk");
    assert_eq!(r.status(), 202, "a first chunk that fits");
    assert_eq!(
        kept_of(r.headers()["range"].to_str().expect("range")),
        first as u64
    );
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        h.addr
    );
    let (r, sent) = exchange(
        &h.addr,
        &head,
        chunked(&data[first..]),
        Duration::from_secs(120),
    );
    let (code, message) = error_of(&r.body);
    rec.note(format!(
        "2b. session {id}: PATCH {first} bytes: 202; then a chunked PATCH of the next {} \
         bytes: {} {code} {message:?}; Range {}; {sent} bytes (with chunk framing) written \
         to the socket before the answer",
        total - first,
        r.status,
        must(&r, "range")
    ));
    assert_eq!(r.status, 507, "{message}");
    assert_eq!(code, "DENIED");
    assert!(
        message.starts_with("insufficient storage") && message.contains("storage_reserve"),
        "{message}"
    );
    assert_eq!(must(&r, "location"), location);
    assert_eq!(must(&r, "docker-upload-uuid"), id);
    let kept = kept_of(must(&r, "range"));
    // The refused chunk may be kept in part or not at all; Range says which.
    assert!(
        kept >= first as u64 && kept < total as u64,
        "kept {kept} of {total}, after a first chunk of {first}"
    );
    let file_len = std::fs::metadata(h.data_dir.join("uploads").join(&id))
        .expect("session file")
        .len();
    assert_eq!(file_len, kept, "the session file holds what Range says");
    let r = c.get(h.url(&location)).send().await.expect("upload status");
    assert_eq!(r.status(), 204);
    assert_eq!(kept_of(r.headers()["range"].to_str().expect("range")), kept);
    let mut expected_blobs = pushed.clone();
    expected_blobs.sort();
    assert_eq!(
        blob_files(&h.data_dir),
        expected_blobs,
        "nothing half-written under blobs"
    );
    let rep = uploads_report(&c, report()).await;
    assert_eq!(rep["bytes"], kept, "{rep}");
    rec.note(format!(
        "    kept {kept} bytes = session file size; blobs/ holds only the {} pushed blobs; \
         /api/v1/uploads bytes {} sessions {}",
        expected_blobs.len(),
        rep["bytes"],
        rep["sessions"]
    ));

    // 3. The disk fills to the last byte.
    let filler = h.mount.join("filler");
    let filled = fill_until_enospc(&filler);
    let st = rustix::fs::statvfs(&h.mount).expect("statvfs");
    rec.note(format!(
        "3. filler wrote {filled} bytes until ENOSPC; the disk has {} bytes free",
        st.f_bavail * st.f_frsize
    ));
    assert_eq!(st.f_bavail, 0, "the disk is not full");
    let redb_len = std::fs::metadata(h.data_dir.join("hoist.redb"))
        .map(|m| m.len())
        .unwrap_or_default();

    // A manifest PUT must now write the metadata database, which cannot grow.
    // With 64 KiB of annotations, so that the commit needs pages redb has not allocated
    // (a few-hundred-byte manifest fails the same way today, but may fit in freed pages).
    let v2 = manifest(&layer, &"v2".repeat(32 * KIB as usize));
    let v2_digest = sha256(&v2);
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/v2")))
        .header("content-type", OCI_MANIFEST)
        .body(v2.clone())
        .send()
        .await
        .expect("put v2");
    let (status, code, message) = outcome(r).await;
    rec.note(format!(
        "   PUT manifest v2 ({} bytes; hoist.redb is {redb_len} bytes): {status} {code} \
         {message:?}",
        v2.len()
    ));
    assert_ne!(status, 500, "a full disk is no internal error: {message}");
    assert_eq!(status, 507, "{code} {message}");
    assert_eq!(code, "DENIED");
    assert!(message.starts_with("insufficient storage"), "{message}");
    assert!(!message.contains("internal server error"), "{message}");

    let small = b"a small blob while the disk is full";
    let r = c
        .post(h.url(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            sha256(small)
        )))
        .body(small.to_vec())
        .send()
        .await
        .expect("small blob");
    let (status, code, message) = outcome(r).await;
    rec.note(format!("   POST small blob: {status} {code} {message:?}"));
    assert_eq!(status, 507, "{message}");
    assert!(message.starts_with("insufficient storage"), "{message}");

    // Reads keep working.
    let mut reads = Vec::new();
    for reference in ["v1", v1_digest.as_str()] {
        let r = c
            .get(h.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .expect("get manifest");
        let status = r.status();
        let body = r.bytes().await.expect("body");
        reads.push(format!("manifest {reference} {status}"));
        assert_eq!(
            status, 200,
            "GET manifest {reference} on a full disk: {body:?}"
        );
        assert_eq!(body, v1);
    }
    for (digest, bytes) in pushed.iter().zip([config.as_slice(), layer.as_slice()]) {
        let r = c
            .get(h.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .expect("get blob");
        let status = r.status();
        let body = r.bytes().await.expect("body");
        reads.push(format!("blob {status}"));
        assert_eq!(status, 200, "GET blob {digest} on a full disk");
        assert_eq!(body.as_ref(), bytes);
    }
    let r = c
        .get(h.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .expect("tags");
    reads.push(format!("tags/list {}", r.status()));
    assert_eq!(r.status(), 200);
    let tags: serde_json::Value = r.json().await.expect("tags json");
    assert_eq!(tags["tags"], serde_json::json!(["v1"]), "{tags}");
    let r = c.get(h.url("/v2/_catalog")).send().await.expect("catalog");
    reads.push(format!("_catalog {}", r.status()));
    assert_eq!(r.status(), 200);
    let catalog: serde_json::Value = r.json().await.expect("catalog json");
    assert_eq!(catalog["repositories"], serde_json::json!([repo]));
    rec.note(format!("   reads on the full disk: {}", reads.join(", ")));

    // 4. Room again; the same server, no restart.
    std::fs::remove_file(&filler).expect("remove filler");
    std::fs::remove_file(&ballast).expect("remove ballast");
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/v2")))
        .header("content-type", OCI_MANIFEST)
        .body(v2.clone())
        .send()
        .await
        .expect("put v2 again");
    let (status, code, message) = outcome(r).await;
    rec.note(format!(
        "4. filler and ballast deleted; PUT manifest v2: {status} {code} {message:?}"
    ));
    assert_eq!(status, 201, "{code} {message}");

    let r = c
        .post(h.url(&format!(
            "/v2/{repo}/blobs/uploads/?digest={}",
            sha256(small)
        )))
        .body(small.to_vec())
        .send()
        .await
        .expect("small blob again");
    let (status, code, message) = outcome(r).await;
    rec.note(format!("   POST small blob: {status} {code} {message:?}"));
    assert_eq!(status, 201, "{code} {message}");

    // The session refused in 2b resumes from its Range.
    let r = c.get(h.url(&location)).send().await.expect("upload status");
    assert_eq!(r.status(), 204);
    assert_eq!(kept_of(r.headers()["range"].to_str().expect("range")), kept);
    let rest = data[kept as usize..].to_vec();
    let r = c
        .patch(h.url(&location))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{kept}-{}", total - 1))
        .body(rest)
        .send()
        .await
        .expect("resume");
    let range = r
        .headers()
        .get("range")
        .map(|v| v.to_str().expect("range").to_owned())
        .unwrap_or_default();
    let (status, code, message) = outcome(r).await;
    rec.note(format!(
        "   resumed PATCH Content-Range {kept}-{}: {status} {code} {message:?} Range {range}",
        total - 1
    ));
    assert_eq!(status, 202, "{code} {message}");
    assert_eq!(kept_of(&range), total as u64);
    let digest = sha256(&data);
    let r = c
        .put(h.url(&format!("{location}?digest={digest}")))
        .send()
        .await
        .expect("finish");
    let (status, code, message) = outcome(r).await;
    rec.note(format!(
        "   PUT ?digest={digest}: {status} {code} {message:?}"
    ));
    assert_eq!(status, 201, "{code} {message}");
    let r = c
        .get(h.url(&format!("/v2/{repo}/blobs/{digest}")))
        .send()
        .await
        .expect("get resumed blob");
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.expect("body");
    assert_eq!(body.len(), total);
    assert_eq!(
        sha256(&body),
        digest,
        "the resumed blob has the right bytes"
    );

    // Everything from before is still there.
    for (reference, body) in [
        ("v1", &v1),
        (v1_digest.as_str(), &v1),
        ("v2", &v2),
        (v2_digest.as_str(), &v2),
    ] {
        let r = c
            .get(h.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .expect("get manifest");
        assert_eq!(r.status(), 200, "{reference}");
        assert_eq!(&r.bytes().await.expect("body"), body, "{reference}");
    }
    for (digest, bytes) in pushed.iter().zip([config.as_slice(), layer.as_slice()]) {
        let r = c
            .get(h.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .expect("get blob");
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.expect("body").as_ref(), bytes);
    }
    let tags: serde_json::Value = c
        .get(h.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("tags json");
    assert_eq!(tags["tags"], serde_json::json!(["v1", "v2"]), "{tags}");
    let rep = uploads_report(&c, report()).await;
    assert_eq!(rep["bytes"], 0, "{rep}");
    assert_eq!(rep["sessions"], 0, "{rep}");
    rec.note(format!(
        "   resumed blob GET 200 with digest {digest}; v1, v2 and both first blobs 200; \
         tags [v1, v2]; /api/v1/uploads bytes 0 sessions 0"
    ));
    let log = h.log();
    rec.note(format!(
        "   the log says the metadata database was re-opened after the I/O error: {}",
        log.contains("re-opened after an I/O error")
    ));
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request failed") && !l.contains("insufficient storage"))
        .collect();
    assert!(failures.is_empty(), "5xx other than 507: {failures:#?}");
    eprintln!("[disk-full] record:\n{}", rec.0.join("\n"));
}

#[tokio::test]
async fn uploads_in_progress_are_capped_together_and_give_back_room_when_they_end() {
    let h = Hoist::start_with(&["--uploads-max-bytes", "1MiB"]);
    let c = client();
    let repo = "capped";
    let size = 700 * KIB as usize;
    let open = || async {
        let r = c
            .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send()
            .await
            .expect("start session");
        assert_eq!(r.status(), 202);
        r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    };
    let a = open().await;
    let b = open().await;
    let data_a = noise(3, size);
    let data_b = noise(4, size);

    let r = c
        .patch(h.url(&a))
        .header("content-type", "application/octet-stream")
        .body(data_a)
        .send()
        .await
        .expect("patch a");
    assert_eq!(r.status(), 202, "session A takes 700 KiB");

    let head = format!(
        "PATCH {b} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {size}\r\n\r\n",
        h.addr
    );
    let (r, _) = exchange(&h.addr, &head, data_b.clone(), Duration::from_secs(20));
    let (code, message) = error_of(&r.body);
    eprintln!(
        "session B PATCH {size} bytes: {} {code} {message:?}",
        r.status
    );
    assert_eq!(r.status, 507, "{message}");
    assert_eq!(code, "DENIED");
    assert!(message.contains("uploads_max_bytes"), "{message}");
    assert_eq!(must(&r, "location"), b);
    assert_eq!(kept_of(must(&r, "range")), 0, "nothing of B was kept");

    let rep = uploads_report(&c, h.url("/api/v1/uploads")).await;
    assert_eq!(rep["bytes"], 716_800, "{rep}");
    assert_eq!(rep["max_bytes"], 1_048_576, "{rep}");
    assert_eq!(rep["sessions"], 2, "{rep}");

    let r = c.delete(h.url(&a)).send().await.expect("delete a");
    assert_eq!(r.status(), 204);
    let r = c
        .patch(h.url(&b))
        .header("content-type", "application/octet-stream")
        .body(data_b.clone())
        .send()
        .await
        .expect("retry b");
    let (status, code, message) = outcome(r).await;
    assert_eq!(status, 202, "B's retry after A went: {code} {message}");
    let rep = uploads_report(&c, h.url("/api/v1/uploads")).await;
    assert_eq!(rep["bytes"], 716_800, "{rep}");

    let digest = sha256(&data_b);
    let r = c
        .put(h.url(&format!("{b}?digest={digest}")))
        .send()
        .await
        .expect("finish b");
    assert_eq!(r.status(), 201);
    let rep = uploads_report(&c, h.url("/api/v1/uploads")).await;
    assert_eq!(rep["bytes"], 0, "{rep}");
    assert_eq!(rep["sessions"], 0, "{rep}");
}
