//! Content a client pushed never causes a 5xx (issue defects 5 and 6, and their class): a
//! list whose child was deleted, a schema1 whose layer is not the gzip it looks like or is
//! gone, a list nested deeper than any client reads. A client that cannot be served gets
//! 404 MANIFEST_UNKNOWN naming what is missing; one that reads the stored form still gets it.

use crate::harness::*;
use hoist::oci::schema1::jws::SchemaKey;
use std::io::Write;

const S1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_LAYER: &str = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";
/// What Docker 26 sends: it lists schema1 but can no longer read it.
const DOCKER_26: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Accept profiles of real clients (one entry is one Accept header line; none at all is
/// old Docker), for the sweep that no answer is a 5xx.
fn profiles() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("none", vec![]),
        ("s1", vec![S1]),
        ("s2", vec![S2]),
        ("list", vec![LIST]),
        ("oci", vec![OCI]),
        ("ociindex", vec![INDEX]),
        ("docker1.10-18.09", vec![S1, "application/json", S2, LIST]),
        ("docker19-25", vec![S1, "application/json", S2, LIST, OCI, INDEX]),
        ("docker26", vec![DOCKER_26]),
        ("containerd", vec!["application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*"]),
        ("containers-image", vec![OCI, S2, S1, "application/vnd.docker.distribution.manifest.v1+json", LIST, INDEX]),
        ("wildcard", vec!["*/*"]),
    ]
}

/// A manifest request with exactly these Accept lines (none: no Accept header at all).
async fn fetch(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    accept: &[&str],
) -> reqwest::Response {
    let mut r = c.request(method, url);
    for line in accept {
        r = r.header(reqwest::header::ACCEPT, *line);
    }
    if accept.is_empty() {
        // reqwest adds `Accept: */*` unless told otherwise; old Docker sends none.
        r = r.header(reqwest::header::ACCEPT, "");
    }
    r.send().await.expect("request")
}

/// GET and HEAD must both be 404 MANIFEST_UNKNOWN, the message naming `missing`.
async fn assert_unknown_naming(
    c: &reqwest::Client,
    url: &str,
    accept: &[&str],
    missing: &str,
    what: &str,
) {
    let r = fetch(c, reqwest::Method::GET, url, accept).await;
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    eprintln!("{what}: GET Accept {accept:?}: {status} {body}");
    assert!(status < 500, "{what}: {status} {body}");
    assert_eq!(status, 404, "{what}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("error body is JSON");
    assert_eq!(v["errors"][0]["code"], "MANIFEST_UNKNOWN", "{what}: {body}");
    let message = v["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains(missing), "{what}: {message}");
    let head = fetch(c, reqwest::Method::HEAD, url, accept).await;
    assert_eq!(head.status(), 404, "{what}: HEAD");
}

/// GET and HEAD with every client profile answer something other than a 5xx.
async fn assert_no_5xx_for_any_client(c: &reqwest::Client, url: &str, what: &str) {
    let mut seen = Vec::new();
    for (name, accept) in profiles() {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let r = fetch(c, method.clone(), url, &accept).await;
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{what}: {method} as {name}: {status} {body}"
            );
            if method == reqwest::Method::GET {
                seen.push(format!("{name} {}", status.as_u16()));
            }
        }
    }
    eprintln!("{what}: every client: {}", seen.join(", "));
}

/// hoist logs every 5xx as "request failed" at ERROR: there must be none.
fn assert_no_failed_requests(h: &Hoist) {
    let log = h.log();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("request failed"))
        .collect();
    assert!(failed.is_empty(), "5xx answers: {failed:#?}");
}

/// Push a Docker schema2 image (config + one gzip layer); returns its body.
async fn docker_image(c: &reqwest::Client, h: &Hoist, repo: &str, content: &[u8]) -> Vec<u8> {
    let config =
        br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(c, h, repo, config).await;
    let layer = gzip(content);
    let layer_digest = push_blob(c, h, repo, &layer).await;
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": S2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": layer_digest, "size": layer.len()}],
    }))
    .expect("json")
}

