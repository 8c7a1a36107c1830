//! The console's repository pages, end to end: images pushed through `/v2`, then the pages
//! read over HTTP like a browser would (cookies kept by hand, forms with their CSRF token).
//! What a page claims is checked against the registry itself: every digest a tag page lists
//! is pulled by digest and hashed, and every row of its Accept table is pulled with that
//! row's Accept header.

use crate::access::{basic, start_auth, ADMIN_PW};
use crate::console_session::{csrf, Browser};
use crate::formats::{fixture, push_layout_blobs};
use crate::harness::*;
use hoist::oci::schema1::jws;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
const XSS: &str = "<script>alert(1)</script>";

/// `text` is on the page escaped (as askama writes it, or as entities by name), and nowhere
/// as markup.
fn shows_as_text(html: &str, text: &str) -> bool {
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;");
    let named = text.replace('<', "&lt;").replace('>', "&gt;");
    !html.contains(text) && (html.contains(&numeric) || html.contains(&named))
}

/// Undo the template's escaping of an attribute value.
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
}

/// The attributes of every `<tr …>` of a page that has attribute `marker`.
fn rows_with(html: &str, marker: &str) -> Vec<BTreeMap<String, String>> {
    html.split("<tr")
        .skip(1)
        .filter_map(|rest| {
            let tag = rest.split('>').next()?;
            let mut attrs = BTreeMap::new();
            for part in tag.split("\" ") {
                if let Some((k, v)) = part.trim().split_once("=\"") {
                    attrs.insert(k.to_owned(), unescape(v.trim_end_matches('"')));
                }
            }
            attrs.contains_key(marker).then_some(attrs)
        })
        .collect()
}

/// The part of a page inside `<div id="results">`.
fn results(html: &str) -> &str {
    let start = html.find("<div id=\"results\">").expect("results");
    &html[start..]
}

/// Repository names linked from a list page's results, in order.
fn listed(html: &str) -> Vec<String> {
    results(html)
        .split("<td><a href=\"/repositories/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Tags linked from a repository page, in order.
fn tags_listed(html: &str, repo: &str) -> Vec<String> {
    let prefix = format!("<td><a href=\"/repositories/{repo}/-/tags/");
    html.split(prefix.as_str())
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The digest of a manifest as served: of the canonical payload for signed schema 1.
fn manifest_digest(content_type: &str, body: &[u8]) -> String {
    if content_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        sha256(&jws::verify(body).expect("signed schema 1").canonical)
    } else {
        sha256(body)
    }
}

/// Push a config and layers (each `bytes` long, filled with its index) and an OCI image
/// manifest tagged `tag`; returns the manifest's digest.
async fn push_custom(
    c: &reqwest::Client,
    h: &Hoist,
    repo: &str,
    tag: &str,
    config: &serde_json::Value,
    layer_sizes: &[usize],
    annotations: Option<serde_json::Value>,
) -> String {
    let config = serde_json::to_vec(config).expect("config");
    let config_digest = push_blob(c, h, repo, &config).await;
    let mut layers = Vec::new();
    for (i, size) in layer_sizes.iter().enumerate() {
        let bytes = vec![i as u8 + 1; *size];
        let digest = push_blob(c, h, repo, &bytes).await;
        layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}));
    }
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layers,
    });
    if let Some(a) = annotations {
        m["annotations"] = a;
    }
    put_manifest(c, h, repo, tag, OCI, &serde_json::to_vec(&m).expect("json")).await
}

/// The recorded multi-arch test image: a Docker list of linux/arm64/v8 and linux/amd64.
async fn push_list(c: &reqwest::Client, h: &Hoist, repo: &str, tag: &str) -> String {
    push_layout_blobs(c, h, repo, "simple").await;
    push_layout_blobs(c, h, repo, "arm").await;
    let amd = fixture("pushed/simple.v2s2.manifest.json");
    let arm = fixture("pushed/arm.v2s2.manifest.json");
    put_manifest(c, h, repo, &sha256(&amd), S2, &amd).await;
    put_manifest(c, h, repo, &sha256(&arm), S2, &arm).await;
    put_manifest(c, h, repo, tag, LIST, &fixture("pushed/list-simple.json")).await
}

