//! Clients that stall cost only their own connections (issue 9, defects 1 and 2): uploads
//! that stop sending hold no thread that reads need, their bodies time out, each client
//! address has a bounded number of uploads in flight, and a stalled chunk never blocks the
//! status or the cancel of its own upload.

use crate::harness::*;
use crate::rawhttp::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const SOME_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

/// Start `n` uploads that send a chunk and then nothing, `per_client` from each address
/// from 127.0.0.`first` on: every other one a monolithic POST, the rest PATCHes into
/// sessions. The sockets are returned so they stay open.
pub fn stall_uploads(h: &Hoist, n: usize, first: u8, per_client: usize) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(n);
    for i in 0..n {
        let from = loopback(first + (i / per_client) as u8);
        let (method, target) = if i % 2 == 0 {
            (
                "POST",
                format!("/v2/stall/mono/blobs/uploads/?digest={SOME_DIGEST}"),
            )
        } else {
            ("PATCH", open_session(h, from, "stall/session"))
        };
        let mut s = connect_from(h, from);
        send_head(
            &mut s,
            h,
            method,
            &target,
            &[("Transfer-Encoding", "chunked".into())],
            &chunk(&[7u8; 100]),
        );
        open.push(s);
    }
    open
}

/// Run `f`, failing the test if it takes longer than `limit`; returns how long it took.
async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = T>,
) -> (T, Duration) {
    let start = Instant::now();
    let out = tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {limit:?}"));
    (out, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_uploads_do_not_hold_up_reads_or_other_uploads() {
    // More stalled bodies than the blocking pools of both workers have threads (2 x 512):
    // before, each held a thread and every read that needed one hung.
    let h = Hoist::start_with(&["--body-idle-timeout-secs", "300"]);
    let c = client();
    let digest = push_image(&c, &h, "seed/app", "v1").await;
    let blob = push_blob(&c, &h, "seed/app", b"a blob to HEAD").await;
    let hh = std::sync::Arc::new(h);
    let h2 = std::sync::Arc::clone(&hh);
    // 1100 stalled uploads from 20 addresses, 55 each (under the default 64 per client).
    let stalled = tokio::task::spawn_blocking(move || stall_uploads(&h2, 1100, 2, 55))
        .await
        .expect("stall");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let h = &*hh;
    let limit = Duration::from_secs(5);
    let (r, tags) = within(limit, "tags/list", async {
        c.get(h.url("/v2/seed/app/tags/list")).send().await
    })
    .await;
    assert_eq!(r.expect("tags").status(), 200);
    let (r, head) = within(limit, "blob HEAD", async {
        c.head(h.url(&format!("/v2/seed/app/blobs/{blob}")))
            .send()
            .await
    })
    .await;
    assert_eq!(r.expect("head").status(), 200);
    let (r, by_digest) = within(limit, "manifest GET by digest", async {
        c.get(h.url(&format!("/v2/seed/app/manifests/{digest}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
    })
    .await;
    assert_eq!(r.expect("get").status(), 200);
    let (pushed, upload) = within(limit, "a new upload", async {
        push_blob(&c, h, "seed/other", b"an honest upload").await
    })
    .await;
    assert_eq!(pushed, sha256(b"an honest upload"));
    eprintln!(
        "with {} stalled uploads: tags/list {tags:?}, blob HEAD {head:?}, \
         manifest GET {by_digest:?}, new upload {upload:?}",
        stalled.len()
    );
    drop(stalled);
}

#[tokio::test]
async fn a_body_that_sends_nothing_is_aborted_and_its_chunk_is_not_kept() {
    let h = Hoist::start_with(&["--body-idle-timeout-secs", "2"]);
    let from = loopback(1);
    let location = open_session(&h, from, "idle/patch");
    let data = noise(1, 3000);
    let r = request_from(&h, from, "PATCH", &location, &[], &data[..1000]);
    assert_eq!(r.status, 202, "{}", r.text());
    // A PATCH that sends 500 bytes and stalls: 408 after the idle time; the upload still
    // holds the first chunk only, and says so.
    let mut s = connect_from(&h, from);
    send_head(
        &mut s,
        &h,
        "PATCH",
        &location,
        &[("Transfer-Encoding", "chunked".into())],
        &chunk(&data[1000..1500]),
    );
    let started = Instant::now();
    let r = read_response(&mut s, Duration::from_secs(20)).expect("an answer to the stall");
    let waited = started.elapsed();
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.code(), "BLOB_UPLOAD_INVALID");
    assert!(r.text().contains("holds 1000 bytes"), "{}", r.text());
    assert_eq!(r.header("range"), Some("0-999"));
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    assert_eq!(upload_offset(&h, &location), Some(1000));
    // The client resumes where the Range says and finishes.
    let rest = request_from(
        &h,
        from,
        "PATCH",
        &location,
        &[("Content-Range", "1000-2999".into())],
        &data[1000..],
    );
    assert_eq!(rest.status, 202, "{}", rest.text());
    let done = request_from(
        &h,
        from,
        "PUT",
        &format!("{location}?digest={}", sha256(&data)),
        &[],
        b"",
    );
    assert_eq!(done.status, 201, "{}", done.text());

    // A monolithic upload that stalls: 408, and its temp file is gone.
    let mut s = connect_from(&h, from);
    send_head(
        &mut s,
        &h,
        "POST",
        &format!("/v2/idle/mono/blobs/uploads/?digest={SOME_DIGEST}"),
        &[("Content-Length", "5000".into())],
        &[1u8; 100],
    );
    let r = read_response(&mut s, Duration::from_secs(20)).expect("an answer to the stall");
    assert_eq!(r.status, 408, "{}", r.text());
    wait_for_no_upload_files(&h, Duration::from_secs(5));

    // A manifest body that stalls.
    let mut s = connect_from(&h, from);
    send_head(
        &mut s,
        &h,
        "PUT",
        "/v2/idle/manifest/manifests/latest",
        &[
            ("Content-Length", "500".into()),
            (
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".into(),
            ),
        ],
        b"{\"schemaVersion\":",
    );
    let r = read_response(&mut s, Duration::from_secs(20)).expect("an answer to the stall");
    assert_eq!(r.status, 408, "{}", r.text());
}

/// Wait until `uploads/` holds no file at all.
pub fn wait_for_no_upload_files(h: &Hoist, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let files: Vec<_> = std::fs::read_dir(h.data_dir.join("uploads"))
            .expect("uploads dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        if files.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "upload files left: {files:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn each_client_address_has_a_bounded_number_of_uploads_in_flight() {
    let h = Hoist::start_with(&[
        "--uploads-per-client",
        "3",
        "--body-idle-timeout-secs",
        "60",
    ]);
    let mut held = stall_uploads(&h, 3, 2, 3);
    std::thread::sleep(Duration::from_millis(300));
    // The fourth from the same address is refused at once, with a clear code.
    let location = open_session(&h, loopback(2), "limit/app");
    let started = Instant::now();
    let r = request_from(&h, loopback(2), "PATCH", &location, &[], b"more");
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.code(), "TOOMANYREQUESTS");
    assert!(r.text().contains("127.0.0.2"), "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(2));
    let r = request_from(
        &h,
        loopback(2),
        "POST",
        &format!("/v2/limit/app/blobs/uploads/?digest={}", sha256(b"x")),
        &[],
        b"x",
    );
    assert_eq!(r.status, 429, "monolithic too: {}", r.text());
    // Another address is not affected.
    let r = request_from(&h, loopback(3), "PATCH", &location, &[], b"more");
    assert_eq!(r.status, 202, "{}", r.text());
    // When one of the three goes, its place comes back.
    reset(held.pop().expect("one"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = request_from(
            &h,
            loopback(2),
            "POST",
            &format!("/v2/limit/app/blobs/uploads/?digest={}", sha256(b"x")),
            &[],
            b"x",
        );
        if r.status == 201 {
            break;
        }
        assert_eq!(r.status, 429, "{}", r.text());
        assert!(Instant::now() < deadline, "the slot never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_stalled_chunk_never_blocks_its_uploads_status_or_cancel() {
    let h = Hoist::start_with(&["--body-idle-timeout-secs", "120"]);
    let from = loopback(1);
    let location = open_session(&h, from, "own/session");
    // A first chunk completes, so the status has something to say.
    let first = noise(2, 5000);
    let r = request_from(&h, from, "PATCH", &location, &[], &first);
    assert_eq!(r.status, 202);
    // The second stalls in the middle of its body.
    let mut stalled = connect_from(&h, from);
    send_head(
        &mut stalled,
        &h,
        "PATCH",
        &location,
        &[("Content-Length", "100000".into())],
        &[3u8; 1000],
    );
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(upload_offset(&h, &location), Some(5000));
    assert!(started.elapsed() < Duration::from_secs(2), "status waited");
    let started = Instant::now();
    let r = request_from(&h, from, "DELETE", &location, &[], b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(2), "cancel waited");
    // The stalled request learns its upload is gone, and nothing of it stays.
    let r = read_response(&mut stalled, Duration::from_secs(5)).expect("the stalled PATCH ends");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(upload_offset(&h, &location), None);
    assert!(!h
        .data_dir
        .join("uploads")
        .join(upload_id(&location))
        .exists());
}
