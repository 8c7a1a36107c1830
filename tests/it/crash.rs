//! Crashes and shutdowns: `kill -9` in the middle of a large upload, SIGTERM with a request in
//! flight and when idle, orphaned upload files, and abandoned uploads expiring.

use crate::harness::*;
use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const MIB: usize = 1 << 20;

/// A deterministic 100 MiB body, made of 1 MiB chunks that are rotations of one random-looking
/// block, so it costs one MiB of memory and a memcpy per chunk to produce again.
#[derive(Clone)]
struct Payload {
    block: Arc<Vec<u8>>,
    chunks: usize,
}

impl Payload {
    fn new(chunks: usize) -> Payload {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = Vec::with_capacity(MIB);
        for _ in 0..MIB / 8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        Payload {
            block: Arc::new(block),
            chunks,
        }
    }

    fn len(&self) -> u64 {
        (self.chunks * MIB) as u64
    }

    fn chunk(&self, i: usize) -> Bytes {
        let k = (i * 7919) % MIB;
        let mut v = Vec::with_capacity(MIB);
        v.extend_from_slice(&self.block[k..]);
        v.extend_from_slice(&self.block[..k]);
        Bytes::from(v)
    }

    /// The bytes from `offset` to the end, as a stream of (at most) 1 MiB chunks.
    fn stream_from(
        &self,
        offset: u64,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let p = self.clone();
        let first = (offset / MIB as u64) as usize;
        let skip = (offset % MIB as u64) as usize;
        stream::iter(first..self.chunks).map(move |i| {
            let c = p.chunk(i);
            Ok(if i == first { c.slice(skip..) } else { c })
        })
    }

