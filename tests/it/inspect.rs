//! `hoist inspect` and `GET /api/v1/repositories/<name>/tags/<tag>` list every form of a tag.

use crate::formats::{fixture, push_layout_blobs};
use crate::harness::*;

const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const S1_DIGEST: &str = "sha256:8401d58922c1920b919b1a3cf33111dc8d80d62602c52c7ca8e16a66d59d80cc";

#[tokio::test]
async fn inspect_lists_source_variants_and_children() {
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
    let arm = fixture("pushed/arm.v2s2.manifest.json");
    put_manifest(&c, &h, "test/simple", &sha256(&arm), S2, &arm).await;
    let list = put_manifest(
        &c,
        &h,
        "test/simple",
        "list",
        LIST,
        &fixture("pushed/list-simple.json"),
    )
    .await;
    let url = h.url("/v2/test/simple/manifests/v2s2");
    for accept in ["", OCI] {
        let r = c
            .get(&url)
            .header("accept", accept)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
    }
    let oci_variant = c
        .head(&url)
        .header("accept", OCI)
        .send()
        .await
        .expect("head")
        .headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned();

    let answer: serde_json::Value = c
        .get(h.url("/api/v1/repositories/test/simple/tags/v2s2"))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let variants = answer["variants"].as_array().expect("variants");
    let find = |digest: &str| {
        variants
            .iter()
            .find(|v| v["digest"] == digest)
            .unwrap_or_else(|| panic!("{digest} not in {variants:?}"))
            .clone()
    };
    let src = find(&source);
    assert_eq!(src["kind"], "source");
    assert_eq!(src["media_type"], S2);
    let s1 = find(S1_DIGEST);
    assert_eq!(s1["kind"], "schema1:v2s2");
    assert_eq!(s1["source"], source.as_str());
    assert_eq!(s1["transform"], "schema2-to-schema1");
    assert_eq!(s1["transform_version"], 1);
    let oci = find(&oci_variant);
    assert_eq!(oci["kind"], "map:oci");
    assert_eq!(oci["media_type"], OCI);
    assert_eq!(oci["transform"], "map-family");

    // A list shows its children.
    let answer: serde_json::Value = c
        .get(h.url("/api/v1/repositories/test/simple/tags/list"))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = answer["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| v["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "child").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(answer["variants"][0]["digest"], list.as_str());

    let r = c
        .get(h.url("/api/v1/repositories/test/simple/tags/nope"))
        .send()
        .await
        .expect("api");
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    // The CLI prints the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["inspect", "test/simple:v2s2", "--registry", &h.url("")])
        .output()
        .expect("run inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    for needle in [
        source.as_str(),
        S1_DIGEST,
        oci_variant.as_str(),
        "schema2-to-schema1 v1",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
}
