//! A minute under attack (issue 9): 300 stalled uploads, 50 clients resetting mid-PATCH and
//! 20 honest skopeo push/pull loops at once. Every honest operation succeeds, and afterwards
//! every upload file belongs to an upload session that a client could resume.
//! `HOIST_SOAK_SECS` shortens or lengthens the minute.

use crate::harness::*;
use crate::interop::Clients;
use crate::rawhttp::*;
use crate::stalls::stall_uploads;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STALLED: usize = 300;
const RESETTERS: u8 = 50;
const HONEST: usize = 20;

/// An OCI layout at `dir` holding one image of two fresh random layers, tagged `tag`.
fn write_image(dir: &Path, seed: u64, tag: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        let hex = digest.trim_start_matches("sha256:");
        std::fs::write(blobs.join(hex), bytes).expect("write blob");
        digest
    };
    let layers: Vec<Vec<u8>> = (0..2)
        .map(|i| noise(seed * 10 + i, 150_000 + (seed as usize % 7) * 1000))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha256(l)).collect::<Vec<_>>()},
    }))
    .expect("json");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put(&config), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": put(l), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .expect("json");
    let digest = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
        "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).expect("write");
    digest
}

/// Push an image with skopeo and pull it back; an error names what failed.
fn honest_round(clients: &Clients, h: &Hoist, worker: usize, round: u64) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let src = work.path().join("src");
    let back = work.path().join("back");
    let seed = (worker as u64) * 10_000 + round;
    let digest = write_image(&src, seed, "v");
    let remote = format!("docker://{}/soak/w{worker}:r{round}", h.addr);
    let skopeo = |args: &[&str]| -> Result<(), String> {
        let out = clients
            .skopeo_command()
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "skopeo {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let src_ref = format!("oci:{}:v", src.display());
    let back_ref = format!("oci:{}:v", back.display());
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src_ref,
        &remote,
    ])?;
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &remote,
        &back_ref,
    ])?;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let pulled = index["manifests"][0]["digest"].as_str().unwrap_or("");
    if pulled != digest {
        return Err(format!("pulled {pulled}, pushed {digest}"));
    }
    Ok(())
}

/// One resetting client: PATCHes that die mid-body; every third one is resumed from its
/// Range and finished, and the blob must then be exactly right.
fn resetting_client(h: &Hoist, n: u8, deadline: Instant, verified: &AtomicUsize) {
    let from = loopback(20 + n);
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        let data = noise(u64::from(n) * 1000 + round, 1 << 20);
        let location = open_session(h, from, &format!("soak/reset{n}"));
        let mut s = connect_from(h, from);
        send_head(
            &mut s,
            h,
            "PATCH",
            &location,
            &[("Content-Length", data.len().to_string())],
            &[],
        );
        let cut = 100_000 + (round as usize * 37_000) % 800_000;
        let _ = s.write_all(&data[..cut]);
        std::thread::sleep(Duration::from_millis(20));
        reset(s);
        if round % 3 != 0 {
            continue;
        }
        // Resume: the Range may lag while the server still writes what arrived, in which
        // case the chunk is refused (416) and the client asks again.
        let finished = (0..50).any(|_| {
            let Some(kept) = upload_offset(h, &location) else {
                return false;
            };
            let r = request_from(
                h,
                from,
                "PATCH",
                &location,
                &[("Content-Range", format!("{kept}-{}", data.len() - 1))],
                &data[kept as usize..],
            );
            if r.status == 416 {
                std::thread::sleep(Duration::from_millis(20));
                return false;
            }
            assert_eq!(r.status, 202, "resume: {}", r.text());
            let r = request_from(
                h,
                from,
                "PUT",
                &format!("{location}?digest={}", sha256(&data)),
                &[],
                b"",
            );
            assert_eq!(r.status, 201, "finish after a reset: {}", r.text());
            true
        });
        assert!(finished, "{location} never became resumable");
        verified.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_stalls_resets_and_honest_clients_together() {
    assert!(have("skopeo"), "the soak needs skopeo");
    let secs: u64 = std::env::var("HOIST_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let h = Arc::new(Hoist::start_with(&["--body-idle-timeout-secs", "900"]));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let stalled = {
        let h = Arc::clone(&h);
        tokio::task::spawn_blocking(move || stall_uploads(&h, STALLED, 2, 50))
            .await
            .expect("stall")
    };
    let verified = Arc::new(AtomicUsize::new(0));
    let resetters: Vec<_> = (0..RESETTERS)
        .map(|n| {
            let (h, verified) = (Arc::clone(&h), Arc::clone(&verified));
            std::thread::spawn(move || resetting_client(&h, n, deadline, &verified))
        })
        .collect();
    let clients = Arc::new(Clients::new());
    let failures = Arc::new(Mutex::new(Vec::new()));
    let honest_rounds = Arc::new(AtomicUsize::new(0));
    let honest: Vec<_> = (0..HONEST)
        .map(|worker| {
            let (h, clients) = (Arc::clone(&h), Arc::clone(&clients));
            let (failures, rounds) = (Arc::clone(&failures), Arc::clone(&honest_rounds));
            std::thread::spawn(move || {
                let mut round = 0;
                while Instant::now() < deadline {
                    round += 1;
                    match honest_round(&clients, &h, worker, round) {
                        Ok(()) => rounds.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            failures.lock().expect("lock").push(e);
                            0
                        }
                    };
                }
            })
        })
        .collect();
    for t in honest {
        t.join().expect("honest client");
    }
    for t in resetters {
        t.join().expect("resetting client");
    }
    let failures = failures.lock().expect("lock").clone();
    let rounds = honest_rounds.load(Ordering::Relaxed);
    eprintln!(
        "soak {secs} s: {rounds} honest skopeo push+pull rounds, {} resumed uploads \
         verified, {} stalled uploads held, {} failures",
        verified.load(Ordering::Relaxed),
        stalled.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "honest operations failed: {failures:#?}"
    );
    assert!(
        rounds >= HONEST,
        "every honest loop finished a round: {rounds}"
    );
    // The stalled clients go; then every upload file must belong to a session.
    drop(stalled);
    let mut h = Arc::try_unwrap(h).unwrap_or_else(|_| panic!("hoist still shared"));
    std::thread::sleep(Duration::from_secs(1));
    assert!(h.terminate().success(), "graceful stop");
    let files: BTreeSet<String> = std::fs::read_dir(h.data_dir.join("uploads"))
        .expect("uploads dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let meta = hoist::store::Meta::open(&h.data_dir.join("hoist.redb")).expect("metadata");
    let sessions: BTreeSet<String> = meta.upload_ids().expect("ids").into_iter().collect();
    let orphans: Vec<_> = files.difference(&sessions).collect();
    assert!(
        orphans.is_empty(),
        "upload files no session owns: {orphans:?}"
    );
}
