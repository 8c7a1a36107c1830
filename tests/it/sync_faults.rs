//! Sync runs through a [`FaultProxy`] between hoist and a real upstream (distribution 2.8):
//! a blob body cut mid-way, a stalled one, a flipped byte, 429s with `Retry-After`, a burst
//! of 503s; each time `hoist sync` succeeds and hoist serves the upstream's exact bytes, with
//! the re-requests the fault calls for (a `Range` resume after a cut or stall, a whole new
//! fetch after bad bytes). An upstream down for good, or a blob corrupted on every attempt,
//! fails the run with a clear error and leaves no tag and no partial content visible.

use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::harness::*;
use crate::mirror::{hoist_blob, hoist_manifest, hoist_sync, hoist_tags, upstream_toml};
use crate::pull_through::blob_file;
use crate::upstream::*;
use std::time::{Duration, Instant};

const RULE: &str = "app";
const LOCAL: &str = "mirror/app";

/// A real upstream holding `lib/app:v1` (three layers of ~1.5 MB), a fault proxy in front
/// of it with `rules`, and hoist mirroring `lib/app` to `mirror/app` through the proxy.
struct Setup {
    up: Upstream,
    proxy: FaultProxy,
    h: Hoist,
    image: Seeded,
}

impl Setup {
    fn new(rules: impl FnOnce(&BuiltImage) -> Vec<Rule>) -> Setup {
        let up = Upstream::open();
        let image = up.seed_image(
            "lib/app",
            "v1",
            &ImageSpec::new(&[1_500_000, 1_500_000, 1_500_000]).seed(7),
        );
        let proxy = FaultProxy::start(&up.host_port());
        for rule in rules(&image.images[0]) {
            proxy.add(rule);
        }
        let config = format!(
            "{}[[mirrors]]\nname = \"{RULE}\"\nupstream = \"up\"\nfrom = \"lib/app\"\n\
             to = \"{LOCAL}\"\nmode = \"immediate\"\n",
            upstream_toml("up", &proxy.url(), &up, "")
        );
        let h = Hoist::start_configured(&config, &[], &[]);
        Setup {
            up,
            proxy,
            h,
            image,
        }
    }

    fn layer(&self, i: usize) -> String {
        self.image.images[0].layers[i].0.clone()
    }

    /// `hoist sync app` must succeed.
    fn sync_ok(&self) -> String {
        let (ok, out) = hoist_sync(&self.h, &[RULE]);
        assert!(
            ok,
            "hoist sync failed:\n{out}\nproxy saw: {:?}\nhoist log:\n{}",
            self.proxy.log(),
            self.h.log()
        );
        assert!(out.contains("1 new"), "{out}");
        out
    }

    /// hoist serves the tag, the manifest by digest and every blob with the upstream's bytes.
    async fn assert_mirrored(&self) {
        let h = &self.h;
        for reference in ["v1", self.image.digest.as_str()] {
            let (status, digest, _, body) =
                hoist_manifest(h, LOCAL, reference, Some(ACCEPT_ALL)).await;
            assert_eq!(
                status,
                200,
                "{reference}: {}",
                String::from_utf8_lossy(&body)
            );
            assert_eq!(digest.as_deref(), Some(self.image.digest.as_str()));
            assert_eq!(body, self.image.manifest, "{reference}: not byte for byte");
        }
        for (digest, bytes) in self.image.images[0].blobs() {
            let got = hoist_blob(h, LOCAL, &digest).await;
            assert!(
                got.as_ref().is_ok_and(|b| *b == bytes),
                "blob {digest}: {:?}\n{}",
                got.as_ref().map(|b| (b.len(), sha256(b))),
                h.log()
            );
            assert!(blob_file(h, &digest).is_file(), "blob {digest} on disk");
        }
        assert_eq!(
            hoist_tags(h, LOCAL).await,
            ["v1".to_owned()].into_iter().collect()
        );
    }

    /// The statuses the upstream answered to GETs of `digest`, in order.
    fn upstream_statuses(&self, digest: &str) -> Vec<u16> {
        self.up
            .access_log()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/blobs/{digest}")))
            .map(|r| r.status)
            .collect()
    }

