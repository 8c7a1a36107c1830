//! Manifest push and pull: byte-exact storage, reference checks, deletes.

use crate::harness::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[tokio::test]
async fn manifest_bytes_come_back_exactly_by_tag_and_digest() {
    let h = Hoist::start();
    let c = client();
    let body = image_manifest(&c, &h, "x/y", b"layer", None).await;
    // Odd spacing and key order must survive: the digest is of these bytes.
    let mut odd = b"  ".to_vec();
    odd.extend_from_slice(&body);
    odd.extend_from_slice(b"\n\n");
    let digest = put_manifest(&c, &h, "x/y", "v1", OCI_MANIFEST, &odd).await;
    for reference in ["v1", digest.as_str()] {
        let url = h.url(&format!("/v2/x/y/manifests/{reference}"));
        let r = c.get(&url).send().await.expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(r.bytes().await.expect("body").as_ref(), odd.as_slice());
        let r = c.head(&url).send().await.expect("head");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-length"],
            odd.len().to_string().as_str()
        );
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    }
}

#[tokio::test]
async fn manifest_naming_a_missing_blob_is_manifest_blob_unknown_when_strict() {
    let h = Hoist::start_with(&["--reject-missing-references"]);
    let c = client();
    let body = image_manifest(&c, &h, "a", b"layer", None).await;
    // The blobs exist in `a` but not in `b`.
    let r = c
        .put(h.url("/v2/b/manifests/latest"))
        .header("content-type", OCI_MANIFEST)
        .body(body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = c
        .get(h.url("/v2/b/manifests/latest"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn foreign_layers_need_not_be_present() {
    let h = Hoist::start();
    let c = client();
    let config = push_blob(&c, &h, "win", b"{}").await;
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 2},
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": sha256(b"elsewhere"), "size": 9,
            "urls": ["https://example.invalid/layer"]
        }]
    });
    put_manifest(
        &c,
        &h,
        "win",
        "ltsc",
        "application/vnd.docker.distribution.manifest.v2+json",
        &serde_json::to_vec(&body).expect("json"),
    )
    .await;
}

#[tokio::test]
async fn index_needs_its_children_in_the_repository_when_strict() {
    let h = Hoist::start_with(&["--reject-missing-references"]);
    let c = client();
    let child = image_manifest(&c, &h, "multi", b"amd64 layer", None).await;
    let child_digest = sha256(&child);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child_digest, "size": child.len(),
                        "platform": {"architecture": "amd64", "os": "linux"}}]
    }))
    .expect("json");
    let r = c
        .put(h.url("/v2/multi/manifests/latest"))
        .header("content-type", OCI_INDEX)
        .body(index.clone())
        .send()
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    put_manifest(&c, &h, "multi", &child_digest, OCI_MANIFEST, &child).await;
    put_manifest(&c, &h, "multi", "latest", OCI_INDEX, &index).await;
}

