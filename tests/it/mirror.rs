//! Mirror rules against real upstreams (Debian's distribution 2.8, started by the tests):
//! tag and platform filters, digests equal to the upstream's, cheap re-syncs, the upstream's
//! schema1, deleted tags, basic and bearer-token auth, the API and `hoist sync`.

use crate::harness::*;
use crate::upstream::*;
use std::collections::BTreeSet;
use std::process::Command;

/// What Docker 26 sends.
pub const DOCKER_26: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `[[upstreams]]` entry for `up` named `name`, with its credentials from `UP_PASSWORD`.
pub fn upstream_toml(name: &str, url: &str, up: &Upstream, extra: &str) -> String {
    let creds = match up.credentials() {
        Some((user, _)) => format!("username = \"{user}\"\npassword_env = \"UP_PASSWORD\"\n"),
        None => String::new(),
    };
    format!("[[upstreams]]\nname = \"{name}\"\nurl = \"{url}\"\n{creds}{extra}\n")
}

/// The environment that carries `up`'s password.
pub fn upstream_env(up: &Upstream) -> Vec<(&str, &str)> {
    up.credentials()
        .map(|(_, pass)| vec![("UP_PASSWORD", pass)])
        .unwrap_or_default()
}

/// `hoist sync RULES…` against `h`: (success, stdout + stderr).
pub fn hoist_sync(h: &Hoist, rules: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["sync", "--registry", &h.url("")])
        .args(rules)
        .output()
        .expect("run hoist sync");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A manifest from hoist: (status, digest header, content type, body). `accept: None`
/// sends no Accept header at all, as Docker 1.6-1.9 did (reqwest would add `*/*`).
pub async fn hoist_manifest(
    h: &Hoist,
    repo: &str,
    reference: &str,
    accept: Option<&str>,
) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let target = format!("/v2/{repo}/manifests/{reference}");
    let Some(accept) = accept else {
        let r =
            crate::rawhttp::request_from(h, crate::rawhttp::loopback(1), "GET", &target, &[], b"");
        let header = |n: &str| r.header(n).map(str::to_owned);
        return (
            r.status,
            header("docker-content-digest"),
            header("content-type"),
            r.body,
        );
    };
    let r = client()
        .get(h.url(&target))
        .header("accept", accept)
        .send()
        .await
        .expect("get manifest");
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (digest, ct) = (header("docker-content-digest"), header("content-type"));
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body").to_vec();
    (status, digest, ct, body)
}