#[tokio::test]
async fn the_list_searches_sorts_and_pages_and_says_how_to_push_when_empty() {
    let h = Hoist::start();
    let b = Browser::new(&h);
    let empty = b.page("/repositories").await;
    assert!(empty.contains("No repositories yet"), "{empty}");
    assert!(
        empty.contains(&format!("docker push {}/team/app:1", h.addr)),
        "{empty}"
    );

    // 120 repositories with 1 to 5 tags each.
    let c = client();
    let mut expected: Vec<(String, usize)> = Vec::new();
    for i in 0..120 {
        let repo = format!("team/app-{i:03}");
        let tags = i * 7 % 5 + 1;
        let body = image_manifest(&c, &h, &repo, format!("layer {i}").as_bytes(), None).await;
        for t in 0..tags {
            put_manifest(&c, &h, &repo, &format!("v{t}"), OCI, &body).await;
        }
        expected.push((repo, tags));
    }

    let first = b.page("/repositories").await;
    assert!(
        first.contains("Showing 1–50 of 120 repositories"),
        "{first}"
    );
    let names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(listed(&first), names[..50]);
    assert!(first.contains("aria-label=\"Page 3\""), "{first}");
    assert!(first.contains("aria-label=\"Next page\""), "{first}");
    assert!(first.contains("id=\"results\""));

    // Page 3 of most tags first: ties by name.
    let mut by_tags = expected.clone();
    by_tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let want: Vec<String> = by_tags[100..].iter().map(|(n, _)| n.clone()).collect();
    let page3 = b.page("/repositories?sort=tags&order=desc&page=3").await;
    assert_eq!(listed(&page3), want);
    assert!(
        page3.contains("Showing 101–120 of 120 repositories"),
        "{page3}"
    );
    assert!(
        page3.contains("aria-label=\"Page 3, this page\""),
        "{page3}"
    );
    assert!(page3.contains("aria-sort=\"descending\""), "{page3}");
    let page2 = b.page("/repositories?sort=name&order=desc&page=2").await;
    assert!(page2.contains("Showing 51–100 of 120 repositories"));
    assert_eq!(listed(&page2)[0], "team/app-069");

    // Search: a substring of the name, any case; the page after the last shows the last.
    let found = b.page("/repositories?q=APP-01").await;
    assert_eq!(listed(&found).len(), 10);
    assert!(found.contains("Showing 1–10 of 10 repositories"), "{found}");
    assert!(listed(&found).iter().all(|n| n.contains("app-01")));
    let none = b
        .page("/repositories?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert!(none.contains("No repository name contains"), "{none}");
    assert!(shows_as_text(&none, XSS) && !none.contains(XSS), "{none}");
    let past = b.page("/repositories?page=99").await;
    assert!(past.contains("Showing 101–120 of 120"), "{past}");
    let junk = b.page("/repositories?sort=%22&order=x&page=-1").await;
    assert_eq!(listed(&junk), names[..50]);
}

#[tokio::test]
async fn a_repository_lists_its_tags_in_pages_of_100_with_a_filter() {
    let h = Hoist::start();
    let c = client();
    let b = Browser::new(&h);
    let repo = "big/app";
    let body = image_manifest(&c, &h, repo, b"content", None).await;
    let digest = sha256(&body);
    // 1,000 tags, pushed 16 at a time.
    let tags: Vec<String> = (0..1000).map(|i| format!("t{i:04}")).collect();
    for chunk in tags.chunks(16) {
        let pushes = chunk
            .iter()
            .map(|t| put_manifest(&c, &h, repo, t, OCI, &body));
        futures_util::future::join_all(pushes).await;
    }
    push_list(&c, &h, repo, "multi").await;

    let started = Instant::now();
    let first = b.page("/repositories/big/app").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "a page of 1,000 tags took {took:?}"
    );
    assert!(first.contains("Showing 1–100 of 1,001 tags"), "{first}");
    // In tag order: "multi" sorts before "t…".
    let mut want = vec!["multi".to_owned()];
    want.extend_from_slice(&tags[..99]);
    assert_eq!(tags_listed(&first, repo), want);
    assert!(first.contains(&format!("docker pull {}/big/app", h.addr)));
    assert!(first.contains("data-copy=\"docker pull"), "copy button");
    assert!(first.contains("data-filter=\"tag-rows\""));
    assert!(first.contains(&format!("/repositories/big/app/-/manifests/{digest}")));
    assert!(first.contains(&digest[..19]), "short digest");

    let last = b.page("/repositories/big/app?page=11").await;
    let listed = tags_listed(&last, repo);
    assert_eq!(listed.len(), 1, "1,001 tags: the 11th page holds one");
    assert_eq!(listed, ["t0999"]);
    let filtered = b.page("/repositories/big/app?q=t09").await;
    assert!(filtered.contains("Showing 1–100 of 100 tags"), "{filtered}");
    let multi = b.page("/repositories/big/app?q=multi").await;
    assert_eq!(tags_listed(&multi, repo), ["multi"]);
    assert!(multi.contains("linux/arm64/v8, linux/amd64"), "{multi}");
    assert!(multi.contains("Docker manifest list"), "{multi}");

    // Unknown names say which.
    let p = b.get("/repositories/no/such").await;
    assert_eq!(p.status, 404);
    assert!(
        p.body.contains("There is no repository no/such."),
        "{}",
        p.body
    );
    let p = b.get("/repositories/big/app/-/tags/nope").await;
    assert_eq!(p.status, 404);
    assert!(p.body.contains("The repository big/app has no tag nope."));
    let zero = format!("sha256:{}", "0".repeat(64));
    let p = b
        .get(&format!("/repositories/big/app/-/manifests/{zero}"))
        .await;
    assert_eq!(p.status, 404);
    assert!(p.body.contains(&format!("has no manifest {zero}")));
    let p = b.get("/repositories/big/app/-/manifests/sha256:xyz").await;
    assert_eq!(p.status, 404);
}

