//! Every client gets a format it can read, and every digest hoist hands out resolves.

use crate::harness::*;
use hoist::oci::schema1::jws;

const S1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SIMPLE_S1_DIGEST: &str =
    "sha256:8401d58922c1920b919b1a3cf33111dc8d80d62602c52c7ca8e16a66d59d80cc";
const EMPTY_LAYER: &str = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

pub fn fixture(path: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    std::fs::read(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Push every blob of a fixture OCI layout into `repo`.
pub async fn push_layout_blobs(c: &reqwest::Client, h: &Hoist, repo: &str, image: &str) {
    let dir = format!(
        "{}/tests/fixtures/layout/{image}/blobs/sha256",
        env!("CARGO_MANIFEST_DIR")
    );
    for entry in std::fs::read_dir(dir).expect("layout") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("blob");
        push_blob(c, h, repo, &bytes).await;
    }
}

/// The Accept profiles of the recorded matrix (docs/FORMATS.md, section 4.4).
fn profiles() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("none", vec![]),
        ("s1", vec![S1]),
        ("s2", vec![S2]),
        ("list", vec![LIST]),
        ("oci", vec![OCI]),
        ("ociindex", vec![INDEX]),
        ("docker1.10-18.09", vec![S1, "application/json", S2, LIST]),
        ("docker19-28", vec![S1, "application/json", S2, LIST, OCI, INDEX]),
        ("containerd", vec!["application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*"]),
        ("containers-image", vec![OCI, S2, S1, "application/vnd.docker.distribution.manifest.v1+json", LIST, INDEX]),
        ("wildcard", vec!["*/*"]),
    ]
}

fn request(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    accept: &[&str],
) -> reqwest::RequestBuilder {
    let mut r = c.request(method, url);
    for line in accept {
        r = r.header(reqwest::header::ACCEPT, *line);
    }
    if accept.is_empty() {
        // reqwest adds `Accept: */*` unless told otherwise; old Docker sends none.
        r = r.header(reqwest::header::ACCEPT, "");
    }
    r
}

/// Push the recorded test images: test/simple as schema2, OCI, signed schema1, a Docker
/// list, an OCI index, a list with an OCI child and an index without mediaType.
async fn push_matrix_images(c: &reqwest::Client, h: &Hoist) {
    let repo = "test/simple";
    push_layout_blobs(c, h, repo, "simple").await;
    push_layout_blobs(c, h, repo, "arm").await;
    let s2 = fixture("pushed/simple.v2s2.manifest.json");
    let oci = fixture("pushed/simple.oci.manifest.json");
    let arm_s2 = fixture("pushed/arm.v2s2.manifest.json");
    let arm_oci = fixture("pushed/arm.oci.manifest.json");
    put_manifest(c, h, repo, "v2s2", S2, &s2).await;
    put_manifest(c, h, repo, "oci", OCI, &oci).await;
    put_manifest(c, h, repo, &sha256(&arm_s2), S2, &arm_s2).await;
    put_manifest(c, h, repo, &sha256(&arm_oci), OCI, &arm_oci).await;
    put_manifest(
        c,
        h,
        repo,
        "list",
        LIST,
        &fixture("pushed/list-simple.json"),
    )
    .await;
    put_manifest(
        c,
        h,
        repo,
        "index",
        INDEX,
        &fixture("pushed/index-simple.json"),
    )
    .await;
    put_manifest(
        c,
        h,
        repo,
        "listmixed",
        LIST,
        &fixture("pushed/list-mixed-oci-amd64.json"),
    )
    .await;
    put_manifest(
        c,
        h,
        repo,
        "index-nomt",
        INDEX,
        &fixture("pushed/index-simple-nomediatype.json"),
    )
    .await;
    let r = c
        .put(h.url("/v2/test/simple/manifests/v2s1"))
        .header("content-type", S1)
        .body(fixture("responses/put/input-signed-s1.json"))
        .send()
        .await
        .expect("put schema1");
    assert_eq!(r.status(), 201);
}

#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    content_type: String,
    length: String,
    digest: String,
}

fn seen(r: &reqwest::Response) -> Seen {
    let header = |n: &str| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    Seen {
        status: r.status().as_u16(),
        content_type: header("content-type"),
        length: header("content-length"),
        digest: header("docker-content-digest"),
    }
}

