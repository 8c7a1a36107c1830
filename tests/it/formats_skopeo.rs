//! Format conversions checked against a real client: skopeo (containers/image).

use crate::formats::fixture;
use crate::harness::*;
use std::path::Path;
use std::process::Command;

const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

fn skopeo(args: &[&str]) -> String {
    assert!(
        have("skopeo"),
        "skopeo is not installed (bash tests/run.sh installs it)"
    );
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A writable copy of a fixture OCI layout.
fn layout(image: &str, into: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/layout")
        .join(image);
    let dst = into.join(image);
    copy_dir(&src, &dst);
    format!("oci:{}:latest", dst.display())
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read dir") {
        let entry = entry.expect("entry");
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
        }
    }
}

async fn head_digest(c: &reqwest::Client, url: &str, accept: Option<&str>) -> String {
    let r = c
        .head(url)
        .header("accept", accept.unwrap_or(""))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200, "{url} {accept:?}");
    r.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned()
}

#[tokio::test]
async fn schema1_pushed_by_skopeo_is_schema1_for_old_clients_and_schema2_for_skopeo() {
    let h = Hoist::start();
    let c = client();
    let tmp = tempfile::tempdir().expect("tmp");
    let src = layout("simple", tmp.path());
    let dest = format!("docker://{}/test/simple:v2s1", h.addr);
    skopeo(&[
        "copy",
        "--format",
        "v2s1",
        "--dest-tls-verify=false",
        &src,
        &dest,
    ]);

    let tag_url = h.url("/v2/test/simple/manifests/v2s1");
    // Old Docker (no Accept): the schema1 as pushed; its digest is skopeo's canonical one.
    let s1 = head_digest(&c, &tag_url, None).await;
    assert_eq!(
        s1,
        sha256(&fixture(
            "canonical/skopeo-v2s1-push__test_simple__v2s1.canonical.json"
        ))
    );
    // skopeo itself reads schema2, so it gets the up-converted form.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/test/simple:v2s1", h.addr),
    ]);
    let up: serde_json::Value = serde_json::from_str(&raw).expect("json");
    assert_eq!(up["mediaType"], S2);
    let up_digest = sha256(raw.as_bytes());
    assert_eq!(head_digest(&c, &tag_url, Some(S2)).await, up_digest);

    // Parity: skopeo converting the same schema1 (fetched by digest, never converted) itself.
    let own = tmp.path().join("skopeo-converted");
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        &format!("docker://{}/test/simple@{s1}", h.addr),
        &format!("dir:{}", own.display()),
    ]);
    let converted = std::fs::read(own.join("manifest.json")).expect("manifest");
    assert_eq!(
        sha256(&converted),
        up_digest,
        "hoist's up-conversion differs from skopeo's"
    );

    // Every variant digest copies and verifies.
    let oci = head_digest(&c, &tag_url, Some(OCI)).await;
    for (i, digest) in [&s1, &up_digest, &oci].into_iter().enumerate() {
        let out = tmp.path().join(format!("by-digest-{i}"));
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/test/simple@{digest}", h.addr),
            &format!("dir:{}", out.display()),
        ]);
        assert!(out.join("manifest.json").is_file(), "{digest}");
    }
}