    /// The newest run's record (`GET /api/v1/sync/runs/<id>`): (run, events).
    async fn newest_run(&self) -> (serde_json::Value, Vec<serde_json::Value>) {
        let c = client();
        let runs: serde_json::Value = c
            .get(self.h.url("/api/v1/sync/runs"))
            .send()
            .await
            .expect("runs")
            .json()
            .await
            .expect("json");
        let id = runs["runs"][0]["id"].as_u64().expect("a run");
        let detail: serde_json::Value = c
            .get(self.h.url(&format!("/api/v1/sync/runs/{id}")))
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        let events = detail["events"].as_array().cloned().unwrap_or_default();
        (detail["run"].clone(), events)
    }

    /// Nothing of the image is visible: no tag, no tag list, no blob file.
    async fn assert_nothing_visible(&self) {
        let h = &self.h;
        let r = client()
            .get(h.url(&format!("/v2/{LOCAL}/tags/list")))
            .send()
            .await
            .expect("tags");
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(
            status == 404 || body["tags"].as_array().is_none_or(|t| t.is_empty()),
            "tags/list after a failed sync: {status} {body}"
        );
        // hoist's own view of the tag (it never asks the upstream).
        let r = client()
            .get(h.url(&format!("/api/v1/repositories/{LOCAL}/tags/v1")))
            .send()
            .await
            .expect("tag forms");
        let status = r.status().as_u16();
        let forms = r.text().await.unwrap_or_default();
        assert_eq!(status, 404, "the tag was written by a failed sync: {forms}");
    }
}

#[tokio::test]
async fn a_blob_body_cut_mid_way_is_resumed_with_a_range() {
    let s = Setup::new(|image| {
        vec![Rule::new(Fault::CutAfter(700_000))
            .method("GET")
            .path(&format!("/blobs/{}", image.layers[1].0))
            .times(1)]
    });
    s.sync_ok();
    s.assert_mirrored().await;
    let layer = s.layer(1);
    assert_eq!(s.proxy.fault_count("cut"), 1);
    assert_eq!(
        s.proxy.count("GET", &format!("/blobs/{layer}")),
        2,
        "one cut GET and one resume: {:?}",
        s.proxy.seen()
    );
    let statuses = s.upstream_statuses(&layer);
    assert!(
        statuses.contains(&206),
        "the second GET resumes with a Range (206 upstream): {statuses:?}"
    );
}

#[tokio::test]
async fn a_stalled_blob_body_is_resumed_with_a_range() {
    let s = Setup::new(|image| {
        vec![Rule::new(Fault::Stall {
            after: 700_000,
            pause: Duration::from_secs(2),
        })
        .method("GET")
        .path(&format!("/blobs/{}", image.layers[0].0))
        .times(1)]
    });
    s.sync_ok();
    s.assert_mirrored().await;
    let layer = s.layer(0);
    assert_eq!(s.proxy.fault_count("stall"), 1);
    assert_eq!(
        s.proxy.count("GET", &format!("/blobs/{layer}")),
        2,
        "one stalled GET and one resume: {:?}",
        s.proxy.seen()
    );
    let statuses = s.upstream_statuses(&layer);
    assert!(
        statuses.contains(&206),
        "the second GET resumes with a Range (206 upstream): {statuses:?}"
    );
}

#[tokio::test]
async fn a_flipped_byte_is_discarded_and_the_blob_fetched_again_whole() {
    let s = Setup::new(|image| {
        vec![Rule::new(Fault::FlipByte(900_000))
            .method("GET")
            .path(&format!("/blobs/{}", image.layers[2].0))
            .times(1)]
    });
    s.sync_ok();
    s.assert_mirrored().await;
    let layer = s.layer(2);
    assert_eq!(s.proxy.fault_count("flip"), 1);
    assert_eq!(
        s.proxy.count("GET", &format!("/blobs/{layer}")),
        2,
        "the corrupted blob is fetched again: {:?}",
        s.proxy.seen()
    );
    assert_eq!(
        s.upstream_statuses(&layer),
        vec![200, 200],
        "bad bytes are not resumed from: the second fetch is whole"
    );
}