#[tokio::test]
async fn old_clients_get_distributions_schema1_and_its_digest_resolves() {
    let h = Hoist::start();
    let c = client();
    push_layout_blobs(&c, &h, "test/simple", "simple").await;
    put_manifest(
        &c,
        &h,
        "test/simple",
        "v2s2",
        S2,
        &fixture("pushed/simple.v2s2.manifest.json"),
    )
    .await;

    let url = h.url("/v2/test/simple/manifests/v2s2");
    let r = request(&c, reqwest::Method::GET, &url, &[])
        .send()
        .await
        .expect("get");
    let got = seen(&r);
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, S1);
    assert_eq!(got.digest, SIMPLE_S1_DIGEST);
    let body = r.bytes().await.expect("body");
    let verified = jws::verify(&body).expect("signature verifies");
    assert_eq!(
        verified.canonical,
        fixture("canonical/distribution-converted__test_simple__v2s2.canonical.json")
    );
    let pem =
        std::fs::read_to_string(h.data_dir.join("schema1-signing-key.pem")).expect("key file");
    let key = jws::SchemaKey::from_pem(&pem).expect("key");
    assert_eq!(verified.key_ids, [key.key_id()]);

    let head = request(&c, reqwest::Method::HEAD, &url, &[])
        .send()
        .await
        .expect("head");
    assert_eq!(seen(&head), got);

    // By digest: the same stored bytes, for any client.
    let by_digest = h.url(&format!("/v2/test/simple/manifests/{SIMPLE_S1_DIGEST}"));
    for accept in [vec![], vec![S2]] {
        let r = request(&c, reqwest::Method::GET, &by_digest, &accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["docker-content-digest"], SIMPLE_S1_DIGEST);
        assert_eq!(r.bytes().await.expect("body"), body);
    }
    // The converted manifest names the empty layer; it is there in this repository.
    let r = c
        .head(h.url(&format!("/v2/test/simple/blobs/{EMPTY_LAYER}")))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn every_profile_head_and_get_agree_and_every_advertised_digest_resolves() {
    let h = Hoist::start();
    let c = client();
    push_matrix_images(&c, &h).await;
    let mut advertised = std::collections::BTreeSet::new();
    for tag in [
        "v2s2",
        "oci",
        "v2s1",
        "list",
        "index",
        "listmixed",
        "index-nomt",
    ] {
        for (name, accept) in profiles() {
            let url = h.url(&format!("/v2/test/simple/manifests/{tag}"));
            let get = request(&c, reqwest::Method::GET, &url, &accept)
                .send()
                .await
                .expect("get");
            let got = seen(&get);
            let body = get.bytes().await.expect("body");
            let head = request(&c, reqwest::Method::HEAD, &url, &accept)
                .send()
                .await
                .expect("head");
            assert_eq!(seen(&head), got, "{tag} {name}: HEAD and GET differ");
            if got.status != 200 {
                assert_eq!(got.status, 404, "{tag} {name}");
                continue;
            }
            assert_eq!(got.length, body.len().to_string(), "{tag} {name}");
            let canonical_digest = if got.content_type == S1 {
                sha256(&jws::verify(&body).expect("signed").canonical)
            } else {
                sha256(&body)
            };
            assert_eq!(
                canonical_digest, got.digest,
                "{tag} {name}: digest is not of the served bytes"
            );
            let by_digest = h.url(&format!("/v2/test/simple/manifests/{}", got.digest));
            let again = request(&c, reqwest::Method::GET, &by_digest, &accept)
                .send()
                .await
                .expect("get");
            assert_eq!(
                again.status(),
                200,
                "{tag} {name}: {} does not resolve",
                got.digest
            );
            assert_eq!(again.bytes().await.expect("body"), body, "{tag} {name}");
            advertised.insert(got.digest.clone());
        }
    }
    // Sources plus variants: schema1 for each tag, mappings both ways, the up-conversion.
    assert!(advertised.len() >= 15, "{advertised:?}");
}

