//! Console render times at scale: REPOS repositories of one tag and one repository of TAGS
//! tags (each its own manifest), pushed through /v2 (the time it takes is reported too), then
//! the repository list (first page, a search, sorted by tags, a late page), the big
//! repository (first and last page of tags) and one of its tags, each timed on the server's
//! side (N sequential GETs with a session, p50 and p99) and as chromium sees it (BROWSER_N
//! navigations: time to the first byte, DOMContentLoaded and load, p50 and p99).
//!
//!   bash bench/console.sh                                   # 10,000 repositories, 1,000 tags
//!   CONSOLE_REPOS=300 CONSOLE_TAGS=50 CONSOLE_N=20 CONSOLE_BROWSER_N=5 \
//!     cargo bench --bench console                           # a smoke run
//!
//! Needs chromium and chromedriver (Debian: chromium, chromium-driver) unless
//! CONSOLE_BROWSER=0. Prints Markdown.

#[allow(dead_code)]
#[path = "../tests/it/browser.rs"]
mod browser;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use support::{env_or, image_manifest, percentile, push_base_blobs, Server, OCI};

const PASSWORD: &str = "bench-password-1";
const CONCURRENCY: usize = 16;
const BIG: &str = "big/app";

/// hoist with access control on (as when it listens beyond loopback), admin / PASSWORD.
fn start(dir: &std::path::Path) -> Server {
    let config = dir.join("hoist.toml");
    std::fs::write(&config, "[auth]\nenabled = true\n").expect("config");
    let (server, _) = Server::start(
        &dir.join("data"),
        &["--config".as_ref(), config.as_os_str()],
        &[("HOIST_ADMIN_PASSWORD", PASSWORD)],
    );
    server
}

fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