    fn digest(&self) -> String {
        let mut h = Sha256::new();
        for i in 0..self.chunks {
            h.update(self.chunk(i));
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    /// Is `bytes` exactly the first `bytes.len()` bytes of the payload?
    fn is_prefix(&self, bytes: &[u8]) -> bool {
        bytes
            .chunks(MIB)
            .enumerate()
            .all(|(i, part)| part == &self.chunk(i)[..part.len()])
    }
}

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// GET a blob and hash the body as it streams; returns (digest, length).
async fn pull_digest(c: &reqwest::Client, url: &str) -> (String, u64) {
    let r = c.get(url).send().await.expect("get blob");
    assert_eq!(r.status(), 200, "GET {url}");
    let mut body = r.bytes_stream();
    let mut h = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("blob body");
        n += chunk.len() as u64;
        h.update(&chunk);
    }
    (format!("sha256:{}", hex::encode(h.finalize())), n)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_upload_leaves_no_partial_blob_and_the_upload_can_start_over() {
    let mut h = Hoist::start();
    let c = client();
    let repo = "crash/big";
    let payload = Payload::new(100);
    let digest = payload.digest();

    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let loc = location(&r);
    let id = r.headers()["docker-upload-uuid"]
        .to_str()
        .expect("id")
        .to_owned();

    // Stream the whole 100 MiB, telling us once 50 MiB have been handed to the connection.
    let (half_tx, half_rx) = tokio::sync::oneshot::channel();
    let mut half_tx = Some(half_tx);
    let body = payload.stream_from(0).enumerate().map(move |(i, chunk)| {
        if i == 50 {
            if let Some(tx) = half_tx.take() {
                let _ = tx.send(());
            }
        }
        chunk
    });
    let patch = tokio::spawn({
        let (c, url) = (c.clone(), h.url(&loc));
        async move {
            c.patch(url)
                .header("content-type", "application/octet-stream")
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(60), half_rx)
        .await
        .expect("50 MiB sent within a minute")
        .expect("signal");
    h.kill9();
    let outcome = patch.await.expect("patch task");
    assert!(
        outcome.is_err(),
        "the PATCH cannot have succeeded: {outcome:?}"
    );

    let h = h.restart_after_kill();
    let c = client();

    // No partial blob is visible, under the digest of the whole or anywhere on disk.
    let blob_url = h.url(&format!("/v2/{repo}/blobs/{digest}"));
    let r = c.head(&blob_url).send().await.expect("head");
    assert_eq!(r.status(), 404);
    let r = c.get(&blob_url).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let blob_files = files(&h.data_dir.join("blobs"));
    assert!(blob_files.is_empty(), "{blob_files:?}");
    // Nothing was committed, so the repository is not in the catalog.
    let catalog: serde_json::Value = c
        .get(h.url("/v2/_catalog"))
        .send()
        .await
        .expect("catalog")
        .json()
        .await
        .expect("json");
    assert_eq!(catalog["repositories"], serde_json::json!([]), "{catalog}");

    // The upload is either gone, or resumable with its status saying exactly what is on disk
    // (and what is on disk is what was sent, in order).
    let upload_file = h.data_dir.join("uploads").join(&id);
    let r = c.get(h.url(&loc)).send().await.expect("status");
    let resumable = match r.status().as_u16() {
        404 => {
            assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
            assert!(!upload_file.exists(), "upload gone but its file stayed");
            None
        }
        204 => {
            let on_disk = std::fs::read(&upload_file).expect("upload file");
            let len = on_disk.len() as u64;
            assert!(len < payload.len(), "a killed upload cannot be complete");
            assert!(
                payload.is_prefix(&on_disk),
                "upload file is not what was sent"
            );
            let expected = format!("0-{}", len.saturating_sub(1));
            assert_eq!(r.headers()["range"], expected.as_str(), "status vs disk");
            Some((location(&r), len))
        }
        s => panic!("upload status after the crash: {s}"),
    };
    let uploads = files(&h.data_dir.join("uploads"));
    assert!(
        uploads.iter().all(|p| p == &upload_file),
        "stray upload files: {uploads:?}"
    );

    // Start over: a new upload of all 100 MiB, finished in one PUT.
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let fresh = location(&r);
    let sep = if fresh.contains('?') { '&' } else { '?' };
    let r = c
        .put(h.url(&format!("{fresh}{sep}digest={digest}")))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(payload.stream_from(0)))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = c.head(&blob_url).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        payload.len().to_string().as_str()
    );
    assert_eq!(
        pull_digest(&c, &blob_url).await,
        (digest.clone(), payload.len())
    );

    // The interrupted upload, if it survived, can still be finished from where it stopped.
    if let Some((loc, len)) = resumable {
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = c
            .put(h.url(&format!("{loc}{sep}digest={digest}")))
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(payload.stream_from(len)))
            .send()
            .await
            .expect("finish resumed upload");
        assert_eq!(r.status(), 201);
    }
    let blob_files = files(&h.data_dir.join("blobs"));
    assert_eq!(blob_files.len(), 1, "{blob_files:?}");
    assert_eq!(
        std::fs::metadata(&blob_files[0]).expect("blob").len(),
        payload.len()
    );
    let uploads = files(&h.data_dir.join("uploads"));
    assert!(uploads.is_empty(), "{uploads:?}");
    assert_eq!(pull_digest(&c, &blob_url).await, (digest, payload.len()));
    assert!(!h.log().contains("panicked"), "{}", h.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_upload_finish_then_exits_zero() {
    let mut h = Hoist::start();
    let c = client();
    let repo = "crash/term";
    // 3 MiB in 48 chunks of 64 KiB, 40 ms apart: about two seconds on the wire.
    let payload = Payload::new(3);
    let chunks: Vec<Bytes> = (0..3)
        .flat_map(|i| {
            let c = payload.chunk(i);
            (0..16).map(move |j| c.slice(j * 64 * 1024..(j + 1) * 64 * 1024))
        })
        .collect();
    let mut whole = Sha256::new();
    chunks.iter().for_each(|c| whole.update(c));
    let digest = format!("sha256:{}", hex::encode(whole.finalize()));
    let size: usize = chunks.iter().map(Bytes::len).sum();

    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let mut started_tx = Some(started_tx);
    let body = stream::iter(chunks.into_iter().enumerate()).then(move |(i, chunk)| {
        if i == 8 {
            if let Some(tx) = started_tx.take() {
                let _ = tx.send(());
            }
        }
        async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok::<_, std::io::Error>(chunk)
        }
    });
    let push = tokio::spawn({
        let (c, url) = (
            c.clone(),
            h.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")),
        );
        async move {
            c.post(url)
                .header("content-type", "application/octet-stream")
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
        }
    });
    started_rx.await.expect("upload under way");
    let begun = Instant::now();
    let (mut h, status) = tokio::task::spawn_blocking(move || {
        let status = h.terminate();
        (h, status)
    })
    .await
    .expect("terminate");
    let took = begun.elapsed();
    let pushed = push.await.expect("push task");
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        h.log()
    );
    let pushed = pushed.unwrap_or_else(|e| panic!("in-flight upload was cut off: {e}"));
    assert_eq!(
        pushed.status(),
        201,
        "in-flight upload after SIGTERM: {:?}",
        pushed.text().await
    );
    assert!(took < Duration::from_secs(25), "shutdown took {took:?}");

    // After a restart the blob is whole, and nothing half-written is left anywhere.
    h.kill9();
    let h = h.restart_after_kill();
    let c = client();
    let url = h.url(&format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(pull_digest(&c, &url).await, (digest, size as u64));
    let uploads = files(&h.data_dir.join("uploads"));
    assert!(uploads.is_empty(), "{uploads:?}");
    assert_eq!(files(&h.data_dir.join("blobs")).len(), 1);
}

#[tokio::test]
async fn sigterm_when_idle_exits_zero_promptly() {
    let mut h = Hoist::start();
    // Leave a keep-alive connection open, as a client would.
    let c = client();
    let r = c.get(h.url("/v2/")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let begun = Instant::now();
    let status = h.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        h.log()
    );
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "idle shutdown took {:?}",
        begun.elapsed()
    );
    assert!(h.log().contains("stopped"), "{}", h.log());
    assert!(!h.log().contains("panicked"), "{}", h.log());
}

/// The start-up line is what scripts (and the harness) wait for; a SIGTERM right after it is
/// still a graceful stop.
#[tokio::test]
async fn sigterm_right_after_start_up_exits_zero() {
    let mut h = Hoist::start();
    let status = h.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        h.log()
    );
}

