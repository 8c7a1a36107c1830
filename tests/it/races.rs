//! Requests that race on one upload, and chunks that break their own promises (issue 9,
//! defects 7 and 9): every answer is a spec answer, never a 5xx, and nothing a chunk did not
//! deliver as it said is kept.

use crate::harness::*;
use crate::rawhttp::*;

async fn patch(c: &reqwest::Client, h: &Hoist, location: &str, data: &[u8]) {
    let r = c
        .patch(h.url(location))
        .body(data.to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
}

/// Status and, for errors, the spec code.
async fn outcome(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let code = body["errors"][0]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}

#[tokio::test]
async fn racing_closes_of_one_upload_give_one_blob_and_no_server_error() {
    let h = Hoist::start();
    let c = client();
    for round in 0..15u64 {
        let repo = format!("race/put{round}");
        let data = noise(round, 300_000);
        let digest = sha256(&data);
        let location = open_session(&h, loopback(1), &repo);
        patch(&c, &h, &location, &data).await;
        let url = h.url(&format!("{location}?digest={digest}"));
        let puts = (0..3).map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { outcome(c.put(url).send().await.expect("put")).await })
        });
        let mut answers = Vec::new();
        for p in puts {
            answers.push(p.await.expect("task"));
        }
        let created = answers.iter().filter(|(s, _)| *s == 201).count();
        assert!(created >= 1, "round {round}: {answers:?}");
        for (status, code) in &answers {
            assert!(
                *status == 201 || (*status == 404 && code == "BLOB_UPLOAD_UNKNOWN"),
                "round {round}: {answers:?}"
            );
        }
        let got = c
            .get(h.url(&format!("/v2/{repo}/blobs/{digest}")))
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert!(got[..] == data[..]);
    }
    assert!(!h.log().contains("request failed"), "{}", h.log());
}

#[tokio::test]
async fn a_patch_racing_the_closing_put_gets_a_spec_answer() {
    let h = Hoist::start();
    let c = client();
    for round in 0..15u64 {
        let repo = format!("race/patch{round}");
        let data = noise(100 + round, 600_000);
        let (first, second) = data.split_at(300_000);
        let digest = sha256(&data);
        let location = open_session(&h, loopback(1), &repo);
        patch(&c, &h, &location, first).await;
        let patching = {
            let (c, url, body) = (c.clone(), h.url(&location), second.to_vec());
            tokio::spawn(async move {
                let r = c
                    .patch(url)
                    .header("content-range", format!("300000-{}", 600_000 - 1))
                    .body(body)
                    .send()
                    .await
                    .expect("patch");
                outcome(r).await
            })
        };
        let putting = {
            let (c, url) = (c.clone(), h.url(&format!("{location}?digest={digest}")));
            tokio::spawn(async move { outcome(c.put(url).send().await.expect("put")).await })
        };
        let (p, q) = (patching.await.expect("task"), putting.await.expect("task"));
        // Either the chunk came first (202, then 201), or the PUT closed the upload on
        // half the bytes (400 DIGEST_INVALID, then the chunk finds it gone).
        let fine = matches!(
            (&p, &q),
            ((202, _), (201, _)) | ((404, _), (400, _)) | ((416, _), (400, _))
        );
        assert!(fine, "round {round}: PATCH {p:?}, PUT {q:?}");
    }
    assert!(!h.log().contains("request failed"), "{}", h.log());
}

#[tokio::test]
async fn a_chunk_that_does_not_fill_its_content_range_is_416_and_not_kept() {
    let h = Hoist::start();
    let from = loopback(1);
    let location = open_session(&h, from, "range/check");
    let file = h.data_dir.join("uploads").join(upload_id(&location));
    let data = noise(9, 100);
    let r = request_from(
        &h,
        from,
        "PATCH",
        &location,
        &[("Content-Range", "0-9".into())],
        &data[..10],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    // The case: `10-99` with a 10-byte body, declared by Content-Length.
    let r = request_from(
        &h,
        from,
        "PATCH",
        &location,
        &[("Content-Range", "10-99".into())],
        &data[10..20],
    );
    assert_eq!(r.status, 416, "{}", r.text());
    assert_eq!(r.code(), "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("range"), Some("0-9"));
    // The same with a chunked body: written, then taken back.
    for (range, body) in [("10-99", &data[10..20]), ("10-19", &data[10..40])] {
        let mut s = connect_from(&h, from);
        let mut chunked = chunk(body);
        chunked.extend_from_slice(LAST_CHUNK);
        send_head(
            &mut s,
            &h,
            "PATCH",
            &location,
            &[
                ("Content-Range", range.into()),
                ("Transfer-Encoding", "chunked".into()),
            ],
            &chunked,
        );
        let r = read_response(&mut s, std::time::Duration::from_secs(10)).expect("answer");
        assert_eq!(
            r.status,
            416,
            "{range} with {} bytes: {}",
            body.len(),
            r.text()
        );
        assert_eq!(upload_offset(&h, &location), Some(10));
        assert_eq!(std::fs::metadata(&file).expect("file").len(), 10);
    }
    // A closing PUT that breaks its range is refused too, and the upload goes on.
    let digest = sha256(&data);
    let r = request_from(
        &h,
        from,
        "PUT",
        &format!("{location}?digest={digest}"),
        &[("Content-Range", "10-99".into())],
        &data[10..50],
    );
    assert_eq!(r.status, 416, "{}", r.text());
    let r = request_from(
        &h,
        from,
        "PUT",
        &format!("{location}?digest={digest}"),
        &[("Content-Range", "10-99".into())],
        &data[10..],
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn a_mount_hoist_cannot_do_falls_back_to_an_upload_session() {
    let h = Hoist::start();
    let c = client();
    let blob = push_blob(&c, &h, "mount/source", b"mountable").await;
    let unknown = sha256(b"nowhere");
    for query in [
        format!("mount={blob}&from=Not..A..Name"),
        format!("mount={blob}&from=no/such/repo"),
        format!("mount={unknown}&from=mount/source"),
        format!("mount={unknown}"),
    ] {
        let r = c
            .post(h.url(&format!("/v2/mount/target/blobs/uploads/?{query}")))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 202, "{query}");
        let location = r.headers()["location"].to_str().expect("location");
        assert!(
            location.starts_with("/v2/mount/target/blobs/uploads/"),
            "{query}"
        );
    }
    // Without `from`, a blob hoist holds is linked (the spec's anonymous mount).
    let r = c
        .post(h.url(&format!("/v2/mount/anon/blobs/uploads/?mount={blob}")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let got = c
        .get(h.url(&format!("/v2/mount/anon/blobs/{blob}")))
        .send()
        .await
        .expect("get");
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), b"mountable");
}
