//! Hostile text on every console page: an image whose config, annotations and referrer carry
//! `<script>`, quotes and `{{`, names as bad as each grammar allows, an upstream whose errors
//! carry the same, rules, tokens and a failed sign-in naming them. Every console route (from
//! the endpoint table, with the real names put in, and every page its links lead to) must
//! show them as text: over HTTP the raw markup never appears and `{{7*7}}` is not 49, every
//! HTML answer has a CSP without inline script or style; in chromium no dialog opens, no
//! CSP violation fires and nothing injected is in the DOM.

use crate::access::{admin, basic, header, no_redirects, start_auth};
use crate::browser::Browser;
use crate::console_pages::{self as pages, Fetched, Names};
use crate::harness::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

pub const SCRIPT: &str = "<script>alert(1)</script>";
pub const ATTR: &str = "\"'><img src=x onerror=alert(1)>";
/// Rendered by a template engine it would read `tpl49tpl`.
pub const TEMPLATE: &str = "tpl{{7*7}}tpl";

/// All three in one string.
pub fn all() -> String {
    format!("{SCRIPT}{ATTR}{TEMPLATE}")
}

/// What must never be in a page's HTML: the payloads' markup unescaped, a rendered template.
const RAW: &[&str] = &["<script>alert(1)", "<img src=x", "'><img", "tpl49tpl"];

/// Whether a page shows the payload's `<script>` escaped (askama writes `&#60;`; `&lt;` is
/// as good).
fn shows_escaped(body: &str) -> bool {
    body.contains("&#60;script&#62;alert(1)&#60;") || body.contains("&lt;script&gt;alert(1)&lt;")
}

/// Worst names the grammars allow: every separator a repository name may hold, a tag of
/// punctuation.
pub const REPO: &str = "xss.repo/a__b-c.d";
pub const TAG: &str = "_.-X9";

/// An upstream on loopback that lists tags `v1` and `v2` of anything, answers a HEAD of a
/// manifest with a digest and everything else with a spec error whose code and message carry
/// the payload; manifests take 1.5 s.
pub struct EvilUpstream {
    pub port: u16,
}

