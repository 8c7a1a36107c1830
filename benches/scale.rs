//! Scale run: seed REPOS repositories x TAGS tags through the API, then measure tags/list,
//! _catalog and manifest GET latency at that size, and hoist's start-up time and RSS.
//!
//!   cargo bench --bench scale                       # 10,000 x 10 (100,000 tags)
//!   SCALE_REPOS=200 cargo bench --bench scale       # a smoke run
//!
//! Not criterion: each figure is one measurement of a whole server at a size.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{env_or, image_manifest, percentile, push_base_blobs, Server, OCI};

const CONCURRENCY: usize = 32;

/// Start hoist on `data`; returns the server and the time to its start-up line.
fn start(data: &std::path::Path) -> (Server, Duration) {
    Server::start(data, &[], &[])
}

fn rss_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Time `n` GETs of `path(i)` one after another; returns (p50 ms, p99 ms).
async fn latency(
    c: &reqwest::Client,
    base: &str,
    n: usize,
    path: impl Fn(usize) -> String,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let r = c
            .get(format!("{base}{}", path(i)))
            .header("accept", OCI)
            .send()
            .await
            .expect("get");
        assert!(r.status().is_success(), "{}: {}", path(i), r.status());
        r.bytes().await.expect("body");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

#[tokio::main]
async fn main() {
    let repos = env_or("SCALE_REPOS", 10_000);
    let tags = env_or("SCALE_TAGS", 10);
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (server, _) = start(&data);
    let base = Arc::new(format!("http://{}", server.addr));
    let c = reqwest::Client::new();

    // One image in a base repository; every other repository mounts its two blobs.
    let layer = b"scale layer";
    let digests = push_base_blobs(&c, &base, layer).await;
    let manifest = Arc::new(image_manifest(
        &digests,
        layer.len(),
        serde_json::Value::Null,
    ));
    let digests = Arc::new(digests);

    let seeding = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (c, base, manifest, digests, next) = (
            c.clone(),
            base.clone(),
            manifest.clone(),
            digests.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= repos {
                    return;
                }
                let repo = format!("org{}/repo{i:05}", i % 100);
                for d in digests.iter() {
                    let r = c
                        .post(format!(
                            "{base}/v2/{repo}/blobs/uploads/?mount={d}&from=base/img"
                        ))
                        .send()
                        .await
                        .expect("mount");
                    assert_eq!(r.status(), 201);
                }
                for t in 0..tags {
                    let r = c
                        .put(format!("{base}/v2/{repo}/manifests/v{t}"))
                        .header("content-type", OCI)
                        .body(manifest.to_vec())
                        .send()
                        .await
                        .expect("put");
                    assert_eq!(r.status(), 201);
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let seeded = seeding.elapsed();
    let requests = repos * (2 + tags);
    println!(
        "seeded {repos} repositories x {tags} tags ({} tags, {requests} requests) in {:.1} s: {:.0} requests/s",
        repos * tags,
        seeded.as_secs_f64(),
        requests as f64 / seeded.as_secs_f64()
    );

    let samples = repos.min(1000);
    let (p50, p99) = latency(&c, &base, samples, |i| {
        format!(
            "/v2/org{}/repo{:05}/tags/list",
            (i * 7919 % repos) % 100,
            i * 7919 % repos
        )
    })
    .await;
    println!("tags/list ({tags} tags), {samples} repositories: p50 {p50:.3} ms, p99 {p99:.3} ms");
    let (p50, p99) = latency(&c, &base, samples, |i| {
        format!(
            "/v2/org{}/repo{:05}/manifests/v{}",
            (i * 7919 % repos) % 100,
            i * 7919 % repos,
            i % tags
        )
    })
    .await;
    println!("manifest GET by tag, {samples} requests: p50 {p50:.3} ms, p99 {p99:.3} ms");
    let (p50, p99) = latency(&c, &base, 100, |i| {
        format!(
            "/v2/_catalog?n=100&last=org{}/repo{:05}",
            (i * 97 % repos) % 100,
            i * 97 % repos
        )
    })
    .await;
    println!("_catalog page of 100, 100 requests: p50 {p50:.3} ms, p99 {p99:.3} ms");
    let t = Instant::now();
    let mut url = format!("{base}/v2/_catalog?n=1000");
    let mut listed = 0;
    loop {
        let r = c.get(&url).send().await.expect("catalog");
        let link = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap_or_default().to_owned());
        let body: serde_json::Value = r.json().await.expect("json");
        listed += body["repositories"].as_array().map_or(0, Vec::len);
        match link.and_then(|l| l.split(['<', '>']).nth(1).map(str::to_owned)) {
            Some(next) => url = format!("{base}{next}"),
            None => break,
        }
    }
    println!(
        "whole _catalog ({listed} repositories, pages of 1000): {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "RSS after seeding and reads: {:.1} MB (peak {:.1} MB)",
        rss_mb(server.child.id(), "VmRSS"),
        rss_mb(server.child.id(), "VmHWM")
    );
    server.terminate();

    let db = std::fs::metadata(data.join("hoist.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    let tags_total = repos * tags;
    let probe = "/v2/org7/repo00007/manifests/v3";
    let server = restart(
        &c,
        &data,
        probe,
        &format!(
            "{tags_total} tags (redb {:.1} MB), after SIGTERM",
            db as f64 / 1e6
        ),
    )
    .await;
    // A crash leaves redb to repair its allocator state on open: the slow start.
    server.kill9();
    let server = restart(
        &c,
        &data,
        probe,
        &format!("{tags_total} tags, after kill -9"),
    )
    .await;
    server.terminate();
}

/// Start hoist on `data` and report the time to its start-up line and to its first answer.
async fn restart(c: &reqwest::Client, data: &std::path::Path, probe: &str, label: &str) -> Server {
    let (server, took) = start(data);
    let ready = Instant::now();
    let r = c
        .get(format!("http://{}{probe}", server.addr))
        .send()
        .await
        .expect("first GET");
    assert!(r.status().is_success(), "{probe}: {}", r.status());
    println!(
        "restart with {label}: start-up line after {:.0} ms, first manifest GET {:.1} ms later, RSS {:.1} MB",
        took.as_secs_f64() * 1000.0,
        ready.elapsed().as_secs_f64() * 1000.0,
        rss_mb(server.child.id(), "VmRSS")
    );
    server
}
