//! The console's mirrors pages, end to end against a real upstream (Debian's distribution
//! 2.8 on loopback, `upstream.rs`): upstreams and rules made through the forms with their
//! CSRF token, a rule's preview checked against what was pushed upstream (and the upstream
//! asked for no blob), sync now, the run page polled to its end, the mirrored tag pulled,
//! drift before and after the upstream tag moves, server-sent events read with the session
//! cookie, the password source kept on edit, deletes through confirmation pages, bad input
//! shown again with its message, hostile strings rendered as text, non-admins refused.

use crate::access::{add_user, basic, start_auth, ADMIN_PW};
use crate::console_session::{csrf, Browser, Page};
use crate::harness::*;
use crate::upstream::*;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

const XSS: &str = "<script>alert(1)</script>\"'{{x}}";

/// Bytes as the console writes them (admin/format.rs).
fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let text = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    format!("{text} {}", UNITS[u])
}

/// `sha256:` and twelve hex digits, as tables show digests.
fn short(digest: &str) -> &str {
    &digest[..19]
}

/// The `<tr>…</tr>` of a page's table rows containing `needle`.
fn row_with<'a>(html: &'a str, needle: &str) -> Option<&'a str> {
    html.split("<tr")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap_or(""))
        .find(|r| r.contains(needle))
}

/// The text of the run page's `#run-state` element.
fn run_state(html: &str) -> String {
    html.split("id=\"run-state\"")
        .nth(1)
        .and_then(|s| s.split('>').nth(1))
        .and_then(|s| s.split('<').next())
        .unwrap_or_else(|| panic!("no #run-state in {html}"))
        .to_owned()
}

/// Poll a run's page until its state is finished; returns the page.
async fn wait_for_run(b: &Browser, h: &Hoist, href: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let html = b.page(href).await;
        let state = run_state(&html);
        if state == "succeeded" || state == "failed" {
            return html;
        }
        assert!(
            Instant::now() < deadline,
            "{href} still {state}:\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Config and layer bytes of an image, as a preview counts them.
fn image_bytes(i: &BuiltImage) -> u64 {
    i.blobs().iter().map(|(_, b)| b.len() as u64).sum()
}

fn assert_escaped(html: &str, what: &str) {
    assert!(
        !html.contains("<script>alert"),
        "{what}: a hostile string is markup:\n{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)") || html.contains("&#60;script&#62;alert(1)"),
        "{what}: the hostile string is not shown as text:\n{html}"
    );
}

/// Read server-sent events from `url` with `cookie` until a run event says the run ended;
/// returns (event type, data) of each.
async fn read_events(url: String, cookie: String) -> Vec<(String, serde_json::Value)> {
    let r = reqwest::Client::new()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET events");
    assert_eq!(r.status(), 200, "the session reads the event stream");
    let mut body = r.bytes_stream();
    let (mut buffer, mut out) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("the run ends within 40 s")
            .expect("the stream stays open")
            .expect("chunk");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut kind = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = k.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_owned();
                }
            }
            if data.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&data).expect("JSON data");
            let ended =
                kind == "run" && matches!(value["state"].as_str(), Some("succeeded" | "failed"));
            out.push((kind, value));
            if ended {
                return out;
            }
        }
    }
}

