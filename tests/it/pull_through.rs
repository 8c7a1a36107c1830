//! Pull-through against a real upstream (Debian's distribution 2.8), most of it behind a
//! pass-through [`FaultProxy`] that counts what hoist asks the upstream: a `[[proxies]]`
//! prefix (first pull byte for byte, `fresh_for`, a moved tag, the copy served while the
//! upstream is down, 503 without one), an on-demand mirror rule (layers come on their first
//! pull), concurrent pulls of one blob making one upstream request, and a blob whose bytes
//! are corrupted on the way never reaching a client whole nor the store.

use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::harness::*;
use crate::mirror::{hoist_blob, hoist_manifest, hoist_sync, upstream_toml};
use crate::upstream::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The upstream's name in hoist's config; 503 messages must name it.
const UPSTREAM: &str = "origin-up";

/// Where hoist keeps the bytes of `digest` (`blobs/sha256/<2 hex>/<hex>`).
pub fn blob_file(h: &Hoist, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    h.data_dir.join("blobs/sha256").join(&hex[..2]).join(hex)
}

/// Wait (up to 10 s) for hoist to have installed `digest`: a blob fetched on pull is
/// committed just after its last bytes went to the client.
pub async fn wait_for_blob_file(h: &Hoist, digest: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blob_file(h, digest).is_file() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// `skopeo copy` `repo:tag` from hoist into a fresh `dir:` layout; panics with skopeo's
/// output and hoist's log unless it succeeds.
fn skopeo_pull(up: &Upstream, h: &Hoist, repo: &str, tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let dest = format!("dir:{}", dir.path().display());
    let src = format!("docker://{}/{repo}:{tag}", h.addr);
    let out = up.skopeo_output(&["copy", "--src-tls-verify=false", &src, &dest]);
    assert!(
        out.status.success(),
        "skopeo copy {src} failed:\nstdout: {}\nstderr: {}\nhoist log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        h.log()
    );
    dir
}

/// The `dir:` layout holds exactly `image`'s manifest and every one of its blobs.
fn assert_pulled(dir: &Path, image: &Seeded, what: &str) {
    let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    assert_eq!(
        manifest, image.manifest,
        "{what}: the pulled manifest is not the upstream's"
    );
    for (digest, bytes) in image.images[0].blobs() {
        let hex = digest.strip_prefix("sha256:").expect("sha256");
        let pulled = std::fs::read(dir.join(hex))
            .unwrap_or_else(|e| panic!("{what}: blob {digest} not pulled: {e}"));
        assert!(
            pulled == bytes,
            "{what}: blob {digest} pulled with other bytes ({} bytes, sha {})",
            pulled.len(),
            sha256(&pulled)
        );
    }
}

/// The requests the proxy forwarded, without `/v2/` pings.
fn forwarded(proxy: &FaultProxy) -> Vec<(String, String)> {
    proxy
        .seen()
        .into_iter()
        .filter(|(_, p)| p != "/v2/" && p != "/v2")
        .collect()
}

/// The config of a `[[proxies]]` prefix `p` over `url` with this `fresh_for`.
fn proxy_config(up: &Upstream, url: &str, fresh_for: &str) -> String {
    format!(
        "{}[[proxies]]\nprefix = \"p\"\nupstream = \"{UPSTREAM}\"\nfresh_for = \"{fresh_for}\"\n",
        upstream_toml(UPSTREAM, url, up, "")
    )
}

/// Sleep until `at`.
async fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        tokio::time::sleep(at - now).await;
    }
}