/// A list (`list_type`) with one linux/amd64 entry.
fn list_over(list_type: &str, child_type: &str, child: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": list_type,
        "manifests": [{"mediaType": child_type, "digest": sha256(child), "size": child.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .expect("json")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// A signed schema1 of `repo:tag`: a throwaway top entry over one base layer `layer`.
/// Returns the signed bytes and the manifest's (canonical) digest.
fn signed_schema1(repo: &str, tag: &str, layer: &str) -> (Vec<u8>, String) {
    let id = |seed: &str| sha256(seed.as_bytes())["sha256:".len()..].to_owned();
    let (base_id, top_id) = (id(&format!("{tag} base")), id(&format!("{tag} top")));
    let base = serde_json::json!({
        "id": base_id,
        "created": "2024-01-01T00:00:00Z",
        "container_config": {"Cmd": ["/bin/sh -c #(nop) ADD file:0123abcd in / "]},
    });
    let top = serde_json::json!({
        "architecture": "amd64",
        "config": {"Cmd": ["sh"]},
        "created": "2024-01-01T00:00:01Z",
        "container_config": {"Cmd": ["/bin/sh -c #(nop)  CMD [\"sh\"]"]},
        "id": top_id,
        "os": "linux",
        "parent": base_id,
        "throwaway": true,
    });
    let canonical = serde_json::to_string_pretty(&serde_json::json!({
        "schemaVersion": 1,
        "name": repo,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": EMPTY_LAYER}, {"blobSum": layer}],
        "history": [{"v1Compatibility": top.to_string()}, {"v1Compatibility": base.to_string()}],
    }))
    .expect("json");
    let key = SchemaKey::from_secret(&[7u8; 32]).expect("key");
    let signed = key.sign(&canonical, "2000-01-01T00:00:00Z");
    (signed.into_bytes(), sha256(canonical.as_bytes()))
}

/// PUT a signed schema1; it must be accepted under its canonical digest.
async fn put_schema1(c: &reqwest::Client, h: &Hoist, repo: &str, tag: &str, body: &[u8]) {
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", S1)
        .body(body.to_vec())
        .send()
        .await
        .expect("put schema1");
    let status = r.status();
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().expect("digest").to_owned());
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 201, "put schema1 {repo}:{tag}: {text}");
    let verified = hoist::oci::schema1::jws::verify(body).expect("verifies");
    assert_eq!(digest, Some(sha256(&verified.canonical)));
}

/// The stored schema1 still goes, as it is, to a client that reads schema1 only.
async fn assert_schema1_served(c: &reqwest::Client, url: &str, signed: &[u8], digest: &str) {
    let r = fetch(c, reqwest::Method::GET, url, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], S1);
    assert_eq!(r.headers()["docker-content-digest"], digest);
    assert_eq!(r.bytes().await.expect("body").as_ref(), signed);
}

/// Push `child` by digest and a list over it tagged `idx`; delete the child; then every
/// client that needs the child gets 404 naming it, and one that reads the list gets it.
async fn list_with_deleted_child(
    h: &Hoist,
    repo: &str,
    list_type: &str,
    child_type: &str,
    child: Vec<u8>,
) {
    let c = client();
    let child_digest = put_manifest(&c, h, repo, &sha256(&child), child_type, &child).await;
    let list = list_over(list_type, child_type, &child);
    put_manifest(&c, h, repo, "idx", list_type, &list).await;
    let url = h.url(&format!("/v2/{repo}/manifests/idx"));
    // Pulled once before the delete (so an answer may be cached).
    let r = fetch(&c, reqwest::Method::GET, &url, &[child_type]).await;
    assert_eq!(r.status(), 200, "{repo}: the child before the delete");
    assert_eq!(r.headers()["docker-content-digest"], child_digest.as_str());

    let r = c
        .delete(h.url(&format!("/v2/{repo}/manifests/{child_digest}")))
        .send()
        .await
        .expect("delete child");
    assert_eq!(r.status(), 202, "delete the child by digest");

    for accept in [vec![OCI], vec![S2], vec![S1], vec![]] {
        let what = format!("{repo}: {list_type} whose child {child_digest} was deleted");
        assert_unknown_naming(&c, &url, &accept, &child_digest, &what).await;
    }
    // A client that reads the list itself still gets it, byte for byte.
    let r = fetch(&c, reqwest::Method::GET, &url, &[list_type]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], list_type);
    assert_eq!(r.bytes().await.expect("body"), list);
    assert_no_5xx_for_any_client(&c, &url, repo).await;
    assert_no_failed_requests(h);
}

#[tokio::test]
async fn an_oci_index_whose_child_was_deleted_is_manifest_unknown_naming_the_child() {
    let h = Hoist::start();
    let c = client();
    let child = image_manifest(&c, &h, "gone/oci", b"amd64 layer", None).await;
    list_with_deleted_child(&h, "gone/oci", INDEX, OCI, child).await;
}

#[tokio::test]
async fn a_docker_list_whose_child_was_deleted_is_manifest_unknown_naming_the_child() {
    let h = Hoist::start();
    let c = client();
    let child = docker_image(&c, &h, "gone/docker", b"amd64 layer").await;
    list_with_deleted_child(&h, "gone/docker", LIST, S2, child).await;
}