#[tokio::test]
async fn too_many_requests_with_retry_after_is_waited_out() {
    let s = Setup::new(|image| {
        vec![Rule::new(Fault::too_many_requests(Some(1)))
            .method("GET")
            .path(&format!("/manifests/{}", image.digest))
            .times(2)]
    });
    let started = Instant::now();
    s.sync_ok();
    let took = started.elapsed();
    s.assert_mirrored().await;
    assert_eq!(s.proxy.fault_count("status-429"), 2);
    assert_eq!(
        s.proxy
            .count("GET", &format!("/manifests/{}", s.image.digest)),
        3,
        "two 429s, then the manifest: {:?}",
        s.proxy.seen()
    );
    assert!(
        took >= Duration::from_millis(1900),
        "Retry-After: 1 twice, yet the sync took {took:?}"
    );
}

#[tokio::test]
async fn a_burst_of_503s_is_retried() {
    let s = Setup::new(|image| {
        vec![Rule::new(Fault::unavailable(None))
            .method("GET")
            .path(&format!("/blobs/{}", image.layers[0].0))
            .times(3)]
    });
    s.sync_ok();
    s.assert_mirrored().await;
    assert_eq!(s.proxy.fault_count("status-503"), 3);
    assert_eq!(
        s.proxy.count("GET", &format!("/blobs/{}", s.layer(0))),
        4,
        "three 503s, then the blob: {:?}",
        s.proxy.seen()
    );
}

#[tokio::test]
async fn an_upstream_down_for_good_fails_the_run_and_leaves_nothing() {
    let s = Setup::new(|_| vec![Rule::new(Fault::Down)]);
    let started = Instant::now();
    let (ok, out) = hoist_sync(&s.h, &[RULE]);
    assert!(!ok, "a sync with the upstream down succeeded:\n{out}");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "took {:?}",
        started.elapsed()
    );
    assert!(out.contains("Failed"), "the run is shown failed:\n{out}");
    assert!(
        out.contains("error:") && out.contains("unreachable"),
        "the output names the failure:\n{out}"
    );
    assert!(s.proxy.fault_count("down") >= 1);
    let (run, _) = s.newest_run().await;
    assert_eq!(run["state"], "failed", "{run}");
    let error = run["error"].as_str().unwrap_or("");
    assert!(error.contains("unreachable"), "run.error: {run}");
    s.assert_nothing_visible().await;
    // A pull of the tag the rule keeps but never synced tries the upstream (still down):
    // 503, never the tag.
    let (status, _, _, body) = hoist_manifest(&s.h, LOCAL, "v1", Some(ACCEPT_ALL)).await;
    assert!(
        status == 404 || status == 503,
        "a pull of the unsynced tag: {status} {}",
        String::from_utf8_lossy(&body)
    );
    for digest in s.image.blob_digests() {
        assert!(
            !blob_file(&s.h, &digest).exists(),
            "blob {digest} stored by a failed sync"
        );
    }
}

#[tokio::test]
async fn a_blob_corrupted_on_every_attempt_fails_the_tag_and_is_not_stored() {
    let s = Setup::new(|image| {
        vec![Rule::new(Fault::FlipByte(500_000))
            .method("GET")
            .path(&format!("/blobs/{}", image.layers[1].0))]
    });
    let layer = s.layer(1);
    let (ok, out) = hoist_sync(&s.h, &[RULE]);
    assert!(!ok, "a sync whose blob is always corrupt succeeded:\n{out}");
    assert!(
        out.contains("FAILED") && out.contains(&layer),
        "the output names the failed tag and the blob:\n{out}"
    );
    assert_eq!(
        s.proxy.count("GET", &format!("/blobs/{layer}")),
        5,
        "five attempts at the corrupt blob: {:?}",
        s.proxy.seen()
    );
    let (run, events) = s.newest_run().await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["summary"]["tags_failed"], 1, "{run}");
    let tag_error = events
        .iter()
        .find(|e| e["outcome"] == "failed")
        .map(|e| e["error"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert!(
        tag_error.contains(&layer),
        "the failed tag's event names the corrupt blob: {events:?}"
    );
    s.assert_nothing_visible().await;
    assert!(
        !blob_file(&s.h, &layer).exists(),
        "the corrupt blob was stored"
    );
    assert_eq!(hoist_blob(&s.h, LOCAL, &layer).await, Err(404));
    let error = run["error"].as_str().unwrap_or("");
    assert!(
        error.contains(&layer),
        "run.error names what failed (the corrupt blob), not only a count: {error:?}"
    );
}