#[tokio::test]
async fn a_proxy_prefix_fetches_once_refreshes_after_fresh_for_and_serves_its_copy_when_down() {
    let mut up = Upstream::open();
    let v1 = up.seed_image(
        "lib/app",
        "v1",
        &ImageSpec::new(&[300_000, 500_000]).seed(11),
    );
    let proxy = FaultProxy::start(&up.host_port());
    let fresh_for = Duration::from_secs(5);
    let h = Hoist::start_configured(&proxy_config(&up, &proxy.url(), "5s"), &[], &[]);

    // First pull: fetched while skopeo waits, byte for byte.
    let first = Instant::now();
    let dir = skopeo_pull(&up, &h, "p/lib/app", "v1");
    assert_pulled(dir.path(), &v1, "first pull");
    let got = forwarded(&proxy);
    assert!(
        got.iter()
            .any(|(m, p)| m == "GET" && p.starts_with("/v2/lib/app/manifests/")),
        "the first pull fetched the manifest upstream: {got:?}"
    );
    for (digest, _) in v1.images[0].blobs() {
        assert_eq!(
            proxy.count("GET", &format!("/blobs/{digest}")),
            1,
            "blob {digest} fetched once: {got:?}"
        );
    }
    let (status, digest, _, body) = hoist_manifest(&h, "p/lib/app", "v1", Some(ACCEPT_ALL)).await;
    assert_eq!(status, 200);
    assert_eq!(digest.as_deref(), Some(v1.digest.as_str()));
    assert_eq!(body, v1.manifest);

    // Inside fresh_for: not one upstream request.
    proxy.reset_counts();
    let dir = skopeo_pull(&up, &h, "p/lib/app", "v1");
    assert!(
        first.elapsed() < fresh_for,
        "the test is too slow: the second pull ended {:?} after the first began (fresh_for {fresh_for:?})",
        first.elapsed()
    );
    assert_pulled(dir.path(), &v1, "second pull");
    assert_eq!(
        proxy.seen(),
        Vec::<(String, String)>::new(),
        "a pull inside fresh_for asked the upstream"
    );

    // After fresh_for: exactly one HEAD of the manifest, and nothing else.
    sleep_until(first + fresh_for + Duration::from_millis(500)).await;
    proxy.reset_counts();
    let checked = Instant::now();
    let dir = skopeo_pull(&up, &h, "p/lib/app", "v1");
    assert_pulled(dir.path(), &v1, "pull after fresh_for");
    assert_eq!(
        forwarded(&proxy),
        vec![("HEAD".to_owned(), "/v2/lib/app/manifests/v1".to_owned())],
        "after fresh_for a pull of an unchanged tag costs one HEAD"
    );

    // The tag moves upstream: seen after fresh_for.
    let v1b = up.seed_image("lib/app", "v1", &ImageSpec::new(&[400_000]).seed(12));
    assert_ne!(v1b.digest, v1.digest);
    sleep_until(checked + fresh_for + Duration::from_millis(500)).await;
    proxy.reset_counts();
    let moved = Instant::now();
    let dir = skopeo_pull(&up, &h, "p/lib/app", "v1");
    assert_pulled(dir.path(), &v1b, "pull after the tag moved");
    assert_eq!(
        proxy.count("HEAD", "/manifests/v1"),
        1,
        "{:?}",
        proxy.seen()
    );
    let (_, digest, _, _) = hoist_manifest(&h, "p/lib/app", "v1", Some(ACCEPT_ALL)).await;
    assert_eq!(digest.as_deref(), Some(v1b.digest.as_str()));

    // The upstream goes away: after fresh_for the copy is still served.
    up.stop();
    sleep_until(moved + fresh_for + Duration::from_millis(500)).await;
    proxy.reset_counts();
    let dir = skopeo_pull(&up, &h, "p/lib/app", "v1");
    assert_pulled(dir.path(), &v1b, "pull with the upstream down");
    assert!(
        proxy.count("HEAD", "/manifests/v1") >= 1,
        "the pull after fresh_for tried the upstream: {:?}",
        proxy.seen()
    );

    // Something never fetched, with the upstream down: 503 UNAVAILABLE naming the upstream.
    let r = client()
        .get(h.url("/v2/p/lib/app/manifests/never-fetched"))
        .header("accept", ACCEPT_ALL)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.expect("error body is JSON");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains(UPSTREAM), "names the upstream: {message}");
    let other = sha256(b"a blob hoist never saw");
    let r = client()
        .get(h.url(&format!("/v2/p/lib/app/blobs/{other}")))
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(status, 503, "a blob never fetched, upstream down: {body}");
    assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains(UPSTREAM), "names the upstream: {message}");
}