#[tokio::test]
async fn deleting_a_manifest_makes_it_404_and_removes_its_tags() {
    let h = Hoist::start();
    let c = client();
    let body = image_manifest(&c, &h, "d", b"layer", None).await;
    let digest = put_manifest(&c, &h, "d", "one", OCI_MANIFEST, &body).await;
    put_manifest(&c, &h, "d", "two", OCI_MANIFEST, &body).await;
    let other = push_image(&c, &h, "d", "three").await;
    let r = c
        .delete(h.url(&format!("/v2/d/manifests/{digest}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 202);
    let r = c
        .get(h.url(&format!("/v2/d/manifests/{digest}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    for tag in ["one", "two"] {
        let r = c
            .head(h.url(&format!("/v2/d/manifests/{tag}")))
            .send()
            .await
            .expect("head");
        assert_eq!(r.status(), 404, "{tag}");
    }
    let tags: serde_json::Value = c
        .get(h.url("/v2/d/tags/list"))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert_eq!(tags["tags"], serde_json::json!(["three"]));
    let r = c
        .get(h.url(&format!("/v2/d/manifests/{other}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let r = c
        .delete(h.url(&format!("/v2/d/manifests/{digest}")))
        .send()
        .await
        .expect("delete again");
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn deleting_a_tag_keeps_the_manifest() {
    let h = Hoist::start();
    let c = client();
    let digest = push_image(&c, &h, "t", "gone").await;
    let r = c
        .delete(h.url("/v2/t/manifests/gone"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 202);
    let r = c
        .get(h.url("/v2/t/manifests/gone"))
        .send()
        .await
        .expect("get");
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = c
        .get(h.url(&format!("/v2/t/manifests/{digest}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn unknown_repository_is_name_unknown() {
    let h = Hoist::start();
    let c = client();
    let r = c
        .get(h.url("/v2/nope/manifests/latest"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let r = c
        .get(h.url("/v2/nope/tags/list"))
        .send()
        .await
        .expect("get");
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn manifests_survive_a_restart() {
    let h = Hoist::start();
    let c = client();
    let digest = push_image(&c, &h, "keep/me", "v1").await;
    let h = h.restart_after_kill();
    let r = c
        .get(h.url("/v2/keep/me/manifests/v1"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
}

/// Status and Docker-Content-Digest of a GET of `reference` with one Accept type.
async fn get_with(h: &Hoist, repo: &str, reference: &str, accept: &str) -> (u16, String) {
    let r = client()
        .get(h.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("accept", accept)
        .send()
        .await
        .expect("get");
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|d| d.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    if status == 200 {
        assert_eq!(sha256(&body), digest, "served bytes match their digest");
    }
    (status, digest)
}

#[tokio::test]
async fn a_moved_or_deleted_tag_is_seen_at_once_in_every_format() {
    // Answers to repeated pulls are kept in memory; every write must be seen by the next read.
    const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    let h = Hoist::start();
    let c = client();
    let a = image_manifest(&c, &h, "m", b"first", None).await;
    let b = image_manifest(&c, &h, "m", b"second", None).await;
    let digest_a = put_manifest(&c, &h, "m", "latest", OCI_MANIFEST, &a).await;
    let mut served_a = Vec::new();
    for accept in [OCI_MANIFEST, S2] {
        let first = get_with(&h, "m", "latest", accept).await;
        assert_eq!(first.0, 200, "{accept}");
        assert_eq!(get_with(&h, "m", "latest", accept).await, first, "{accept}");
        served_a.push(first.1);
    }
    assert_eq!(served_a[0], digest_a);
    assert_ne!(
        served_a[1], digest_a,
        "schema2 clients get a mapped variant"
    );

    let digest_b = put_manifest(&c, &h, "m", "latest", OCI_MANIFEST, &b).await;
    let oci = get_with(&h, "m", "latest", OCI_MANIFEST).await;
    assert_eq!(oci, (200, digest_b.clone()));
    let docker = get_with(&h, "m", "latest", S2).await;
    assert_eq!(docker.0, 200);
    assert!(docker.1 != served_a[1] && docker.1 != digest_b);

    let r = c
        .delete(h.url("/v2/m/manifests/latest"))
        .send()
        .await
        .expect("delete tag");
    assert_eq!(r.status(), 202);
    for accept in [OCI_MANIFEST, S2] {
        assert_eq!(get_with(&h, "m", "latest", accept).await.0, 404, "{accept}");
    }

    // Warm every answer again, then delete the manifest itself by digest. (By digest, OCI
    // bytes go only to clients that name OCI, as in distribution.)
    put_manifest(&c, &h, "m", "again", OCI_MANIFEST, &b).await;
    let answers = [
        ("again", OCI_MANIFEST),
        ("again", S2),
        (digest_b.as_str(), OCI_MANIFEST),
        (docker.1.as_str(), S2),
    ];
    for (reference, accept) in answers {
        assert_eq!(
            get_with(&h, "m", reference, accept).await.0,
            200,
            "{reference} {accept}"
        );
    }
    let r = c
        .delete(h.url(&format!("/v2/m/manifests/{digest_b}")))
        .send()
        .await
        .expect("delete manifest");
    assert_eq!(r.status(), 202);
    for (reference, accept) in answers {
        assert_eq!(
            get_with(&h, "m", reference, accept).await.0,
            404,
            "{reference} {accept}"
        );
    }
    // The first image was never deleted and still answers by digest.
    assert_eq!(
        get_with(&h, "m", &digest_a, OCI_MANIFEST).await,
        (200, digest_a)
    );
}
