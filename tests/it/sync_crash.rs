//! `kill -9` in the middle of a sync run: the run is kept in redb, queued again at the next
//! start (its record counts the resume) and completes; each half-fetched blob resumes from
//! its upload session with a `Range` request (the upstream answers 206), and no tag points
//! at missing content.

use crate::fault_proxy::{Fault, FaultProxy, Rule};
use crate::harness::*;
use crate::mirror::{hoist_blob, hoist_manifest, hoist_tags, upstream_toml};
use crate::pull_through::blob_file;
use crate::upstream::*;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// Where the proxy stalls each layer's first GET: past two of hoist's 4 MiB pieces.
const STALL_AT: u64 = 9 * MIB;

async fn get_json(h: &Hoist, path: &str) -> serde_json::Value {
    client()
        .get(h.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
}

#[tokio::test]
async fn a_run_killed_mid_blob_resumes_after_restart_and_completes() {
    let up = Upstream::open();
    let image = up.seed_image(
        "lib/big",
        "v1",
        &ImageSpec::new(&[16 << 20, 16 << 20, 16 << 20]).seed(51),
    );
    let built = &image.images[0];
    let proxy = FaultProxy::start(&up.host_port());
    // Each layer's first GET sends 9 MiB and then nothing for a long while: the run is
    // caught mid-blob, deterministically.
    for (layer, _) in &built.layers {
        proxy.add(
            Rule::new(Fault::Stall {
                after: STALL_AT,
                pause: Duration::from_secs(30),
            })
            .method("GET")
            .path(&format!("/blobs/{layer}"))
            .times(1),
        );
    }
    let config = format!(
        "{}[[mirrors]]\nname = \"big\"\nupstream = \"up\"\nfrom = \"lib/big\"\nto = \"big/app\"\n\
         mode = \"immediate\"\n",
        upstream_toml("up", &proxy.url(), &up, "")
    );
    let h = Hoist::start_configured(&config, &[], &[]);
    let started: serde_json::Value = client()
        .post(h.url("/api/v1/sync/runs"))
        .json(&serde_json::json!({"rules": ["big"]}))
        .send()
        .await
        .expect("start a run")
        .json()
        .await
        .expect("json");
    let run = started["runs"][0].as_u64().expect("run id");

    // Wait until every layer has some bytes in an upload session (two 4 MiB pieces each).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let uploads = get_json(&h, "/api/v1/uploads").await;
        let bytes = uploads["bytes"].as_u64().unwrap_or(0);
        if bytes >= 3 * 8 * MIB && proxy.fault_count("stall") == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never got part-way: uploads {uploads}, proxy saw {:?}\n{}",
            proxy.seen(),
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = get_json(&h, &format!("/api/v1/sync/runs/{run}")).await;
    assert_eq!(before["run"]["state"], "running", "{before}");
    for (layer, _) in &built.layers {
        assert!(!blob_file(&h, layer).exists(), "{layer} already whole");
    }

    let h = h.restart_after_kill();

    // The run goes on by itself and ends well.
    let deadline = Instant::now() + Duration::from_secs(45);
    let record = loop {
        let detail = get_json(&h, &format!("/api/v1/sync/runs/{run}")).await;
        let state = detail["run"]["state"].as_str().unwrap_or("").to_owned();
        if state == "succeeded" || state == "failed" {
            break detail["run"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish after the restart: {detail}\nproxy saw {:?}\n{}",
            proxy.seen(),
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        record["state"],
        "succeeded",
        "{record}\nproxy saw {:?}\n{}",
        proxy.seen(),
        h.log()
    );
    assert!(
        record["resumed"].as_u64().unwrap_or(0) >= 1,
        "the record counts the resume: {record}"
    );

    // The tag and everything it needs, byte for byte.
    assert_eq!(
        hoist_tags(&h, "big/app").await,
        ["v1".to_owned()].into_iter().collect()
    );
    let (status, digest, _, body) = hoist_manifest(&h, "big/app", "v1", Some(ACCEPT_ALL)).await;
    assert_eq!(status, 200);
    assert_eq!(digest.as_deref(), Some(image.digest.as_str()));
    assert_eq!(body, image.manifest);
    for (digest, bytes) in built.blobs() {
        assert!(blob_file(&h, &digest).is_file(), "blob {digest} on disk");
        let got = hoist_blob(&h, "big/app", &digest).await;
        assert!(
            got.as_ref().is_ok_and(|b| *b == bytes),
            "blob {digest}: {:?}",
            got.as_ref().map(|b| (b.len(), sha256(b)))
        );
    }

    // Each layer resumed where its session stopped: a Range GET, answered 206 upstream (the
    // proxy does not log request headers; the upstream's status shows the Range).
    let log = up.access_log();
    for (layer, _) in &built.layers {
        let statuses: Vec<u16> = log
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/blobs/{layer}")))
            .map(|r| r.status)
            .collect();
        assert!(
            statuses.contains(&206),
            "layer {layer} was not resumed with a Range: upstream statuses {statuses:?}"
        );
        assert_eq!(
            proxy.count("GET", &format!("/blobs/{layer}")),
            2,
            "layer {layer}: the stalled GET and one resume: {:?}",
            proxy.seen()
        );
    }
    // No session is left holding bytes.
    let uploads = get_json(&h, "/api/v1/uploads").await;
    assert_eq!(uploads["sessions"], 0, "sessions left behind: {uploads}");
}