/// Tags of a repository on hoist.
pub async fn hoist_tags(h: &Hoist, repo: &str) -> BTreeSet<String> {
    let v: serde_json::Value = client()
        .get(h.url(&format!("/v2/{repo}/tags/list")))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .unwrap_or_default();
    v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A blob from hoist, or its status when not 200.
pub async fn hoist_blob(h: &Hoist, repo: &str, digest: &str) -> Result<Vec<u8>, u16> {
    let r = client()
        .get(h.url(&format!("/v2/{repo}/blobs/{digest}")))
        .send()
        .await
        .expect("get blob");
    if r.status() != 200 {
        return Err(r.status().as_u16());
    }
    Ok(r.bytes().await.expect("bytes").to_vec())
}

#[tokio::test]
async fn a_rule_mirrors_its_tags_and_platforms_under_the_upstreams_digests() {
    let up = Upstream::open();
    let v10 = up.seed_image("lib/app", "1.0", &ImageSpec::new(&[3000, 20_000]).seed(1));
    let v11 = up.seed_image("lib/app", "1.1", &ImageSpec::new(&[4000]).seed(2));
    up.seed_image("lib/app", "1.2-rc1", &ImageSpec::new(&[500]).seed(3));
    up.seed_image("lib/app", "edge", &ImageSpec::new(&[500]).seed(4));
    let multi = up.seed_list("lib/app", "multi", &ImageSpec::two_platforms(&[2500]));
    let config = format!(
        "{}[[mirrors]]\nname = \"app\"\nupstream = \"up\"\nfrom = \"lib/app\"\nto = \"mirror/app\"\n\
         tags = [\"1.*\", \"multi\"]\nexclude = [\"*-rc*\"]\nplatforms = [\"linux/amd64\"]\n",
        upstream_toml("up", &up.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let (ok, out) = hoist_sync(&h, &["app"]);
    assert!(ok, "hoist sync failed:\n{out}\n{}", h.log());
    assert!(out.contains("3 new"), "{out}");
    assert_eq!(
        hoist_tags(&h, "mirror/app").await,
        ["1.0", "1.1", "multi"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    // Each tag answers with the upstream's bytes and digest.
    for (tag, seeded) in [("1.0", &v10), ("1.1", &v11), ("multi", &multi)] {
        let (status, digest, _, body) =
            hoist_manifest(&h, "mirror/app", tag, Some(ACCEPT_ALL)).await;
        assert_eq!(status, 200, "{tag}");
        assert_eq!(digest.as_deref(), Some(seeded.digest.as_str()), "{tag}");
        assert_eq!(body, seeded.manifest, "{tag}: not byte for byte");
    }
    for (d, bytes) in v10.images[0].blobs() {
        assert_eq!(
            hoist_blob(&h, "mirror/app", &d).await,
            Ok(bytes),
            "blob {d}"
        );
    }
    // The list is whole; only its amd64 child and that child's blobs came.
    let amd64 = multi
        .images
        .iter()
        .find(|i| i.arch == "amd64")
        .expect("amd64");
    let arm64 = multi
        .images
        .iter()
        .find(|i| i.arch == "arm64")
        .expect("arm64");
    let (status, digest, _, _) =
        hoist_manifest(&h, "mirror/app", &amd64.digest, Some(ACCEPT_ALL)).await;
    assert_eq!(
        (status, digest.as_deref()),
        (200, Some(amd64.digest.as_str()))
    );
    for (d, bytes) in amd64.blobs() {
        assert_eq!(hoist_blob(&h, "mirror/app", &d).await, Ok(bytes));
    }
    let r = client()
        .get(h.url(&format!("/v2/mirror/app/manifests/{}", arm64.digest)))
        .header("accept", ACCEPT_ALL)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("linux/amd64"),
        "names the mirrored platforms: {message}"
    );
    assert_eq!(
        hoist_blob(&h, "mirror/app", &arm64.layers[0].0).await,
        Err(404)
    );
    // Real clients pull the result.
    let dir = tempfile::tempdir().expect("dir");
    let dest = format!("dir:{}", dir.path().display());
    let src = format!("docker://{}/mirror/app:multi", h.addr);
    let out = up.skopeo_output(&["copy", "--src-tls-verify=false", &src, &dest]);
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = std::fs::read(dir.path().join("manifest.json")).expect("manifest");
    assert_eq!(pulled, amd64.manifest);
}

#[tokio::test]
async fn a_resync_that_finds_nothing_new_makes_only_tag_lists_and_heads() {
    let up = Upstream::open();
    let (digest, tags) = up.seed_many_tags("many/tags", 50);
    let config = format!(
        "{}[[mirrors]]\nname = \"many\"\nupstream = \"up\"\nfrom = \"many/tags\"\nto = \"many/tags\"\n",
        upstream_toml("up", &up.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let (ok, out) = hoist_sync(&h, &["many"]);
    assert!(ok, "{out}");
    assert!(out.contains("50 new"), "{out}");
    let mark = up.log_mark();
    let (ok, out) = hoist_sync(&h, &["many"]);
    assert!(ok, "{out}");
    assert!(out.contains("50 unchanged"), "{out}");
    let seen = up.requests_since(mark);
    let heads = seen.iter().filter(|(m, _)| m == "HEAD").count();
    let lists = seen
        .iter()
        .filter(|(_, p)| p.ends_with("/tags/list"))
        .count();
    let others: Vec<_> = seen
        .iter()
        .filter(|(m, p)| m != "HEAD" && !p.ends_with("/tags/list") && p != "/v2/")
        .collect();
    assert!(others.is_empty(), "a no-op re-sync made GETs: {others:?}");
    assert_eq!(heads, tags.len(), "one HEAD per tag");
    assert_eq!(lists, 1, "one tags/list");
    let (_, got, _, _) = hoist_manifest(&h, "many/tags", "t00049", Some(ACCEPT_ALL)).await;
    assert_eq!(got.as_deref(), Some(digest.as_str()));
}

#[tokio::test]
async fn the_upstreams_schema1_digest_resolves_and_todays_clients_get_schema2() {
    let up = Upstream::open();
    let image = up.seed_image("old/app", "v1", &ImageSpec::new(&[1500, 2500]));
    let theirs = up.manifest("old/app", "v1", None);
    assert_eq!(theirs.content_type.as_deref(), Some(SCHEMA1_SIGNED));
    let s1 = theirs.digest.clone().expect("schema1 digest");
    let config = format!(
        "{}[[mirrors]]\nname = \"old\"\nupstream = \"up\"\nfrom = \"old/app\"\nto = \"old/app\"\n",
        upstream_toml("up", &up.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let (ok, out) = hoist_sync(&h, &["old"]);
    assert!(ok, "{out}");
    // A client that sends no Accept pulls by the digest the upstream showed it.
    let (status, digest, ct, body) = hoist_manifest(&h, "old/app", &s1, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(digest.as_deref(), Some(s1.as_str()));
    assert_eq!(ct.as_deref(), Some(SCHEMA1_SIGNED));
    let verified = hoist::oci::schema1::jws::verify(&body).expect("signed schema1");
    assert_eq!(sha256(&verified.canonical), s1);
    // By tag it gets the same form the upstream gave it.
    let (_, digest, _, _) = hoist_manifest(&h, "old/app", "v1", None).await;
    assert_eq!(digest.as_deref(), Some(s1.as_str()), "{}", h.log());
    // Docker 26 gets the schema2 under the upstream's digest.
    let (status, digest, ct, body) = hoist_manifest(&h, "old/app", "v1", Some(DOCKER_26)).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some(SCHEMA2));
    assert_eq!(digest.as_deref(), Some(image.digest.as_str()));
    assert_eq!(body, image.manifest);
}

#[tokio::test]
async fn tags_deleted_upstream_go_or_stay_as_the_rule_says() {
    let up = Upstream::open();
    up.seed_image("del/app", "a", &ImageSpec::new(&[100]).seed(1));
    up.seed_image("del/app", "b", &ImageSpec::new(&[100]).seed(2));
    let rule = |name: &str, to: &str, policy: &str| {
        format!(
            "[[mirrors]]\nname = \"{name}\"\nupstream = \"up\"\nfrom = \"del/app\"\nto = \"{to}\"\n\
             deleted_upstream = \"{policy}\"\n"
        )
    };
    let config = format!(
        "{}{}{}",
        upstream_toml("up", &up.url(), &up, ""),
        rule("remover", "del/removed", "remove"),
        rule("keeper", "del/kept", "keep")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let (ok, out) = hoist_sync(&h, &[]);
    assert!(ok, "{out}");
    up.delete_tag("del/app", "b");
    let (ok, out) = hoist_sync(&h, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("1 removed"), "{out}");
    assert_eq!(
        hoist_tags(&h, "del/removed").await,
        BTreeSet::from(["a".to_string()])
    );
    assert_eq!(
        hoist_tags(&h, "del/kept").await,
        BTreeSet::from(["a".to_string(), "b".to_string()])
    );
}

#[tokio::test]
async fn upstreams_behind_basic_and_bearer_token_auth_are_mirrored() {
    for up in [
        Upstream::basic("alice", "s3cret-basic"),
        Upstream::token("bob", "s3cret-token"),
    ] {
        let image = up.seed_image("auth/app", "v1", &ImageSpec::new(&[1000, 2000]));
        let config = format!(
            "{}[[mirrors]]\nname = \"a\"\nupstream = \"up\"\nfrom = \"auth/app\"\nto = \"auth/app\"\n",
            upstream_toml("up", &up.url(), &up, "")
        );
        let h = Hoist::start_configured(&config, &upstream_env(&up), &[]);
        if matches!(up.auth(), Auth::Token { .. }) {
            up.issuer().reset_counts();
        }
        let (ok, out) = hoist_sync(&h, &["a"]);
        assert!(ok, "{out}\n{}", h.log());
        let (_, digest, _, _) = hoist_manifest(&h, "auth/app", "v1", Some(ACCEPT_ALL)).await;
        assert_eq!(digest.as_deref(), Some(image.digest.as_str()));
        for (d, bytes) in image.images[0].blobs() {
            assert_eq!(hoist_blob(&h, "auth/app", &d).await, Ok(bytes));
        }
        if matches!(up.auth(), Auth::Token { .. }) {
            // One token per scope, cached for the whole run.
            let issued = up.issuer().tokens_issued();
            assert!((1..=3).contains(&issued), "tokens issued: {issued}");
        }
        // The secret is in no answer and no log line.
        let (_, pass) = up.credentials().expect("creds");
        let upstreams = client()
            .get(h.url("/api/v1/upstreams"))
            .send()
            .await
            .expect("api")
            .text()
            .await
            .expect("text");
        assert!(upstreams.contains("UP_PASSWORD") && upstreams.contains("\"has_password\":true"));
        assert!(!upstreams.contains(pass), "{upstreams}");
        assert!(!h.log().contains(pass), "the password is in the log");
        assert!(!out.contains(pass));
    }
}

#[tokio::test]
async fn a_wrong_password_fails_the_run_with_a_clear_error() {
    let up = Upstream::token("bob", "right");
    up.seed_image("auth/app", "v1", &ImageSpec::new(&[100]));
    let config = format!(
        "{}[[mirrors]]\nname = \"a\"\nupstream = \"up\"\nfrom = \"auth/app\"\nto = \"auth/app\"\n",
        upstream_toml("up", &up.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[("UP_PASSWORD", "wrong")], &[]);
    let (ok, out) = hoist_sync(&h, &["a"]);
    assert!(!ok, "a run with refused credentials must fail: {out}");
    assert!(out.contains("unauthorized"), "{out}");
    assert!(hoist_tags(&h, "auth/app").await.is_empty());
}

#[tokio::test]
async fn the_api_makes_rules_keeps_config_ones_fixed_and_streams_progress() {
    let up = Upstream::open();
    let image = up.seed_image("api/app", "v1", &ImageSpec::new(&[50_000]));
    let config = upstream_toml("fixed", &up.url(), &up, "");
    let h = Hoist::start_configured(&config, &[], &[]);
    let c = client();
    // A rule over the config's upstream, made through the API.
    let rule = serde_json::json!({"name": "api-app", "upstream": "fixed", "from": "api/app",
        "to": "made/app", "tags": ["v*"]});
    let r = c
        .post(h.url("/api/v1/mirrors"))
        .json(&rule)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let again = c
        .post(h.url("/api/v1/mirrors"))
        .json(&rule)
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), 409);
    let bad = serde_json::json!({"name": "bad", "upstream": "nowhere", "from": "a", "to": "b"});
    let r = c
        .post(h.url("/api/v1/mirrors"))
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let fixed = serde_json::json!({"name": "fixed", "url": "http://127.0.0.1:1"});
    let r = c
        .put(h.url("/api/v1/upstreams/fixed"))
        .json(&fixed)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 409, "config upstreams are changed in the file");
    let list: serde_json::Value = c
        .get(h.url("/api/v1/mirrors"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["mirrors"][0]["source"], "api");
    let ups: serde_json::Value = c
        .get(h.url("/api/v1/upstreams"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(ups["upstreams"][0]["source"], "config");
    // Live progress while a run goes.
    let mut events = c
        .get(h.url("/api/v1/sync/events"))
        .send()
        .await
        .expect("events");
    let started: serde_json::Value = c
        .post(h.url("/api/v1/sync/runs"))
        .json(&serde_json::json!({"rules": ["api-app"]}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let run = started["runs"][0].as_u64().expect("run id");
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen.contains("\"state\":\"succeeded\"") {
        assert!(std::time::Instant::now() < deadline, "no end event: {seen}");
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), events.chunk())
            .await
            .expect("events flow")
            .expect("chunk")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("event: tag") && seen.contains("\"outcome\":\"new\""),
        "{seen}"
    );
    assert!(seen.contains("event: blob"), "{seen}");
    let detail: serde_json::Value = c
        .get(h.url(&format!("/api/v1/sync/runs/{run}")))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json");
    assert_eq!(detail["run"]["state"], "succeeded");
    assert_eq!(detail["run"]["summary"]["tags_new"], 1);
    assert!(detail["events"].as_array().is_some_and(|e| !e.is_empty()));
    let (_, digest, _, _) = hoist_manifest(&h, "made/app", "v1", Some(ACCEPT_ALL)).await;
    assert_eq!(digest.as_deref(), Some(image.digest.as_str()));
    // Rules made through the API survive a restart.
    let h = h.restart_after_terminate();
    let list: serde_json::Value = client()
        .get(h.url("/api/v1/mirrors/api-app"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(list["to"], "made/app");
    let r = client()
        .delete(h.url("/api/v1/mirrors/api-app"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
}