#[tokio::test]
async fn a_tag_page_lists_every_digest_and_its_accept_table_matches_what_pulls_get() {
    let h = Hoist::start();
    let c = client();
    let b = Browser::new(&h);
    let repo = "test/simple";
    let list = push_list(&c, &h, repo, "multi").await;
    let path = "/repositories/test/simple/-/tags/multi";

    let html = b.page(path).await;
    assert!(html.contains(&format!("docker pull {}/test/simple:multi", h.addr)));
    assert!(html.contains(&format!("podman pull {}/test/simple:multi", h.addr)));
    let before = rows_with(&html, "data-accept");
    assert_eq!(before.len(), 8, "{html}");

    // Each row, pulled with its own Accept header; rows naming a digest already agree.
    let pull = |accept: String| {
        let c = c.clone();
        let url = h.url("/v2/test/simple/manifests/multi");
        async move {
            let r = c
                .get(url)
                .header("accept", accept)
                .send()
                .await
                .expect("pull");
            let status = r.status().as_u16();
            let digest = r
                .headers()
                .get("docker-content-digest")
                .map(|v| v.to_str().expect("ascii").to_owned())
                .unwrap_or_default();
            (status, digest)
        }
    };
    let mut got = Vec::new();
    for row in &before {
        let (status, digest) = pull(row["data-accept"].clone()).await;
        if !row["data-digest"].is_empty() {
            assert_eq!(status, 200, "{row:?}");
            assert_eq!(digest, row["data-digest"], "{row:?}");
        }
        got.push((status, digest));
    }
    // Now every form exists: the table names each one, and it is what the pull got.
    let html = b.page(path).await;
    let after = rows_with(&html, "data-accept");
    for (row, (status, digest)) in after.iter().zip(&got) {
        assert_eq!(*status, 200, "{row:?}");
        assert_eq!(&row["data-digest"], digest, "{row:?}");
    }
    let by_client: BTreeMap<&str, &str> = after
        .iter()
        .map(|r| (r["data-accept"].as_str(), r["data-digest"].as_str()))
        .collect();
    assert_eq!(by_client[""], got[0].1, "old Docker");
    assert_ne!(
        by_client[""], list,
        "old Docker gets schema 1, not the list"
    );
    assert_eq!(got[2].1, list, "Docker 19+ gets the stored list");
    assert_eq!(got[3].1, list, "containerd gets the stored list");
    assert_eq!(got[4].1, list, "podman gets the stored list");
    assert_ne!(got[5].1, list, "an OCI-only client gets the OCI form");

    // Every digest the page lists pulls by digest, and its bytes hash to it.
    let forms: Vec<String> = rows_with(&html, "data-digest")
        .into_iter()
        .filter(|r| !r.contains_key("data-accept"))
        .map(|r| r["data-digest"].clone())
        .collect();
    assert!(
        forms.len() >= 6,
        "list, 2 children, schema 1, OCI forms: {forms:?}"
    );
    assert_eq!(forms[0], list);
    for (_, digest) in &got {
        assert!(forms.contains(digest), "{digest} served but not listed");
    }
    for digest in &forms {
        let r = c
            .get(h.url(&format!("/v2/test/simple/manifests/{digest}")))
            .header("accept", "*/*")
            .send()
            .await
            .expect("pull by digest");
        assert_eq!(r.status(), 200, "{digest}");
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body = r.bytes().await.expect("body");
        assert_eq!(&manifest_digest(&ct, &body), digest);
        assert!(html.contains(&format!("docker pull {}/test/simple@{digest}", h.addr)));
        assert!(html.contains(&format!("podman pull {}/test/simple@{digest}", h.addr)));
    }
    assert!(html.contains("List entry for linux/arm64/v8"), "{html}");
    assert!(html.contains("Signed schema 1"), "{html}");
}