#[tokio::test]
async fn orphan_upload_files_are_removed_at_start_up() {
    let mut h = Hoist::start();
    let c = client();
    // A real upload in progress must survive the clean-up.
    let r = c
        .post(h.url("/v2/crash/orphans/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let loc = location(&r);
    let id = r.headers()["docker-upload-uuid"]
        .to_str()
        .expect("id")
        .to_owned();
    let r = c
        .patch(h.url(&loc))
        .header("content-range", "0-4")
        .body("hello")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    assert!(h.terminate().success());

    // Stray files, as a crash between writing a file and its record would leave.
    let uploads = h.data_dir.join("uploads");
    let strays = [
        uuid::Uuid::new_v4().to_string(),
        "stray.tmp".to_owned(),
        ".hidden".to_owned(),
    ];
    for name in &strays {
        std::fs::write(uploads.join(name), b"left behind").expect("stray");
    }
    let h = h.restart_after_kill();
    for name in &strays {
        assert!(
            !uploads.join(name).exists(),
            "{name} survived the restart; log:\n{}",
            h.log()
        );
    }
    let c = client();
    let r = c.get(h.url(&loc)).send().await.expect("status");
    assert_eq!(r.status(), 204, "the real upload survived");
    assert_eq!(r.headers()["range"], "0-4");
    assert_eq!(files(&uploads), vec![uploads.join(&id)]);
    // A stray id is not an upload either.
    let r = c
        .get(h.url(&format!("/v2/crash/orphans/blobs/uploads/{}", strays[0])))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

/// Hoist never makes directories in uploads/, but something else may (an operator, a backup
/// tool); one there must not keep the registry from starting.
#[tokio::test]
async fn a_stray_directory_in_uploads_does_not_stop_start_up() {
    let mut h = Hoist::start();
    h.kill9();
    let stray = h.data_dir.join("uploads").join("not-an-upload");
    std::fs::create_dir_all(&stray).expect("stray dir");
    std::fs::write(stray.join("file"), b"x").expect("stray file");
    let h = h.restart_after_kill();
    let r = client().get(h.url("/v2/")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(!h.log().contains("panicked"), "{}", h.log());
}

/// A hoist on an existing data dir with extra flags; the harness restarts only with none.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data_dir: &Path, log: &Path, extra: &[&str]) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hoist"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("HOIST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start hoist");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        stdout.read_line(&mut line).expect("start-up line");
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let addr = line
            .rsplit("http://")
            .next()
            .expect("address")
            .trim()
            .to_owned();
        assert!(!addr.is_empty(), "hoist did not start");
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let mut h = Hoist::start();
    let c = client();
    let repo = "crash/idle";
    let mut started = Vec::new();
    for _ in 0..2 {
        let r = c
            .post(h.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send()
            .await
            .expect("post");
        let loc = location(&r);
        let r = c
            .patch(h.url(&loc))
            .header("content-range", "0-2")
            .body("abc")
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status(), 202);
        let id = r.headers()["docker-upload-uuid"]
            .to_str()
            .expect("id")
            .to_owned();
        started.push((loc, h.data_dir.join("uploads").join(id)));
    }
    h.kill9();
    // Both sit idle for longer than the limit; then one sees activity again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (idle, active) = (&started[0], &started[1]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&active.1)
        .expect("active upload")
        .set_modified(SystemTime::now())
        .expect("touch");

    // The sweep runs at start-up (and then every minute).
    let log = h.data_dir.with_file_name("hoist-expiry.log");
    let server = Server::start(&h.data_dir, &log, &["--upload-max-idle-secs", "1"]);
    // The sweep runs alongside the first requests; wait for it to report.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("expired abandoned uploads")
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = client();
    let r = c.get(server.url(&idle.0)).send().await.expect("status");
    assert_eq!(r.status(), 404, "idle upload expired");
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert!(!idle.1.exists(), "the expired upload's file is gone");
    let r = c.get(server.url(&idle.0)).send().await.expect("status");
    assert_eq!(r.status(), 404);
    let r = c
        .patch(server.url(&idle.0))
        .header("content-range", "3-5")
        .body("def")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 404, "an expired upload takes no more chunks");
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert!(!idle.1.exists(), "no file came back");

    let r = c.get(server.url(&active.0)).send().await.expect("status");
    assert_eq!(r.status(), 204, "the recently active upload stays");
    assert_eq!(r.headers()["range"], "0-2");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("expiring abandoned upload"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[tokio::test]
async fn only_a_crash_leaves_the_metadata_file_to_repair() {
    const REPAIR: &str = "not closed cleanly";
    let h = Hoist::start();
    let c = client();
    let digest = push_image(&c, &h, "r", "v1").await;
    let h = h.restart_after_terminate();
    assert!(
        !h.log().contains(REPAIR),
        "a graceful stop closes redb: {}",
        h.log()
    );
    let h = h.restart_after_kill();
    assert!(
        h.log().contains(REPAIR),
        "a crash is repaired, and said so: {}",
        h.log()
    );
    for reference in ["v1", digest.as_str()] {
        let r = c
            .get(h.url(&format!("/v2/r/manifests/{reference}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{reference}");
    }
}