#[tokio::test]
async fn a_rule_is_previewed_saved_synced_live_and_checked_for_drift() {
    let up = Upstream::open();
    let v10 = up.seed_image("lib/app", "1.0", &ImageSpec::new(&[3000, 20_000]).seed(1));
    up.seed_image("lib/app", "1.1-rc1", &ImageSpec::new(&[500]).seed(2));
    let multi = up.seed_list("lib/app", "multi", &ImageSpec::two_platforms(&[2500]));
    let h = start_auth("");
    let b = Browser::signed_in(&h, "admin", ADMIN_PW).await;

    let html = b.page("/mirrors").await;
    assert!(html.contains("No upstream yet"), "{html}");

    // An upstream through its form: refused without the CSRF token, then made.
    let url = up.url();
    let fields = [
        ("name", "up"),
        ("url", url.as_str()),
        ("max_concurrency", "4"),
    ];
    let p = b.post("/mirrors/upstreams", &fields).await;
    assert_eq!(p.status, 403, "no CSRF token");
    let p = b
        .submit("/mirrors/upstreams/new", "/mirrors/upstreams", &fields)
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/mirrors/upstreams/up"),
        "{}",
        p.body
    );
    let html = b.page("/mirrors/upstreams/up").await;
    assert!(
        html.contains("Added the upstream up."),
        "the message: {html}"
    );
    assert!(html.contains(&url) && html.contains("No password is set."));

    // Bad input comes back with the message and the values kept.
    let p = b
        .submit("/mirrors/upstreams/new", "/mirrors/upstreams", &fields)
        .await;
    assert_eq!(p.status, 409, "name in use: {}", p.body);
    assert!(
        p.body.contains("already exists") && p.body.contains(&url),
        "{}",
        p.body
    );
    let p = b
        .submit(
            "/mirrors/upstreams/new",
            "/mirrors/upstreams",
            &[
                ("name", "other"),
                ("url", "ftp://x"),
                ("max_concurrency", "4"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("must start with http") && p.body.contains("value=\"ftp://x\""));

    // The preview: the kept tags with digest, type, platforms and bytes; nothing saved and
    // no blob asked of the upstream.
    let rule = [
        ("name", "app"),
        ("upstream", "up"),
        ("from", "lib/app"),
        ("to", "mirror/app"),
        ("tags", "1.*\r\nmulti"),
        ("exclude", "*-rc*"),
        ("platforms", "linux/amd64"),
        ("every", ""),
        ("mode", "immediate"),
        ("deleted_upstream", "keep"),
    ];
    let mark = up.log_mark();
    let mut with_action = rule.to_vec();
    with_action.push(("action", "preview"));
    let p = b
        .submit("/mirrors/rules/new", "/mirrors/rules", &with_action)
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let preview = p
        .body
        .split("id=\"preview-heading\"")
        .nth(1)
        .expect("a preview section");
    let one = row_with(preview, "<code>1.0</code>").expect("1.0 previewed");
    assert!(one.contains(short(&v10.digest)), "{one}");
    assert!(one.contains(SCHEMA2), "{one}");
    assert!(
        one.contains(&bytes_text(image_bytes(&v10.images[0]))),
        "{one}"
    );
    let m = row_with(preview, "<code>multi</code>").expect("multi previewed");
    let amd64 = multi
        .images
        .iter()
        .find(|i| i.arch == "amd64")
        .expect("amd64");
    assert!(m.contains(short(&multi.digest)) && m.contains(LIST), "{m}");
    assert!(
        m.contains("linux/amd64") && m.contains("linux/arm64/v8"),
        "{m}"
    );
    assert!(m.contains(&bytes_text(image_bytes(amd64))), "{m}");
    assert!(!preview.contains("1.1-rc1"), "excluded tags are not listed");
    assert!(preview.contains("1 tag left out"), "{preview}");
    let total = image_bytes(&v10.images[0]) + image_bytes(amd64);
    assert!(preview.contains(&bytes_text(total)), "the total: {preview}");
    assert!(
        p.body.contains("value=\"lib/app\""),
        "the form keeps its values"
    );
    let asked = up.requests_since(mark);
    assert!(!asked.is_empty(), "the preview asked the upstream");
    let blobs: Vec<_> = asked
        .iter()
        .filter(|(_, p)| p.contains("/blobs/"))
        .collect();
    assert!(blobs.is_empty(), "the preview fetched blobs: {blobs:?}");
    assert_eq!(b.get("/mirrors/rules/app").await.status, 404, "not saved");

    // A bad pattern comes back with its message; an unreachable upstream is a message.
    let mut bad = with_action.clone();
    bad[4] = ("tags", "re:(");
    let p = b.submit("/mirrors/rules/new", "/mirrors/rules", &bad).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("regex") && p.body.contains("re:("),
        "{}",
        p.body
    );
    b.submit(
        "/mirrors/upstreams/new",
        "/mirrors/upstreams",
        &[
            ("name", "down"),
            ("url", "http://127.0.0.1:1"),
            ("max_concurrency", "1"),
        ],
    )
    .await;
    let mut down = with_action.clone();
    down[1] = ("upstream", "down");
    let p = b
        .submit("/mirrors/rules/new", "/mirrors/rules", &down)
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("could not be read: upstream unreachable"),
        "{}",
        p.body
    );

    // Save, then sync now while the session reads the event stream.
    let mut save = rule.to_vec();
    save.push(("action", "save"));
    let p = b
        .submit("/mirrors/rules/new", "/mirrors/rules", &save)
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/mirrors/rules/app"),
        "{}",
        p.body
    );
    let events = tokio::spawn(read_events(h.url("/api/v1/sync/events"), b.cookie_header()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = b
        .submit("/mirrors/rules/app", "/mirrors/rules/app/sync", &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location.starts_with("/mirrors/runs/"), "{}", p.location);
    let html = wait_for_run(&b, &h, &p.location).await;
    assert_eq!(run_state(&html), "succeeded", "{html}");
    for tag in ["1.0", "multi"] {
        let row = row_with(&html, &format!("data-key=\"mirror/app:{tag}\"")).expect(tag);
        assert!(row.contains(">new<"), "{row}");
    }
    for digest in v10.blob_digests() {
        assert!(
            html.contains(short(&digest)),
            "blob {digest} on the run page"
        );
    }

    let events = events.await.expect("events task");
    let blob_events: Vec<&serde_json::Value> = events
        .iter()
        .filter(|(k, _)| k == "blob")
        .map(|(_, v)| v)
        .collect();
    for digest in v10.blob_digests() {
        assert!(
            blob_events.iter().any(|e| e["digest"] == digest.as_str()),
            "no blob event for {digest}: {events:?}"
        );
    }
    assert!(events
        .iter()
        .any(|(k, v)| k == "tag" && v["tag"] == "multi"));

    // The mirrored tag is pullable, under the upstream's digest.
    let r = reqwest::Client::new()
        .get(h.url("/v2/mirror/app/manifests/1.0"))
        .header("authorization", basic("admin", ADMIN_PW))
        .header("accept", SCHEMA2)
        .send()
        .await
        .expect("pull");
    assert_eq!(r.status(), 200);
    assert_eq!(sha256(&r.bytes().await.expect("body")), v10.digest);

    // Drift: the same, until the upstream tag moves.
    let html = b.page("/mirrors/rules/app/drift").await;
    for tag in ["1.0", "multi"] {
        let row = row_with(&html, &format!("/tags/{tag}\"")).expect(tag);
        assert!(row.contains(">same<"), "{row}");
    }
    let moved = up.seed_image("lib/app", "1.0", &ImageSpec::new(&[700]).seed(9));
    let html = b.page("/mirrors/rules/app/drift").await;
    let row = row_with(&html, "/tags/1.0\"").expect("1.0");
    assert!(
        row.contains(">moved<") && row.contains(short(&moved.digest)),
        "{row}"
    );
    let row = row_with(&html, "/tags/multi\"").expect("multi");
    assert!(row.contains(">same<"), "{row}");

    // The overview and the run list.
    let html = b.page("/mirrors").await;
    let up_row = row_with(&html, "href=\"/mirrors/upstreams/up\"").expect("up");
    assert!(up_row.contains("last run succeeded"), "{up_row}");
    let rule_row = row_with(&html, "href=\"/mirrors/rules/app\"").expect("app");
    assert!(
        rule_row.contains("succeeded") && rule_row.contains("when asked"),
        "{rule_row}"
    );
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        2,
        "two charts"
    );
    assert!(
        html.contains("1 succeeded, 0 failed"),
        "the chart's words: {html}"
    );
    assert!(html.contains(&p.location), "recent runs link the run");
    let html = b.page("/mirrors/runs").await;
    assert!(
        html.contains(&p.location) && html.contains("2 new"),
        "{html}"
    );
}