#[tokio::test]
async fn pull_commands_use_the_public_url_host() {
    let h = Hoist::start_with(&["--public-url", "https://registry.example.com:5443"]);
    let c = client();
    push_image(&c, &h, "team/app", "1").await;
    let b = Browser::new(&h);
    let html = b.page("/repositories/team/app/-/tags/1").await;
    assert!(
        html.contains("docker pull registry.example.com:5443/team/app:1"),
        "{html}"
    );
    let html = b.page("/repositories/team/app").await;
    assert!(html.contains("docker pull registry.example.com:5443/team/app"));
}

#[tokio::test]
async fn deleting_goes_through_a_confirmation_and_the_history_keeps_it() {
    let h = Hoist::start();
    let c = client();
    let b = Browser::new(&h);
    let repo = "team/app";
    let one = push_custom(&c, &h, repo, "t", &json!({"os": "linux"}), &[10], None).await;
    let two = push_custom(
        &c,
        &h,
        repo,
        "t",
        &json!({"os": "linux", "n": 2}),
        &[20],
        None,
    )
    .await;
    put_manifest(&c, &h, repo, "other", OCI, &{
        let r = c
            .get(h.url(&format!("/v2/{repo}/manifests/{two}")))
            .header("accept", OCI)
            .send()
            .await
            .expect("get");
        r.bytes().await.expect("body").to_vec()
    })
    .await;
    let tag_page = b.page("/repositories/team/app/-/tags/t").await;
    assert!(tag_page.contains("/repositories/team/app/-/tags/t/delete"));

    // Confirm, refuse without the token, then delete.
    let confirm = b.page("/repositories/team/app/-/tags/t/delete").await;
    assert!(
        confirm.contains("Delete the tag t of team/app?"),
        "{confirm}"
    );
    assert!(confirm.contains("Only the tag goes"), "{confirm}");
    assert!(confirm.contains("Other tags on the same manifest stay: other"));
    let token = csrf(&confirm);
    let p = b.post("/repositories/team/app/-/tags/t/delete", &[]).await;
    assert_eq!(p.status, 403, "no csrf");
    let p = b
        .post(
            "/repositories/team/app/-/tags/t/delete",
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(p.status, 403, "a wrong csrf");
    let p = b
        .post(
            "/repositories/team/app/-/tags/t/delete",
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location, "/repositories/team/app");
    let back = b.page("/repositories/team/app").await;
    assert!(back.contains("Deleted the tag t of team/app."), "{back}");
    let tags: serde_json::Value = c
        .get(h.url("/v2/team/app/tags/list"))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert_eq!(tags["tags"], json!(["other"]));
    let r = c
        .get(h.url(&format!("/v2/team/app/manifests/{two}")))
        .header("accept", OCI)
        .send()
        .await
        .expect("by digest");
    assert_eq!(r.status(), 200, "the manifest stays");

    // A deleted tag's page: 404, with its history.
    let gone = b.get("/repositories/team/app/-/tags/t").await;
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("has no tag t now"), "{}", gone.body);
    assert!(gone.body.contains("deleted"), "{}", gone.body);
    let p = b.get("/repositories/team/app/-/tags/t/delete").await;
    assert_eq!(p.status, 404, "nothing to delete");

    // Re-tagged: the history, newest first.
    let three = push_custom(
        &c,
        &h,
        repo,
        "t",
        &json!({"os": "linux", "n": 3}),
        &[30],
        None,
    )
    .await;
    let page = b.page("/repositories/team/app/-/tags/t").await;
    let history = &page[page.find("id=\"history-title\"").expect("history")..];
    let at = |needle: &str| {
        history
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {history}"))
    };
    let short = |d: &str| d[..19].to_owned();
    assert!(at(&short(&three)) < at("the tag was deleted"));
    assert!(at("the tag was deleted") < at(&short(&two)));
    assert!(at(&short(&two)) < at(&short(&one)));
    assert!(history.contains("current"));

    // Deleting a manifest says which tags go with it.
    let confirm = b
        .page(&format!("/repositories/team/app/-/manifests/{two}/delete"))
        .await;
    assert!(
        confirm.contains("The tag pointing at it goes too: other."),
        "{confirm}"
    );
    let p = b
        .post(
            &format!("/repositories/team/app/-/manifests/{two}/delete"),
            &[],
        )
        .await;
    assert_eq!(p.status, 403);
    let p = b
        .post(
            &format!("/repositories/team/app/-/manifests/{two}/delete"),
            &[("csrf", &csrf(&confirm))],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/repositories/team/app")
    );
    let r = c
        .get(h.url(&format!("/v2/team/app/manifests/{two}")))
        .header("accept", OCI)
        .send()
        .await
        .expect("by digest");
    assert_eq!(r.status(), 404, "the manifest went");
    let page = b.page("/repositories/team/app/-/tags/t").await;
    assert!(page.contains("(manifest deleted since)"), "{page}");
    let p = b
        .get(&format!("/repositories/team/app/-/manifests/{two}"))
        .await;
    assert_eq!(p.status, 404);
}