#[tokio::test]
async fn an_on_demand_mirror_fetches_layers_on_their_first_pull_and_keeps_them() {
    let mut up = Upstream::open();
    let v1 = up.seed_image(
        "lib/app",
        "v1",
        &ImageSpec::new(&[400_000, 600_000]).seed(21),
    );
    let image = &v1.images[0];
    let config = format!(
        "{}[[mirrors]]\nname = \"od\"\nupstream = \"{UPSTREAM}\"\nfrom = \"lib/app\"\n\
         to = \"od/app\"\nmode = \"on-demand\"\n",
        upstream_toml(UPSTREAM, &up.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let (ok, out) = hoist_sync(&h, &["od"]);
    assert!(ok, "hoist sync failed:\n{out}\n{}", h.log());
    assert!(out.contains("1 new"), "{out}");

    // The manifest and the config came; the layers did not.
    let (status, digest, _, body) = hoist_manifest(&h, "od/app", "v1", Some(ACCEPT_ALL)).await;
    assert_eq!(status, 200);
    assert_eq!(digest.as_deref(), Some(v1.digest.as_str()));
    assert_eq!(body, v1.manifest);
    assert!(
        blob_file(&h, &image.config_digest).is_file(),
        "the config blob is fetched by the sync"
    );
    for (layer, _) in &image.layers {
        assert!(
            !blob_file(&h, layer).exists(),
            "layer {layer} is on disk after an on-demand sync"
        );
        assert_eq!(
            up.count("GET", &format!("/blobs/{layer}")),
            0,
            "the sync fetched layer {layer}"
        );
    }

    // The first pull streams them through, byte for byte, and keeps them.
    let dir = skopeo_pull(&up, &h, "od/app", "v1");
    assert_pulled(dir.path(), &v1, "first pull");
    for (layer, _) in &image.layers {
        assert_eq!(
            up.count("GET", &format!("/blobs/{layer}")),
            1,
            "layer {layer} fetched once on the first pull"
        );
        assert!(
            wait_for_blob_file(&h, layer).await,
            "layer {layer} is kept after its first pull"
        );
    }

    // With the upstream gone, another pull is served from what hoist kept.
    up.stop();
    let dir = skopeo_pull(&up, &h, "od/app", "v1");
    assert_pulled(dir.path(), &v1, "pull with the upstream down");
}

#[tokio::test]
async fn concurrent_pulls_of_one_blob_make_one_upstream_request() {
    let up = Upstream::open();
    let v1 = up.seed_image("lib/big", "v1", &ImageSpec::new(&[3_000_000]).seed(31));
    let (layer, bytes) = v1.images[0].layers[0].clone();
    let proxy = FaultProxy::start(&up.host_port());
    // A slow upstream, so the pulls overlap while the first one waits for it.
    proxy.add(
        Rule::new(Fault::Delay(Duration::from_millis(1500)))
            .method("GET")
            .path(&format!("/blobs/{layer}")),
    );
    let h = Hoist::start_configured(&proxy_config(&up, &proxy.url(), "1m"), &[], &[]);
    let c = client();
    let url = h.url(&format!("/v2/p/lib/big/blobs/{layer}"));
    let pulls = (0..8).map(|_| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = c.get(&url).send().await.expect("get blob");
            let status = r.status().as_u16();
            let body = r.bytes().await.map(|b| b.to_vec());
            (status, body)
        }
    });
    let results = futures_util::future::join_all(pulls).await;
    for (i, (status, body)) in results.into_iter().enumerate() {
        assert_eq!(status, 200, "pull {i}\n{}", h.log());
        let body = body.unwrap_or_else(|e| panic!("pull {i}: body failed: {e}\n{}", h.log()));
        assert!(
            body == bytes,
            "pull {i}: {} bytes, sha {} (want {} bytes, {layer})",
            body.len(),
            sha256(&body),
            bytes.len()
        );
    }
    assert_eq!(
        proxy.count("GET", &format!("/blobs/{layer}")),
        1,
        "8 concurrent pulls of one blob: upstream requests {:?}",
        proxy.seen()
    );
    assert!(wait_for_blob_file(&h, &layer).await, "the blob is kept");
}

#[tokio::test]
async fn a_blob_corrupted_on_the_way_never_reaches_a_client_whole_nor_the_store() {
    let up = Upstream::open();
    let v1 = up.seed_image("lib/flip", "v1", &ImageSpec::new(&[2_000_000]).seed(41));
    let (layer, bytes) = v1.images[0].layers[0].clone();
    let proxy = FaultProxy::start(&up.host_port());
    proxy.add(
        Rule::new(Fault::FlipByte(1_000_000))
            .method("GET")
            .path(&format!("/blobs/{layer}"))
            .times(1),
    );
    let h = Hoist::start_configured(&proxy_config(&up, &proxy.url(), "1m"), &[], &[]);
    let c = client();
    let url = h.url(&format!("/v2/p/lib/flip/blobs/{layer}"));
    let r = c.get(&url).send().await.expect("get blob");
    let status = r.status().as_u16();
    match r.bytes().await {
        Err(_) => {} // the connection was cut: what should happen
        Ok(got) => {
            assert!(
                got.len() < bytes.len() || status != 200,
                "the client got a whole body ({} bytes, status {status}) of corrupted bytes: \
                 sha {} (want {layer})\n{}",
                got.len(),
                sha256(&got),
                h.log()
            );
        }
    }
    assert_eq!(
        proxy.fault_count("flip"),
        1,
        "the fault applied: {:?}",
        proxy.seen()
    );
    // Nothing of the bad bytes is kept: not now, nor once the fetch has wound down.
    for _ in 0..10 {
        assert!(
            !blob_file(&h, &layer).exists(),
            "the corrupted blob was stored\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The next pull (the fault used up) fetches it again and gets it right.
    let again = hoist_blob(&h, "p/lib/flip", &layer).await;
    assert!(
        again.as_ref().is_ok_and(|b| *b == bytes),
        "the pull after the bad one: {:?}\n{}",
        again.as_ref().map(|b| (b.len(), sha256(b))),
        h.log()
    );
    assert_eq!(proxy.count("GET", &format!("/blobs/{layer}")), 2);
    assert!(
        wait_for_blob_file(&h, &layer).await,
        "the good blob is kept"
    );
    assert_eq!(hoist_blob(&h, "p/lib/flip", &layer).await, Ok(bytes));
    assert_eq!(
        proxy.count("GET", &format!("/blobs/{layer}")),
        2,
        "served from the store"
    );
}