/// Preview rule `x` of upstream `priv` (lib/x to mirror/x).
async fn preview_x(b: &Browser) -> Page {
    b.submit(
        "/mirrors/rules/new",
        "/mirrors/rules",
        &[
            ("name", "x"),
            ("upstream", "priv"),
            ("from", "lib/x"),
            ("to", "mirror/x"),
            ("action", "preview"),
        ],
    )
    .await
}

#[tokio::test]
async fn the_password_source_stays_on_edit_and_deletes_are_confirmed() {
    let up = Upstream::basic("puller", "pull-secret-1");
    up.seed_image("lib/x", "1", &ImageSpec::new(&[100]).seed(5));
    let h = start_auth("");
    let b = Browser::signed_in(&h, "admin", ADMIN_PW).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("password");
    std::fs::write(&secret, "pull-secret-1\n").expect("write secret");
    let secret = secret.display().to_string();

    let url = up.url();
    let p = b
        .submit(
            "/mirrors/upstreams/new",
            "/mirrors/upstreams",
            &[
                ("name", "priv"),
                ("url", &url),
                ("username", "puller"),
                ("password_file", &secret),
                ("tls_verify", "on"),
                ("max_concurrency", "2"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let html = b.page("/mirrors/upstreams/priv").await;
    assert!(html.contains("A password is set: from the file"), "{html}");
    assert!(
        !html.contains("pull-secret-1"),
        "the password is never shown"
    );
    assert!(
        html.contains("name=\"password_file\" value=\"\""),
        "the source is not filled in again: {html}"
    );

    let p = preview_x(&b).await;
    assert!(
        p.body.contains("<code>1</code>"),
        "credentials work: {}",
        p.body
    );

    // Edit with the password fields empty: the source stays, and so do the credentials.
    let p = b
        .submit(
            "/mirrors/upstreams/priv",
            "/mirrors/upstreams/priv",
            &[
                ("url", &url),
                ("username", "puller"),
                ("tls_verify", "on"),
                ("max_concurrency", "3"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let r = reqwest::Client::new()
        .get(h.url("/api/v1/upstreams/priv"))
        .header("authorization", basic("admin", ADMIN_PW))
        .send()
        .await
        .expect("GET upstream");
    let v: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(v["password_file"], secret.as_str(), "{v}");
    assert_eq!(v["max_concurrency"], 3);
    let p = preview_x(&b).await;
    assert!(p.body.contains("<code>1</code>"), "still works: {}", p.body);

    // Without a password the upstream refuses: the preview says so, no 500.
    let p = b
        .submit(
            "/mirrors/upstreams/priv",
            "/mirrors/upstreams/priv",
            &[
                ("url", &url),
                ("username", "puller"),
                ("clear_password", "on"),
                ("max_concurrency", "3"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(b
        .page("/mirrors/upstreams/priv")
        .await
        .contains("No password is set."));
    let p = preview_x(&b).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("refused the credentials"), "{}", p.body);

    // A proxy, with a bad value first.
    let p = b
        .submit(
            "/mirrors/proxies/new",
            "/mirrors/proxies",
            &[
                ("prefix", "pt"),
                ("upstream", "priv"),
                ("fresh_for", "soon"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("value=\"soon\""), "{}", p.body);
    let p = b
        .submit(
            "/mirrors/proxies/new",
            "/mirrors/proxies",
            &[("prefix", "pt"), ("upstream", "priv"), ("fresh_for", "1m")],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/mirrors/proxies/pt")
    );
    assert!(b.page("/mirrors/proxies/pt").await.contains("value=\"1m\""));

    // Deleting the upstream: confirmation page, refused while a prefix uses it.
    let html = b.page("/mirrors/upstreams/priv/delete").await;
    assert!(html.contains("Delete the upstream priv?") && html.contains("pull-through prefix pt"));
    let p = b.post("/mirrors/upstreams/priv/delete", &[]).await;
    assert_eq!(p.status, 403, "no CSRF token");
    let p = b
        .submit(
            "/mirrors/upstreams/priv/delete",
            "/mirrors/upstreams/priv/delete",
            &[],
        )
        .await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("used by"), "{}", p.body);
    let html = b.page("/mirrors/proxies/pt/delete").await;
    assert!(html.contains("Delete the pull-through prefix pt?"));
    let p = b
        .submit(
            "/mirrors/proxies/pt/delete",
            "/mirrors/proxies/pt/delete",
            &[],
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/mirrors"));
    assert_eq!(b.get("/mirrors/proxies/pt").await.status, 404);
    let p = b
        .submit(
            "/mirrors/upstreams/priv/delete",
            "/mirrors/upstreams/priv/delete",
            &[],
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/mirrors"));
    assert!(b
        .page("/mirrors")
        .await
        .contains("Deleted the upstream priv."));
    assert_eq!(b.get("/mirrors/upstreams/priv").await.status, 404);
    assert_eq!(b.get("/mirrors/upstreams/priv/delete").await.status, 404);
}

#[tokio::test]
async fn hostile_strings_stay_text_config_settings_are_read_only_and_only_admins_get_in() {
    let config = format!(
        "{}[[upstreams]]\nname = \"cfg\"\nurl = \"http://127.0.0.1:1\"\nhosts = [\"cfg.example\"]\n\n\
         [[mirrors]]\nname = \"cfgrule\"\nupstream = \"cfg\"\nfrom = \"lib/a\"\nto = \"cfg/a\"\nevery = \"24h\"\n",
        crate::access::auth_config("")
    );
    let h = Hoist::start_configured(&config, &[("HOIST_ADMIN_PASSWORD", ADMIN_PW)], &[]);
    let b = Browser::signed_in(&h, "admin", ADMIN_PW).await;

    // Settings from the config file are shown, not changed or deleted here.
    let html = b.page("/mirrors/upstreams/cfg").await;
    assert!(html.contains("Set in the config file") && html.contains("<fieldset disabled>"));
    assert!(!html.contains("Save upstream") && !html.contains("Delete upstream"));
    let p = b
        .submit(
            "/mirrors/upstreams/cfg",
            "/mirrors/upstreams/cfg",
            &[("url", "http://127.0.0.1:2"), ("max_concurrency", "1")],
        )
        .await;
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(p.body.contains("comes from the config file"), "{}", p.body);
    assert_eq!(b.get("/mirrors/upstreams/cfg/delete").await.status, 409);
    let html = b.page("/mirrors/rules/cfgrule").await;
    assert!(html.contains("Set in the config file") && html.contains("Sync now"));
    assert!(!html.contains("Save rule"));
    assert_eq!(b.get("/mirrors/rules/cfgrule/delete").await.status, 409);
    let html = b.page("/mirrors/proxies/cfg").await;
    assert!(html.contains("Made for the upstream cfg"), "{html}");
    assert_eq!(b.get("/mirrors/proxies/cfg/delete").await.status, 409);
    let html = b.page("/mirrors").await;
    let row = row_with(&html, "href=\"/mirrors/rules/cfgrule\"").expect("cfgrule");
    assert!(
        row.contains("config file") && row.contains("every 24h"),
        "{row}"
    );

    // A name the sync refuses comes back as text in the message and the field.
    let p = b
        .submit(
            "/mirrors/upstreams/new",
            "/mirrors/upstreams",
            &[
                ("name", XSS),
                ("url", "http://127.0.0.1:1"),
                ("max_concurrency", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert_escaped(&p.body, "the upstream form");
    assert!(p.body.contains("{{x}}"), "braces stay as they are");

    // A rule whose upstream repository is hostile: saved, synced, failed with an error
    // that names it.
    let p = b
        .submit(
            "/mirrors/upstreams/new",
            "/mirrors/upstreams",
            &[
                ("name", "down"),
                ("url", "http://127.0.0.1:1"),
                ("max_concurrency", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let from = format!("lib/{XSS}");
    let p = b
        .submit(
            "/mirrors/rules/new",
            "/mirrors/rules",
            &[
                ("name", "evil"),
                ("upstream", "down"),
                ("from", &from),
                ("to", "mirror/evil"),
                ("tags", "<script>alert(2)</script>"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b
        .submit("/mirrors/rules/evil", "/mirrors/rules/evil/sync", &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let run = p.location.clone();
    let html = wait_for_run(&b, &h, &run).await;
    assert_eq!(run_state(&html), "failed");
    assert_escaped(&html, "the run page");
    for path in [
        "/mirrors",
        "/mirrors/rules/evil",
        "/mirrors/runs",
        "/mirrors/upstreams/down",
    ] {
        let html = b.page(path).await;
        assert_escaped(&html, path);
    }
    assert!(b.page("/mirrors").await.contains("last run failed"));

    // Non-admins: every mirrors page and form is refused.
    add_user(&h.url(""), "bob", "bob-password-1", &[]).await;
    let bob = Browser::signed_in(&h, "bob", "bob-password-1").await;
    for path in [
        "/mirrors",
        "/mirrors/upstreams/new",
        "/mirrors/upstreams/down",
        "/mirrors/rules/evil",
        "/mirrors/rules/evil/drift",
        "/mirrors/runs",
        run.as_str(),
    ] {
        assert_eq!(bob.get(path).await.status, 403, "bob GET {path}");
    }
    let token = csrf(&bob.page("/").await);
    let p = bob
        .post("/mirrors/rules/evil/sync", &[("csrf", token.as_str())])
        .await;
    assert_eq!(p.status, 403, "bob may not sync");
    let r = reqwest::Client::new()
        .get(h.url("/api/v1/sync/events"))
        .header("cookie", bob.cookie_header())
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), 403, "nor read the event stream");
}

/// The text of element `css`, or "" when there is none.
async fn text_of(b: &crate::browser::Browser, css: &str) -> String {
    let script = format!(
        "var e = document.querySelector({}); return e ? e.textContent.trim() : '';",
        serde_json::to_string(css).expect("json")
    );
    b.js(&script).await.as_str().unwrap_or("").to_owned()
}

/// Wait until the browser is at a path starting with `prefix`.
async fn wait_path(b: &crate::browser::Browser, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b.path().await.starts_with(prefix) {
        assert!(
            Instant::now() < deadline,
            "not at {prefix} but {}: {}",
            b.path().await,
            b.text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn in_a_browser_a_run_page_follows_the_sync_live_and_the_pages_pass_the_checks() {
    let up = Upstream::open();
    let multi = up.seed_list("lib/web", "2.0", &ImageSpec::two_platforms(&[40_000, 9000]));
    let h = start_auth("");
    let base = format!("http://{}", h.addr);
    let b = crate::browser::Browser::start().await;
    b.sign_in(&base, "admin", ADMIN_PW).await;
    let mut problems = Vec::new();

    b.goto(&h.url("/mirrors")).await;
    problems.extend(b.check_page("mirrors, empty").await);
    b.goto(&h.url("/mirrors/upstreams/new")).await;
    problems.extend(b.check_page("new upstream").await);
    b.fill("#up-name", "up").await;
    b.fill("#up-url", &up.url()).await;
    // Slow enough that the run is still going when its page opens.
    b.fill("#up-rps", "1.5").await;
    b.click("form.mirror-form button[type=submit]").await;
    wait_path(&b, "/mirrors/upstreams/up").await;
    problems.extend(b.check_page("upstream").await);

    b.goto(&h.url("/mirrors/rules/new")).await;
    b.fill("#rule-name", "web").await;
    b.fill("#rule-from", "lib/web").await;
    b.fill("#rule-to", "mirror/web").await;
    b.click("button[value=preview]").await;
    b.wait_for("#preview-heading", 20).await;
    assert!(
        b.text().await.contains("linux/arm64/v8"),
        "{}",
        b.text().await
    );
    problems.extend(b.check_page("rule preview").await);
    let (_, p) = b.screenshots("mirrors-rule-preview").await;
    problems.extend(p);
    b.click("button[value=save]").await;
    wait_path(&b, "/mirrors/rules/web").await;
    problems.extend(b.check_page("rule").await);

    b.click(".rule-actions button[type=submit]").await;
    wait_path(&b, "/mirrors/runs/").await;
    b.js("window.__notReloaded = true; return true;").await;
    let first = text_of(&b, "#run-state").await;
    assert!(
        first == "queued" || first == "running",
        "the run should still be going when its page opens: {first}"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while text_of(&b, "#run-state").await != "succeeded" {
        assert!(
            Instant::now() < deadline,
            "not succeeded: {}\n{}",
            b.text().await,
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let same_page = b.js("return window.__notReloaded === true;").await;
    assert_eq!(
        same_page,
        serde_json::Value::Bool(true),
        "updated live, not reloaded"
    );
    let blob_rows = b
        .js("return document.querySelectorAll('#blob-rows tr progress').length;")
        .await;
    assert_eq!(
        blob_rows.as_u64(),
        Some(multi.blob_digests().len() as u64),
        "a row with a <progress> per blob: {}",
        b.text().await
    );
    let tag = text_of(&b, "#tag-rows tr[data-key='mirror/web:2.0']").await;
    assert!(tag.contains("new"), "{tag}");
    assert_eq!(text_of(&b, "[data-summary=tags_new]").await, "1");
    problems.extend(b.check_page("run, live").await);
    let (_, p) = b.screenshots("mirrors-run").await;
    problems.extend(p);

    for (path, what) in [
        ("/mirrors", "mirrors"),
        ("/mirrors/runs", "runs"),
        ("/mirrors/rules/web/drift", "drift"),
        ("/mirrors/rules/web/delete", "delete rule"),
        ("/mirrors/proxies/new", "new proxy"),
    ] {
        b.goto(&h.url(path)).await;
        problems.extend(b.check_page(what).await);
    }
    let (_, p) = b.screenshots("mirrors").await;
    problems.extend(p);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