#[tokio::test]
async fn a_manifest_page_shows_layers_config_platforms_and_referrers_and_escapes_everything() {
    let h = Hoist::start();
    let c = client();
    let b = Browser::new(&h);
    let repo = "team/app";
    let hostile = format!("{XSS} \"quoted\" 'single' {{{{7*7}}}}");
    let config = json!({
        "created": "2026-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/entry", "--flag"],
            "Cmd": ["serve"],
            "Env": ["PATH=/usr/bin", format!("EVIL={hostile}"), format!("LONG={}", "x".repeat(20_000))],
            "Labels": {"org.example.evil": hostile, "org.example.team": "platform"},
            "WorkingDir": "/srv",
        },
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [
            {"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
            {"created_by": format!("/bin/sh -c #(nop)  LABEL evil={hostile}"), "empty_layer": true},
            {"created_by": format!("RUN echo {hostile}")},
        ],
    });
    let image = push_custom(
        &c,
        &h,
        repo,
        "1",
        &config,
        &[3000, 1000],
        Some(json!({"org.opencontainers.image.title": hostile})),
    )
    .await;
    // A signature referring to it.
    let empty = push_blob(&c, &h, repo, b"{}").await;
    let sig = json!({
        "schemaVersion": 2,
        "mediaType": OCI,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "subject": {"mediaType": OCI, "digest": image, "size": 1},
        "annotations": {"org.example.signer": hostile},
    });
    let sig_body = serde_json::to_vec(&sig).expect("json");
    let sig_digest = sha256(&sig_body);
    put_manifest(&c, &h, repo, &sig_digest, OCI, &sig_body).await;

    let html = b
        .page(&format!("/repositories/team/app/-/manifests/{image}"))
        .await;
    // Nothing pushed reaches the page as markup.
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        !html.contains("\"quoted\""),
        "raw double quotes from the config"
    );
    assert!(
        !html.contains("'single'"),
        "raw single quotes from the config"
    );
    assert!(shows_as_text(&html, XSS), "{html}");
    assert!(html.contains("{{7*7}}"), "{html}");
    // Facts, layers, config, history, referrers.
    assert!(html.contains("OCI image"));
    assert!(html.contains("class=\"bar\""), "the layer bar");
    assert_eq!(html.matches("<rect class=\"s").count(), 2, "two layers");
    assert!(
        html.contains("2.93 KiB") && html.contains("1000 B"),
        "{html}"
    );
    assert!(html.contains("75.0 %"), "{html}");
    assert!(html.contains("linux/amd64"));
    assert!(
        html.contains("[&#34;/bin/entry&#34;,&#34;--flag&#34;]")
            || html.contains("[&quot;/bin/entry"),
        "{html}"
    );
    assert!(html.contains("org.example.team") && html.contains("platform"));
    assert!(html.contains("PATH=/usr/bin"));
    assert!(
        html.contains("(19,"),
        "a 20,000-character value is cut: {}",
        html.len()
    );
    assert!(html.len() < 200_000, "{}", html.len());
    assert!(html.contains("empty layer"));
    assert!(html.contains("ADD file:abc in /"));
    assert!(html.contains("application/vnd.example.signature"));
    assert!(html.contains(&format!("/repositories/team/app/-/manifests/{sig_digest}")));
    assert!(html.contains("<details class=\"repo-raw\">"));
    assert!(html.contains("Tags</dt><dd><a href=\"/repositories/team/app/-/tags/1\">1</a>"));
    let confirm = b
        .page(&format!(
            "/repositories/team/app/-/manifests/{image}/delete"
        ))
        .await;
    assert!(
        confirm.contains("1 signature or other artifact referring to it stay"),
        "{confirm}"
    );
    // The signature's own page names its subject.
    let sig_page = b
        .page(&format!("/repositories/team/app/-/manifests/{sig_digest}"))
        .await;
    assert!(sig_page.contains(&format!("/repositories/team/app/-/manifests/{image}")));
    assert!(!sig_page.contains("<script>alert"));

    // A list: its platforms, each linking to a page that opens.
    let list = push_list(&c, &h, repo, "multi").await;
    let html = b
        .page(&format!("/repositories/team/app/-/manifests/{list}"))
        .await;
    assert!(html.contains("Platforms"), "{html}");
    for (platform, child) in [
        (
            "linux/arm64/v8",
            "sha256:2b1cd460dd2b896f523218f50aece33cb5815c95a3126623c88b1be7933e89e5",
        ),
        (
            "linux/amd64",
            "sha256:31ac097bd56340ca866541ddcf796a43b6363704e9931d5c4b29cd251cf6b35d",
        ),
    ] {
        assert!(html.contains(&format!("<td>{platform}</td>")), "{platform}");
        let href = format!("/repositories/team/app/-/manifests/{child}");
        assert!(html.contains(&href));
        let child_page = b.page(&href).await;
        assert!(child_page.contains("Docker schema 2 image"));
        assert!(child_page.contains("Layers"));
    }
}