/// Push REPOS repositories (mounting one image's blobs, one tag each) and BIG with `tags`
/// tags of distinct manifests. Returns (requests, seconds).
async fn seed(c: &reqwest::Client, base: &str, repos: usize, tags: usize) -> (usize, f64) {
    let layer = b"console bench layer";
    let digests = push_base_blobs(c, base, layer).await;
    let manifest = |n: usize| {
        image_manifest(
            &digests,
            layer.len(),
            serde_json::json!({"org.opencontainers.image.version": n.to_string()}),
        )
    };
    let manifests: Arc<Vec<Vec<u8>>> = Arc::new((0..tags.max(1)).map(manifest).collect());
    let digests = Arc::new(digests);
    let base = Arc::new(base.to_owned());
    let began = Instant::now();
    // Jobs 0..repos are repositories; repos..repos+tags are BIG's tags.
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (c, base, manifests, digests, next) = (
            c.clone(),
            base.clone(),
            manifests.clone(),
            digests.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let (repo, tag, body) = if i < repos {
                    (
                        format!("org{:02}/app{i:05}", i % 100),
                        "1.0".to_owned(),
                        &manifests[0],
                    )
                } else if i < repos + tags {
                    let t = i - repos;
                    (BIG.to_owned(), format!("v{t:04}"), &manifests[t])
                } else {
                    return;
                };
                if i <= repos {
                    for d in digests.iter() {
                        let r = c
                            .post(format!(
                                "{base}/v2/{repo}/blobs/uploads/?mount={d}&from=base/img"
                            ))
                            .send()
                            .await
                            .expect("mount");
                        assert_eq!(r.status(), 201, "mount into {repo}");
                    }
                }
                let r = c
                    .put(format!("{base}/v2/{repo}/manifests/{tag}"))
                    .header("content-type", OCI)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("put");
                assert_eq!(r.status(), 201, "put {repo}:{tag}");
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    (repos * 3 + 4 + tags, began.elapsed().as_secs_f64())
}

/// Sign in through the login form; the session's `Cookie` header.
async fn session(base: &str) -> String {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = c.get(format!("{base}/login")).send().await.expect("login");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("hoist_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let r = c
        .post(format!("{base}/login"))
        .header("cookie", format!("hoist_login_csrf={cookie}"))
        .form(&[
            ("csrf", cookie.as_str()),
            ("next", "/"),
            ("username", "admin"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303, "sign in");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("hoist_session="))
        .and_then(|v| v.split(';').next())
        .map(|v| format!("hoist_session={v}"))
        .expect("session cookie")
}

/// N sequential GETs of `path` with the session: (p50 ms, p99 ms, body KB).
async fn server_side(
    c: &reqwest::Client,
    base: &str,
    cookie: &str,
    path: &str,
    n: usize,
) -> (f64, f64, f64) {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for i in 0..n + 5 {
        let t = Instant::now();
        let r = c
            .get(format!("{base}{path}"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        let body = r.bytes().await.expect("body");
        // The first few warm the caches (and the connection).
        if i >= 5 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        size = body.len();
    }
    let (p50, p99) = p50_p99(times);
    (p50, p99, size as f64 / 1024.0)
}

/// What chromium's navigation timing says of `n` loads of `url`: (TTFB, DOMContentLoaded,
/// load), each (p50, p99) in ms.
async fn browser_side(b: &browser::Browser, url: &str, n: usize) -> [(f64, f64); 3] {
    let mut ttfb = Vec::new();
    let mut dcl = Vec::new();
    let mut load = Vec::new();
    for i in 0..n + 2 {
        b.goto(url).await;
        let t = b
            .js("var n = performance.getEntriesByType('navigation')[0]; return [n.responseStart - n.requestStart, n.domContentLoadedEventEnd - n.startTime, n.loadEventEnd - n.startTime, n.responseStatus];")
            .await;
        assert_eq!(t[3].as_u64(), Some(200), "{url} in chromium");
        if i >= 2 {
            ttfb.push(t[0].as_f64().unwrap_or(0.0));
            dcl.push(t[1].as_f64().unwrap_or(0.0));
            load.push(t[2].as_f64().unwrap_or(0.0));
        }
    }
    [p50_p99(ttfb), p50_p99(dcl), p50_p99(load)]
}

#[tokio::main]
async fn main() {
    let repos = env_or("CONSOLE_REPOS", 10_000);
    let tags = env_or("CONSOLE_TAGS", 1_000);
    let n = env_or("CONSOLE_N", 200);
    let browser_n = env_or("CONSOLE_BROWSER_N", 30);
    let with_browser = std::env::var("CONSOLE_BROWSER").map_or(true, |v| v != "0");
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path());
    let base = format!("http://{}", server.addr);

    let mut headers = reqwest::header::HeaderMap::new();
    let basic = data_encoding::BASE64.encode(format!("admin:{PASSWORD}").as_bytes());
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header"),
    );
    let pusher = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    let (requests, secs) = seed(&pusher, &base, repos, tags).await;

    let late = (repos / 50).saturating_sub(10).max(1);
    let last_tags = tags.div_ceil(100).max(1);
    let pages: Vec<(String, String)> = vec![
        ("repository list, first page".into(), "/repositories".into()),
        (
            format!("a search (`org07/`: {} hits)", repos.div_ceil(100)),
            "/repositories?q=org07%2F".into(),
        ),
        (
            "sorted by tags".into(),
            "/repositories?sort=tags&order=desc".into(),
        ),
        (
            format!("late page ({late})"),
            format!("/repositories?page={late}"),
        ),
        (
            format!("{BIG} ({tags} tags), first page"),
            format!("/repositories/{BIG}"),
        ),
        (
            format!("{BIG}, last page of tags"),
            format!("/repositories/{BIG}?page={last_tags}"),
        ),
        (
            format!("one tag of {BIG}"),
            format!("/repositories/{BIG}/-/tags/v0001"),
        ),
    ];

    let cookie = session(&base).await;
    let c = reqwest::Client::new();
    let mut server_rows = Vec::new();
    for (_, path) in &pages {
        server_rows.push(server_side(&c, &base, &cookie, path, n).await);
    }
    let mut browser_rows = Vec::new();
    if with_browser {
        let b = browser::Browser::start().await;
        b.goto(&format!("{base}/login")).await;
        b.sign_in(&base, "admin", PASSWORD).await;
        for (_, path) in &pages {
            browser_rows.push(browser_side(&b, &format!("{base}{path}"), browser_n).await);
        }
    }

    println!("## Console render times (`bench/console.sh`)");
    println!();
    println!(
        "{repos} repositories of one tag and {BIG} with {tags} tags (each its own manifest), \
         access control on, signed in. Seeding through /v2: {requests} requests in {secs:.1} s \
         ({:.0} requests/s, {CONCURRENCY} at a time).",
        requests as f64 / secs
    );
    println!();
    println!(
        "Server: {n} sequential GETs each (after 5 to warm up), the whole response read. \
         Browser: chromium, {browser_n} navigations each (after 2), from its navigation timing: \
         time to first byte (requestStart..responseStart), DOMContentLoaded and load (from the \
         navigation's start); the stylesheet and script come from its cache."
    );
    println!();
    println!("| page | HTML | server p50 | server p99 | browser TTFB p50 | DOMContentLoaded p50 | load p50 | load p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (name, _)) in pages.iter().enumerate() {
        let (p50, p99, kb) = server_rows[i];
        let b = browser_rows
            .get(i)
            .map(|[t, d, l]| {
                format!(
                    "{:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms",
                    t.0, d.0, l.0, l.1
                )
            })
            .unwrap_or_else(|| "- | - | - | -".into());
        println!("| {name} | {kb:.0} KB | {p50:.2} ms | {p99:.2} ms | {b} |");
    }
    drop(server);
}
