//! Tag lists, the catalog and the referrers API.

use crate::harness::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Follow `Link` headers from `first` to the end; returns every item and the page count.
async fn walk_pages(
    c: &reqwest::Client,
    h: &Hoist,
    first: &str,
    key: &str,
) -> (Vec<String>, usize) {
    let mut url = h.url(first);
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let r = c.get(&url).send().await.expect("page");
        assert_eq!(r.status(), 200);
        let next = r
            .headers()
            .get("link")
            .map(|l| l.to_str().expect("link").to_owned());
        let body: serde_json::Value = r.json().await.expect("json");
        for v in body[key].as_array().expect("array") {
            items.push(v.as_str().expect("string").to_owned());
        }
        pages += 1;
        match next {
            Some(link) => {
                let target = link
                    .strip_prefix('<')
                    .and_then(|l| l.split_once('>'))
                    .expect("link target")
                    .0;
                assert!(link.ends_with("rel=\"next\""), "{link}");
                url = h.url(target);
            }
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn tags_list_paginates_over_250_tags() {
    let h = Hoist::start();
    let c = client();
    let body = image_manifest(&c, &h, "many", b"layer", None).await;
    let mut expected: Vec<String> = (0..260).map(|i| format!("t{i:03}")).collect();
    for tag in &expected {
        put_manifest(&c, &h, "many", tag, OCI_MANIFEST, &body).await;
    }
    expected.sort();
    let (all, pages) = walk_pages(&c, &h, "/v2/many/tags/list?n=100", "tags").await;
    assert_eq!(all, expected);
    assert_eq!(pages, 3);
    let (all, pages) = walk_pages(&c, &h, "/v2/many/tags/list", "tags").await;
    assert_eq!(all, expected);
    assert_eq!(pages, 1);
    let r: serde_json::Value = c
        .get(h.url("/v2/many/tags/list?n=2&last=t100"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(r["tags"], serde_json::json!(["t101", "t102"]));
    let r: serde_json::Value = c
        .get(h.url("/v2/many/tags/list?n=0"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(r["tags"], serde_json::json!([]));
}

#[tokio::test]
async fn catalog_paginates_over_250_repositories() {
    let h = Hoist::start();
    let c = client();
    let mut expected = Vec::new();
    for i in 0..255 {
        let repo = format!("org{}/repo-{i:03}", i % 3);
        push_blob(&c, &h, &repo, b"x").await;
        expected.push(repo);
    }
    expected.sort();
    let (all, pages) = walk_pages(&c, &h, "/v2/_catalog?n=50", "repositories").await;
    assert_eq!(all, expected);
    assert_eq!(pages, 6);
    let r = c
        .get(h.url("/v2/_catalog?n=many"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "PAGINATION_NUMBER_INVALID");
}

#[tokio::test]
async fn referrers_lists_artifacts_and_filters_by_type() {
    let h = Hoist::start();
    let c = client();
    let subject = image_manifest(&c, &h, "app", b"app layer", None).await;
    let subject_digest = put_manifest(&c, &h, "app", "v1", OCI_MANIFEST, &subject).await;
    let url = h.url(&format!("/v2/app/referrers/{subject_digest}"));

    let r = c.get(&url).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index: serde_json::Value = r.json().await.expect("json");
    assert_eq!(index["manifests"], serde_json::json!([]));

    let subject_desc = serde_json::json!({
        "mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject.len()
    });
    let mut pushed = Vec::new();
    for (kind, content) in [
        ("application/vnd.example.sbom", &b"sbom"[..]),
        ("application/vnd.example.sig", &b"sig"[..]),
    ] {
        let extra = serde_json::json!({
            "artifactType": kind,
            "subject": subject_desc,
            "annotations": {"org.example.kind": kind},
        });
        let body = image_manifest(&c, &h, "app", content, Some(extra)).await;
        let digest = sha256(&body);
        let r = c
            .put(h.url(&format!("/v2/app/manifests/{digest}")))
            .header("content-type", OCI_MANIFEST)
            .body(body)
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject_digest.as_str());
        pushed.push((kind, digest));
    }

    let index: serde_json::Value = c
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 2);
    for (kind, digest) in &pushed {
        let entry = listed
            .iter()
            .find(|m| m["digest"] == digest.as_str())
            .expect("listed");
        assert_eq!(entry["artifactType"], *kind);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["annotations"]["org.example.kind"], *kind);
    }

    let r = c
        .get(format!("{url}?artifactType=application/vnd.example.sig"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: serde_json::Value = r.json().await.expect("json");
    let listed = index["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["digest"], pushed[1].1.as_str());

    // Deleting a referrer removes it from the index.
    let r = c
        .delete(h.url(&format!("/v2/app/manifests/{}", pushed[0].1)))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 202);
    let index: serde_json::Value = c
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(index["manifests"].as_array().expect("manifests").len(), 1);
}
