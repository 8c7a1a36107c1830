//! Blob pull and upload flows: monolithic, chunked, resumed, out of order, wrong digest, mount.

use crate::harness::*;

#[tokio::test]
async fn base_endpoint_announces_api_version() {
    let h = Hoist::start();
    let r = client().get(h.url("/v2/")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
}

#[tokio::test]
async fn chunked_upload_in_three_patches_resumes_after_status() {
    let h = Hoist::start();
    let c = client();
    let data: Vec<u8> = (0..3 * 100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = sha256(&data);
    let r = c
        .post(h.url("/v2/a/b/c/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-0");
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let mut location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    for (i, chunk) in data.chunks(100_000).enumerate() {
        if i == 2 {
            // Resume: ask where the upload stands, as a client would after a lost connection.
            let s = c.get(h.url(&location)).send().await.expect("status");
            assert_eq!(s.status(), 204);
            assert_eq!(s.headers()["range"], "0-199999");
            location = s.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
        }
        let start = i * 100_000;
        let r = c
            .patch(h.url(&location))
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("{}-{}", start, start + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status(), 202, "chunk {i}");
        assert_eq!(
            r.headers()["range"],
            format!("0-{}", start + chunk.len() - 1).as_str()
        );
        location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = c
        .put(h.url(&format!("{location}{sep}digest={digest}")))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let got = c
        .get(h.url(&format!("/v2/a/b/c/blobs/{digest}")))
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), data.as_slice());
}

#[tokio::test]
async fn out_of_order_chunk_is_416_and_upload_survives() {
    let h = Hoist::start();
    let c = client();
    let r = c
        .post(h.url("/v2/r/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let r = c
        .patch(h.url(&location))
        .header("content-range", "0-3")
        .body("abcd")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    let r = c
        .patch(h.url(&location))
        .header("content-range", "10-13")
        .body("wxyz")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 416);
    let r = c.get(h.url(&location)).send().await.expect("status");
    assert_eq!(
        r.headers()["range"],
        "0-3",
        "the rejected chunk left no bytes"
    );
    let digest = sha256(b"abcdefgh");
    let r = c
        .put(h.url(&format!("{location}?digest={digest}")))
        .header("content-range", "4-7")
        .body("efgh")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn wrong_digest_on_finish_is_digest_invalid_and_stores_nothing() {
    let h = Hoist::start();
    let c = client();
    let claimed = sha256(b"what the client says");
    let r = c
        .post(h.url(&format!("/v2/r/blobs/uploads/?digest={claimed}")))
        .body("something else")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let actual = sha256(b"something else");
    for d in [&claimed, &actual] {
        let r = c
            .head(h.url(&format!("/v2/r/blobs/{d}")))
            .send()
            .await
            .expect("head");
        assert_eq!(r.status(), 404, "{d}");
    }
    // Nothing under blobs/ and no upload file left behind.
    let files = walk(&h.data_dir.join("blobs"));
    assert!(files.is_empty(), "{files:?}");
    let uploads = walk(&h.data_dir.join("uploads"));
    assert!(uploads.is_empty(), "{uploads:?}");

    // The same through a chunked upload finished with PUT.
    let r = c
        .post(h.url("/v2/r/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let r = c
        .put(h.url(&format!("{location}?digest={claimed}")))
        .body("other bytes")
        .send()
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    assert!(walk(&h.data_dir.join("blobs")).is_empty());
}

#[tokio::test]
async fn blob_is_unknown_in_another_repo_until_mounted() {
    let h = Hoist::start();
    let c = client();
    let digest = push_blob(&c, &h, "team/a", b"shared layer").await;
    let r = c
        .get(h.url(&format!("/v2/team/b/blobs/{digest}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");

    // Mount from a repo that lacks it: a normal upload session instead.
    let r = c
        .post(h.url(&format!(
            "/v2/team/b/blobs/uploads/?mount={digest}&from=team/nothing"
        )))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), 202);
    assert!(r.headers()["location"]
        .to_str()
        .expect("loc")
        .contains("/blobs/uploads/"));

    let r = c
        .post(h.url(&format!(
            "/v2/team/b/blobs/uploads/?mount={digest}&from=team/a"
        )))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/team/b/blobs/{digest}").as_str()
    );
    let r = c
        .get(h.url(&format!("/v2/team/b/blobs/{digest}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"shared layer");
    // Stored once.
    assert_eq!(walk(&h.data_dir.join("blobs")).len(), 1);
}

#[tokio::test]
async fn blob_ranges_and_head() {
    let h = Hoist::start();
    let c = client();
    let digest = push_blob(&c, &h, "r", b"0123456789").await;
    let url = h.url(&format!("/v2/r/blobs/{digest}"));
    let r = c.head(&url).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "10");
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = c
        .get(&url)
        .header("range", "bytes=2-5")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"2345");
    let r = c
        .get(&url)
        .header("range", "bytes=-3")
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"789");
    for bad in [
        "bytes=10-",
        "bytes=20-30",
        "bytes=abc",
        "pages=1-2",
        "bytes=5-1",
    ] {
        let r = c.get(&url).header("range", bad).send().await.expect("get");
        assert_eq!(r.status(), 416, "{bad}");
        assert_eq!(r.headers()["content-range"], "bytes */10");
    }
}

#[tokio::test]
async fn sha512_digests_work_for_blobs() {
    let h = Hoist::start();
    let c = client();
    let data = b"sha512 content";
    let digest = hoist::oci::Digest::of(hoist::oci::Algorithm::Sha512, data).to_string();
    let r = c
        .post(h.url(&format!("/v2/r/blobs/uploads/?digest={digest}")))
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let r = c
        .get(h.url(&format!("/v2/r/blobs/{digest}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(r.bytes().await.expect("body").as_ref(), data);
}

#[tokio::test]
async fn cancelled_upload_is_gone_and_delete_unlinks_blob() {
    let h = Hoist::start();
    let c = client();
    let r = c
        .post(h.url("/v2/r/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let r = c.delete(h.url(&location)).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    let r = c.get(h.url(&location)).send().await.expect("status");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    let digest = push_blob(&c, &h, "r", b"to delete").await;
    let url = h.url(&format!("/v2/r/blobs/{digest}"));
    assert_eq!(c.delete(&url).send().await.expect("delete").status(), 202);
    let r = c.head(&url).send().await.expect("head");
    assert_eq!(r.status(), 404);
    let r = c.delete(&url).send().await.expect("delete");
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn upload_id_of_another_repo_is_unknown() {
    let h = Hoist::start();
    let c = client();
    let r = c
        .post(h.url("/v2/one/blobs/uploads/"))
        .send()
        .await
        .expect("post");
    let id = r.headers()["docker-upload-uuid"]
        .to_str()
        .expect("id")
        .to_owned();
    let r = c
        .get(h.url(&format!("/v2/two/blobs/uploads/{id}")))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

/// Every file below `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