#[tokio::test]
async fn variant_digests_survive_tag_moves_and_restarts_and_go_with_their_source() {
    let h = Hoist::start();
    let c = client();
    push_layout_blobs(&c, &h, "test/simple", "simple").await;
    push_layout_blobs(&c, &h, "test/simple", "arm").await;
    let source = put_manifest(
        &c,
        &h,
        "test/simple",
        "v2s2",
        S2,
        &fixture("pushed/simple.v2s2.manifest.json"),
    )
    .await;
    let url = h.url("/v2/test/simple/manifests/v2s2");
    let r = request(&c, reqwest::Method::HEAD, &url, &[OCI])
        .send()
        .await
        .expect("head");
    let oci_variant = r.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned();
    let r = request(&c, reqwest::Method::HEAD, &url, &[])
        .send()
        .await
        .expect("head");
    assert_eq!(r.headers()["docker-content-digest"], SIMPLE_S1_DIGEST);

    // The tag moves to another image.
    put_manifest(
        &c,
        &h,
        "test/simple",
        "v2s2",
        S2,
        &fixture("pushed/arm.v2s2.manifest.json"),
    )
    .await;
    let h = h.restart_after_kill();
    for (digest, accept) in [
        (SIMPLE_S1_DIGEST, vec![]),
        (oci_variant.as_str(), vec![OCI]),
    ] {
        let u = h.url(&format!("/v2/test/simple/manifests/{digest}"));
        let r = request(&c, reqwest::Method::GET, &u, &accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{digest} after tag move and restart");
    }
    let r = c
        .delete(h.url(&format!("/v2/test/simple/manifests/{source}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 202);
    for (digest, accept) in [
        (SIMPLE_S1_DIGEST, vec![]),
        (oci_variant.as_str(), vec![OCI]),
    ] {
        let u = h.url(&format!("/v2/test/simple/manifests/{digest}"));
        let r = request(&c, reqwest::Method::GET, &u, &accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{digest} outlived its source");
    }
}

#[tokio::test]
async fn configs_that_cannot_pair_history_with_layers_are_refused() {
    let h = Hoist::start();
    let c = client();
    for image in ["nohist", "toomanyhist", "fewhist"] {
        let repo = format!("test/{image}");
        push_layout_blobs(&c, &h, &repo, image).await;
        let body = fixture(&format!("pushed/{image}.v2s2.manifest.json"));
        put_manifest(&c, &h, &repo, "v2s2", S2, &body).await;
        let url = h.url(&format!("/v2/{repo}/manifests/v2s2"));
        let r = request(&c, reqwest::Method::GET, &url, &[])
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 400, "{image}");
        let err: serde_json::Value = r.json().await.expect("json");
        assert_eq!(err["errors"][0]["code"], "MANIFEST_INVALID", "{image}");
        let message = err["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("history"), "{image}: {message}");
        // Clients that read schema2 still get it.
        let r = request(&c, reqwest::Method::GET, &url, &[S2])
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn signed_schema1_push_is_verified_and_addressed_by_its_canonical_digest() {
    let h = Hoist::start();
    let c = client();
    push_layout_blobs(&c, &h, "test/simple", "simple").await;
    let signed = fixture("responses/put/input-signed-s1.json");
    let put = |reference: String, body: Vec<u8>| {
        c.put(h.url(&format!("/v2/test/simple/manifests/{reference}")))
            .header("content-type", S1)
            .body(body)
            .send()
    };
    let r = put(sha256(&signed), signed.clone()).await.expect("put");
    assert_eq!(
        error_code(r).await,
        "DIGEST_INVALID",
        "the signed body's digest is not the manifest's"
    );
    let r = put(SIMPLE_S1_DIGEST.into(), signed.clone())
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], SIMPLE_S1_DIGEST);
    let r = put("s1".into(), fixture("responses/put/input-unsigned-s1.json"))
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put("s1".into(), fixture("responses/put/input-tampered-s1.json"))
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "MANIFEST_UNVERIFIED");
    // Stored byte for byte; old clients get it as is, new ones its schema2.
    let u = h.url(&format!("/v2/test/simple/manifests/{SIMPLE_S1_DIGEST}"));
    let r = request(&c, reqwest::Method::GET, &u, &[])
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("body"), signed);
}

#[tokio::test]
async fn empty_layer_is_served_in_every_repository() {
    let h = Hoist::start();
    let c = client();
    for repo in ["a", "never/pushed/to"] {
        let url = h.url(&format!("/v2/{repo}/blobs/{EMPTY_LAYER}"));
        let r = c.head(&url).send().await.expect("head");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-length"], "32");
        let body = c
            .get(&url)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        assert_eq!(sha256(&body), EMPTY_LAYER);
    }
}

#[tokio::test]
async fn the_default_platform_is_configurable() {
    let h = Hoist::start_with(&["--default-platform", "linux/arm64/v8"]);
    let c = client();
    push_layout_blobs(&c, &h, "test/simple", "simple").await;
    push_layout_blobs(&c, &h, "test/simple", "arm").await;
    let arm = fixture("pushed/arm.v2s2.manifest.json");
    let arm_digest = put_manifest(&c, &h, "test/simple", &sha256(&arm), S2, &arm).await;
    let amd = fixture("pushed/simple.v2s2.manifest.json");
    put_manifest(&c, &h, "test/simple", &sha256(&amd), S2, &amd).await;
    put_manifest(
        &c,
        &h,
        "test/simple",
        "list",
        LIST,
        &fixture("pushed/list-simple.json"),
    )
    .await;
    let url = h.url("/v2/test/simple/manifests/list");
    let r = request(&c, reqwest::Method::GET, &url, &[S2])
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["docker-content-digest"], arm_digest.as_str());
}