impl EvilUpstream {
    pub fn start() -> EvilUpstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || answer(stream));
            }
        });
        EvilUpstream { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn answer(mut stream: std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("");
    let path = first.next().unwrap_or("");
    // A HEAD of a manifest succeeds, so the sync goes on to GET it and gets the error.
    if method == "HEAD" {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
             Docker-Content-Digest: sha256:{}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n",
            "ab".repeat(32)
        );
        return;
    }
    // Slowly, so a run is still going when its page is open.
    if path.contains("/manifests/") {
        std::thread::sleep(Duration::from_millis(1500));
    }
    let (status, body) = if path == "/v2/" {
        ("200 OK", "{}".to_owned())
    } else if path.contains("/tags/list") {
        (
            "200 OK",
            json!({"name": "library/x", "tags": ["v1", "v2"]}).to_string(),
        )
    } else {
        (
            "400 Bad Request",
            json!({"errors": [{"code": format!("DENIED{SCRIPT}"), "message": all()}]}).to_string(),
        )
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Docker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

async fn api(c: &reqwest::Client, h: &Hoist, method: &str, path: &str, body: Value) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = c
        .request(method.clone(), h.url(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "{method} {path} {body}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Push the hostile image, its referrer and an index, set up the evil upstream with a rule,
/// a proxy and a failed run, a token, an access rule and a failed sign-in. Returns the names
/// to put in URLs.
pub async fn seed(h: &Hoist, evil: &EvilUpstream) -> Names {
    let c = admin();
    let payload = all();
    let layer = b"not really a tar, which the pages must survive too".to_vec();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "author": payload,
        "config": {
            "Labels": {payload.clone(): payload, "org.opencontainers.image.title": payload},
            "Env": [format!("HOSTILE={payload}")],
            "Cmd": [payload],
            "Entrypoint": ["/bin/sh", "-c", payload],
            "User": payload,
            "WorkingDir": payload,
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": payload, "comment": payload}],
    });
    let config = serde_json::to_vec(&config).expect("json");
    let config_digest = push_blob(&c, h, REPO, &config).await;
    let layer_digest = push_blob(&c, h, REPO, &layer).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len(),
                    "annotations": {"org.opencontainers.image.title": payload}}],
        "annotations": {payload.clone(): payload, "org.opencontainers.image.description": payload},
    }))
    .expect("json");
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let digest = put_manifest(&c, h, REPO, TAG, oci, &manifest).await;

    // A referrer (a signature, say) whose annotations carry the payload.
    let empty = b"{}";
    let empty_digest = push_blob(&c, h, REPO, empty).await;
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": oci,
        "artifactType": "application/vnd.example.xss+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2}],
        "subject": {"mediaType": oci, "digest": digest, "size": manifest.len()},
        "annotations": {"org.opencontainers.image.created": payload, payload.clone(): payload},
    }))
    .expect("json");
    let referrer_digest = sha256(&referrer);
    put_manifest(&c, h, REPO, &referrer_digest, oci, &referrer).await;

    // An index whose platforms and annotations carry it.
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": oci, "digest": digest, "size": manifest.len(),
                       "platform": {"os": "linux", "architecture": "amd64", "variant": payload},
                       "annotations": {payload.clone(): payload}}],
        "annotations": {payload.clone(): payload},
    }))
    .expect("json");
    put_manifest(
        &c,
        h,
        REPO,
        "list_-.9",
        "application/vnd.oci.image.index.v1+json",
        &index,
    )
    .await;

    // Mirroring from an upstream whose every error carries the payload.
    api(
        &c,
        h,
        "POST",
        "/api/v1/upstreams",
        json!({"name": "evil.up-stream_1", "url": format!("{}/{payload}", evil.url()), "username": payload}),
    )
    .await;
    api(
        &c,
        h,
        "POST",
        "/api/v1/mirrors",
        json!({"name": "evil-rule", "upstream": "evil.up-stream_1", "from": "library/x",
               "to": "mirror/x", "tags": [SCRIPT, "v*"], "exclude": [ATTR]}),
    )
    .await;
    let proxy = format!("px{ATTR}");
    api(
        &c,
        h,
        "POST",
        "/api/v1/proxies",
        json!({"prefix": proxy, "upstream": "evil.up-stream_1"}),
    )
    .await;
    let runs = api(
        &c,
        h,
        "POST",
        "/api/v1/sync/runs",
        json!({"rules": ["evil-rule"]}),
    )
    .await;
    let run = runs["runs"][0].as_u64().expect("a run id");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = api(
            &c,
            h,
            "GET",
            &format!("/api/v1/sync/runs/{run}"),
            json!(null),
        )
        .await;
        if matches!(v["run"]["state"].as_str(), Some("succeeded" | "failed")) {
            break;
        }
        assert!(Instant::now() < deadline, "run {run} did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Access control: a user, a token and a rule naming the payload, a failed sign-in.
    crate::access::add_user(
        &format!("http://{}", h.addr),
        "x-s.s_user",
        "x-s.s-password",
        &["g.x-y_z"],
    )
    .await;
    let token = api(
        &c,
        h,
        "POST",
        "/api/v1/tokens",
        json!({"name": "x-s.s_token", "scopes": [{"repos": [SCRIPT, ATTR], "actions": ["pull"]}]}),
    )
    .await;
    let token = token["token"]["id"].as_str().expect("token id").to_owned();
    let rule = api(
        &c,
        h,
        "POST",
        "/api/v1/rules",
        json!({"who": format!("group:{payload}"), "repos": [SCRIPT, ATTR], "actions": ["pull"]}),
    )
    .await;
    let access_rule = rule["id"].as_str().expect("rule id").to_owned();
    let r = no_redirects()
        .get(h.url("/v2/"))
        .header("authorization", basic(&payload, "wrong"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(r.status(), 401, "a failed sign-in for the audit log");

    Names {
        repo: REPO.into(),
        tag: TAG.into(),
        digest,
        upstream: "evil.up-stream_1".into(),
        rule: "evil-rule".into(),
        proxy,
        run,
        user: "x-s.s_user".into(),
        token,
        access_rule,
    }
}

/// What is wrong with one answer: a 5xx, raw markup, a rendered template, a missing or
/// lax CSP on HTML.
fn problems(page: &Fetched) -> Vec<String> {
    let mut out = Vec::new();
    if page.status >= 500 {
        out.push(format!("{}: status {}", page.url, page.status));
    }
    for raw in RAW {
        if let Some(at) = page.body.find(raw) {
            let from = (0..=at.saturating_sub(80))
                .rev()
                .find(|i| page.body.is_char_boundary(*i))
                .unwrap_or(0);
            let around: String = page.body[from..].chars().take(160).collect();
            out.push(format!(
                "{}: raw {raw:?} in the page: ...{around}...",
                page.url
            ));
        }
    }
    if page.content_type.starts_with("text/html") {
        out.extend(pages::csp_problems(page));
    }
    out
}

/// URLs whose query and path put the payload where a page may echo it.
fn reflected(names: &Names) -> Vec<String> {
    let p = pages::encode_query(&all());
    let seg = pages::encode_path(&all()).replace('/', "%2F");
    vec![
        format!("/repositories?q={p}&sort={p}&order={p}&page={p}"),
        format!("/repositories/{}?q={p}&page={p}", names.repo),
        format!("/repositories/xss.repo/{seg}"),
        format!("/repositories/{}/-/tags/{seg}", names.repo),
        format!("/repositories/{}/-/manifests/{seg}", names.repo),
        format!("/mirrors/upstreams/{seg}"),
        format!("/mirrors/rules/{seg}"),
        format!("/mirrors/rules/{seg}/drift"),
        format!("/mirrors/proxies/{seg}"),
        format!("/mirrors/runs/{seg}"),
        format!("/mirrors/runs?page={p}"),
        format!("/access/users/{seg}"),
        format!("/access/audit?who={p}&action={p}&repo={p}&result={p}&page={p}"),
        format!("/login?next=/{p}"),
        format!("/?q={p}"),
    ]
}

#[tokio::test]
async fn hostile_names_labels_and_upstream_errors_render_as_text_on_every_page() {
    let h = start_auth("");
    let evil = EvilUpstream::start();
    let names = seed(&h, &evil).await;
    let cookie = pages::admin_session(&h).await;

    // Every console page of the endpoint table, with the real names: 200.
    let routes = pages::console_pages(&names);
    let mut start: Vec<String> = routes.iter().map(|(_, real)| real.clone()).collect();
    start.extend(reflected(&names));
    let c = no_redirects();
    let mut failures = Vec::new();
    for (example, real) in &routes {
        let page = pages::fetch(&c, &h, &cookie, real).await;
        if page.status != 200 {
            failures.push(format!(
                "{real} (the table's {example}): status {}, not 200",
                page.status
            ));
        }
    }

    // And every page their links lead to, and the payload in queries and paths.
    let walked = pages::crawl(&h, &cookie, &start, 400, 6).await;
    for page in &walked {
        failures.extend(problems(page));
    }
    let shown: Vec<&str> = walked
        .iter()
        .filter(|p| shows_escaped(&p.body))
        .map(|p| p.url.as_str())
        .collect();
    // The payload reached the pages (else this test proves nothing): the manifest's (its
    // config and annotations), the upstream's (its URL and user), the rule's (its tag
    // patterns), the run's (the upstream's errors), the audit log's (the failed sign-in),
    // the access rules' (the group).
    for must in [
        format!("/repositories/{REPO}/-/manifests/{}", names.digest),
        format!("/mirrors/upstreams/{}", names.upstream),
        format!("/mirrors/rules/{}", names.rule),
        format!("/mirrors/runs/{}", names.run),
        "/access/audit".to_owned(),
        "/access/rules".to_owned(),
    ] {
        if !shown
            .iter()
            .any(|u| u.split('?').next() == Some(must.as_str()))
        {
            failures.push(format!("{must} does not show the payload (escaped) at all"));
        }
    }
    if !walked.iter().any(|p| p.body.contains(TEMPLATE)) {
        failures.push(format!("no page shows {TEMPLATE:?} as it is"));
    }
    for page in walked
        .iter()
        .filter(|p| !p.content_type.starts_with("text/html"))
    {
        eprintln!(
            "note: {} answers {} {:?}, not an HTML page",
            page.url, page.status, page.content_type
        );
    }
    // A failed sign-in shows the name it was given again.
    let r = pages::login_attempt(&h, &all(), "wrong-password").await;
    let (status, content_type) = (r.status().as_u16(), header(&r, "content-type"));
    let csp = header(&r, "content-security-policy");
    let body = r.text().await.unwrap_or_default();
    if status != 401 || !shows_escaped(&body) {
        failures.push(format!(
            "a failed sign-in: status {status}, payload shown: {}",
            shows_escaped(&body)
        ));
    }
    failures.extend(problems(&Fetched {
        url: "POST /login".into(),
        status,
        content_type,
        csp,
        body,
    }));
    eprintln!(
        "walked {} pages over HTTP; the payload shows (escaped) on {}:\n  {}",
        walked.len(),
        shown.len(),
        shown.join("\n  ")
    );

    // In chromium: each route's page, and the reflected ones.
    let b = Browser::start().await;
    b.sign_in(
        &format!("http://{}", h.addr),
        "admin",
        crate::access::ADMIN_PW,
    )
    .await;
    let mut visit: Vec<String> = start.clone();
    for url in &shown {
        if !visit.iter().any(|v| v == url) {
            visit.push(url.to_string());
        }
    }
    for url in &visit {
        b.goto(&h.url(url)).await;
        for p in b
            .incidents()
            .await
            .into_iter()
            .chain(b.dom_problems().await)
        {
            failures.push(format!("{url} in chromium: {p}"));
        }
        if shown.contains(&url.as_str()) && !b.text_and_values().await.contains("<script>alert(1)<")
        {
            failures.push(format!(
                "{url} in chromium: the payload is not shown as text"
            ));
        }
    }
    eprintln!("checked {} pages in chromium", visit.len());

    // A run watched live: its errors arrive through server-sent events and progress.js.
    b.goto(&h.url(&format!("/mirrors/rules/{}", names.rule)))
        .await;
    b.follow(&format!(
        "form[action='/mirrors/rules/{}/sync'] button[type=submit]",
        names.rule
    ))
    .await;
    let first = b.find("#run-state").await.text().await.expect("state");
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.find("#run-state").await.text().await.expect("state") != "failed" {
        assert!(
            Instant::now() < deadline,
            "the run did not fail: {}",
            b.text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if first == "failed" {
        failures.push("the second run was over before its page showed".into());
    }
    let live = b.path().await;
    for p in b
        .incidents()
        .await
        .into_iter()
        .chain(b.dom_problems().await)
    {
        failures.push(format!("{live} (live) in chromium: {p}"));
    }
    if !b.text().await.contains(SCRIPT) {
        failures.push(format!(
            "{live} (live) does not show the upstream's error as text"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_http_checks_catch_raw_markup_templates_and_lax_policies() {
    let page = |body: &str, csp: &str| Fetched {
        url: "/x".into(),
        status: 200,
        content_type: "text/html; charset=utf-8".into(),
        csp: csp.into(),
        body: body.into(),
    };
    let good = "default-src 'self'; script-src 'self'; style-src 'self'";
    assert!(problems(&page(
        "&#60;script&#62;alert(1)&#60;/script&#62; tpl{{7*7}}tpl",
        good
    ))
    .is_empty());
    for bad in [SCRIPT, ATTR, "tpl49tpl"] {
        assert!(!problems(&page(bad, good)).is_empty(), "{bad}");
    }
    assert_eq!(problems(&page("", "")).len(), 1, "no CSP");
    assert_eq!(
        problems(&page(
            "",
            "default-src 'self'; script-src 'self' 'unsafe-inline'"
        ))
        .len(),
        1
    );
    assert_eq!(
        problems(&page("", "default-src 'self' 'unsafe-inline'")).len(),
        2
    );
}