#[tokio::test]
async fn a_schema1_whose_layer_is_not_valid_gzip_is_manifest_unknown_naming_the_layer() {
    let h = Hoist::start();
    let c = client();
    let repo = "broken/gzip";
    let mut looks_gzipped = vec![0x1f, 0x8b, 0x08, 0x00];
    looks_gzipped.extend_from_slice(&[0xff; 60]);
    looks_gzipped.extend_from_slice(b"but is not gzip at all");
    let whole = gzip(&[b'x'; 20_000].repeat(4));
    let cut = whole[..whole.len() / 2].to_vec();
    for (tag, layer) in [("magic-only", looks_gzipped), ("cut-in-half", cut)] {
        let layer_digest = push_blob(&c, &h, repo, &layer).await;
        let (signed, digest) = signed_schema1(repo, tag, &layer_digest);
        put_schema1(&c, &h, repo, tag, &signed).await;
        let url = h.url(&format!("/v2/{repo}/manifests/{tag}"));
        let what = format!("schema1 {tag} over layer {layer_digest}");
        assert_unknown_naming(&c, &url, &[DOCKER_26], &layer_digest, &what).await;
        // Again: the failure is remembered, and answered the same way.
        assert_unknown_naming(&c, &url, &[DOCKER_26], &layer_digest, &what).await;
        assert_schema1_served(&c, &url, &signed, &digest).await;
        assert_no_5xx_for_any_client(&c, &url, &what).await;
    }
    assert_no_failed_requests(&h);
}

#[tokio::test]
async fn a_schema1_whose_layer_blob_was_deleted_is_manifest_unknown_naming_the_layer() {
    let h = Hoist::start();
    let c = client();
    let repo = "broken/deleted";
    let layer_digest = push_blob(&c, &h, repo, &gzip(b"a real layer")).await;
    let (signed, digest) = signed_schema1(repo, "s1", &layer_digest);
    put_schema1(&c, &h, repo, "s1", &signed).await;
    let r = c
        .delete(h.url(&format!("/v2/{repo}/blobs/{layer_digest}")))
        .send()
        .await
        .expect("delete blob");
    assert_eq!(r.status(), 202, "delete the layer blob");

    // Nothing has up-converted the manifest yet: it needs the deleted layer.
    let url = h.url(&format!("/v2/{repo}/manifests/s1"));
    let what = format!("schema1 whose layer {layer_digest} was deleted");
    assert_unknown_naming(&c, &url, &[DOCKER_26], &layer_digest, &what).await;
    assert_schema1_served(&c, &url, &signed, &digest).await;
    assert_no_5xx_for_any_client(&c, &url, &what).await;
    assert_no_failed_requests(&h);
}

#[tokio::test]
async fn an_index_nested_eight_deep_is_manifest_unknown_for_clients_that_read_no_lists() {
    let h = Hoist::start();
    let c = client();
    let repo = "deep/nest";
    let mut child = image_manifest(&c, &h, repo, b"the image at the bottom", None).await;
    let mut child_type = OCI;
    put_manifest(&c, &h, repo, &sha256(&child), OCI, &child).await;
    for _ in 0..8 {
        let index = list_over(INDEX, child_type, &child);
        put_manifest(&c, &h, repo, &sha256(&index), INDEX, &index).await;
        child = index;
        child_type = INDEX;
    }
    put_manifest(&c, &h, repo, "deep", INDEX, &child).await;
    let url = h.url(&format!("/v2/{repo}/manifests/deep"));
    for accept in [vec![OCI], vec![S2], vec![S1], vec![]] {
        let r = fetch(&c, reqwest::Method::GET, &url, &accept).await;
        let status = r.status();
        let body = r.text().await.expect("body");
        eprintln!("index 8 deep: GET Accept {accept:?}: {status} {body}");
        assert!(!status.is_server_error(), "{accept:?}: {status} {body}");
        assert_eq!(status, 404, "{accept:?}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("error body is JSON");
        assert_eq!(v["errors"][0]["code"], "MANIFEST_UNKNOWN", "{body}");
        let head = fetch(&c, reqwest::Method::HEAD, &url, &accept).await;
        assert_eq!(head.status(), 404, "{accept:?}: HEAD");
    }
    let r = fetch(&c, reqwest::Method::GET, &url, &[INDEX]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body"), child);
    assert_no_5xx_for_any_client(&c, &url, "index 8 deep").await;
    assert_no_failed_requests(&h);
}