#[tokio::test]
async fn viewers_see_only_the_repositories_they_may_pull() {
    let h = start_auth(
        r#"
[[auth.rules]]
who = "user:bob"
repos = ["team/*"]
actions = ["pull"]
"#,
    );
    let base = format!("http://{}", h.addr);
    let admin = crate::access::admin();
    let team = push_image(&admin, &h, "team/x", "1").await;
    let secret = push_image(&admin, &h, "secret/y", "1").await;
    crate::access::add_user(&base, "bob", "bob-password-1", &[]).await;

    // Without a session: to the login page.
    let anon = Browser::new(&h);
    let p = anon.get("/repositories/team/x").await;
    assert_eq!(p.status, 303);
    assert!(p.location.starts_with("/login?next="), "{}", p.location);

    let bob = Browser::signed_in(&h, "bob", "bob-password-1").await;
    let list = bob.page("/repositories").await;
    assert_eq!(listed(&list), ["team/x"]);
    assert!(list.contains("Showing 1–1 of 1 repository"), "{list}");
    assert!(bob
        .page("/repositories?q=secret")
        .await
        .contains("No repository name contains"));
    for path in [
        "/repositories/secret/y".to_owned(),
        "/repositories/secret/y/-/tags/1".to_owned(),
        format!("/repositories/secret/y/-/manifests/{secret}"),
        "/repositories/secret/y/-/tags/1/delete".to_owned(),
    ] {
        let p = bob.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(
            p.body.contains("There is no repository secret/y."),
            "{path}"
        );
    }
    // Pull but no delete: no delete link, the confirmation and the POST refused.
    let tag = bob.page("/repositories/team/x/-/tags/1").await;
    assert!(!tag.contains("/-/tags/1/delete"), "{tag}");
    assert!(tag.contains(&team[..19]));
    let p = bob.get("/repositories/team/x/-/tags/1/delete").await;
    assert_eq!(p.status, 403);
    // The sign-out form carries bob's token: a valid form, still refused.
    let token = csrf(&bob.page("/repositories/team/x").await);
    let p = bob
        .post("/repositories/team/x/-/tags/1/delete", &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    let r = reqwest::Client::new()
        .get(h.url("/v2/team/x/tags/list"))
        .header("authorization", basic("admin", ADMIN_PW))
        .send()
        .await
        .expect("tags");
    let tags: serde_json::Value = r.json().await.expect("json");
    assert_eq!(tags["tags"], json!(["1"]), "still there");

    // The admin sees both.
    let admin_page = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    let all = admin_page.page("/repositories").await;
    assert_eq!(listed(&all), ["secret/y", "team/x"]);
}
