//! The console in a real browser (headless chromium through chromedriver, `browser.rs`):
//! signing in and out; every page with data in it checked with axe-core (light and dark),
//! for CSP violations and injected markup, and photographed at desktop and phone widths;
//! and the flows a person goes through: mirroring from a real upstream (create the upstream
//! and a rule, preview, sync now and watch the run finish live) and finding a repository,
//! copying its pull command and deleting a tag through the confirmation page.

use crate::access::{add_user, admin, start_auth, ADMIN_PW};
use crate::browser::Browser;
use crate::console_pages::{self as pages, Names};
use crate::harness::*;
use crate::upstream::{ImageSpec, Upstream};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A JSON API call as the admin; the answer's JSON.
async fn api(h: &Hoist, method: &str, path: &str, body: Value) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = admin()
        .request(method.clone(), h.url(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Wait for sync run `id` to finish; its record.
async fn finished_run(h: &Hoist, id: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = api(h, "GET", &format!("/api/v1/sync/runs/{id}"), Value::Null).await;
        if matches!(v["run"]["state"].as_str(), Some("succeeded" | "failed")) {
            return v["run"].clone();
        }
        assert!(Instant::now() < deadline, "run {id} did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A registry with something on every page: repositories with tags, an index, a mirror of
/// a real upstream that has run, a pull-through prefix, a user, a token and an access rule.
async fn seed_everything(h: &Hoist, up: &Upstream) -> Names {
    let c = admin();
    let digest = push_image(&c, h, "team/app", "1.0").await;
    push_image(&c, h, "team/app", "1.1").await;
    push_image(&c, h, "team/app", "latest").await;
    push_image(&c, h, "team/web", "latest").await;
    push_image(&c, h, "tools/build-runner", "2024.06").await;

    up.seed_image(
        "library/alpine",
        "3.19",
        &ImageSpec::new(&[2000, 8000]).seed(1),
    );
    up.seed_list("library/alpine", "3.20", &ImageSpec::two_platforms(&[3000]));
    api(
        h,
        "POST",
        "/api/v1/upstreams",
        json!({"name": "hub", "url": up.url()}),
    )
    .await;
    api(
        h,
        "POST",
        "/api/v1/mirrors",
        json!({"name": "alpine", "upstream": "hub", "from": "library/alpine",
               "to": "hub/library/alpine", "tags": ["3.*"]}),
    )
    .await;
    api(
        h,
        "POST",
        "/api/v1/proxies",
        json!({"prefix": "dockerhub", "upstream": "hub"}),
    )
    .await;
    let runs = api(h, "POST", "/api/v1/sync/runs", json!({"rules": ["alpine"]})).await;
    let run = runs["runs"][0].as_u64().expect("run id");
    let record = finished_run(h, run).await;
    assert_eq!(record["state"], "succeeded", "{record}");

    let base = format!("http://{}", h.addr);
    add_user(&base, "alice", "alice-password", &["dev"]).await;
    let token = api(
        h,
        "POST",
        "/api/v1/tokens",
        json!({"name": "ci-deploy", "scopes": [{"repos": ["team/**"], "actions": ["pull", "push"]}]}),
    )
    .await;
    let rule = api(
        h,
        "POST",
        "/api/v1/rules",
        json!({"who": "group:dev", "repos": ["team/**"], "actions": ["pull", "push"]}),
    )
    .await;
    Names {
        repo: "team/app".into(),
        tag: "1.0".into(),
        digest,
        upstream: "hub".into(),
        rule: "alpine".into(),
        proxy: "dockerhub".into(),
        run,
        user: "alice".into(),
        token: token["token"]["id"].as_str().expect("token id").into(),
        access_rule: rule["id"].as_str().expect("rule id").into(),
    }
}

/// A file name for a page: its example path without the names (`/` is the dashboard).
fn shot_name(example: &str) -> String {
    let name: String = example
        .trim_start_matches('/')
        .replace("/-/", "/")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    // Digests make long names: keep their first characters.
    let name: Vec<String> = name
        .into_iter()
        .map(|s| s.chars().take(12).collect())
        .collect();
    if name.is_empty() {
        "dashboard".into()
    } else {
        name.join("-")
    }
}

#[tokio::test]
async fn every_page_passes_axe_and_the_csp_checks_and_is_photographed_then_sign_out() {
    let h = start_auth("");
    let up = Upstream::open();
    let names = seed_everything(&h, &up).await;
    let base = format!("http://{}", h.addr);
    let started = Instant::now();
    let b = Browser::start().await;
    let mut problems = Vec::new();

    // Signed out: every page sends the browser to sign in, and back afterwards.
    b.goto(&h.url("/mirrors")).await;
    assert_eq!(b.path().await, "/login?next=/mirrors");
    problems.extend(b.check_page("/login").await);
    problems.extend(b.screenshots("login").await.1);
    b.sign_in(&base, "admin", ADMIN_PW).await;
    assert_eq!(
        b.path().await,
        "/mirrors",
        "back where the browser was going"
    );

    // Every console page of the endpoint table, with real names.
    let mut shots = Vec::new();
    let routes = pages::console_pages(&names);
    for (example, real) in &routes {
        b.goto(&h.url(real)).await;
        let status = b.status().await;
        if status != 200 {
            problems.push(format!("{real}: status {status}, not 200"));
        }
        problems.extend(b.check_page(real).await);
        let (files, p) = b.screenshots(&shot_name(example)).await;
        problems.extend(p);
        shots.extend(files);
    }
    // An error page too.
    b.goto(&h.url("/repositories/no/such-thing")).await;
    assert_eq!(b.status().await, 404);
    problems.extend(b.check_page("a 404 page").await);
    let (files, p) = b.screenshots("error-404").await;
    problems.extend(p);
    shots.extend(files);

    // Signing out from the page header ends the session.
    b.goto(&h.url("/")).await;
    b.follow("form[action='/logout'] button[type=submit]").await;
    assert!(b.path().await.starts_with("/login"), "{}", b.path().await);
    b.goto(&h.url("/repositories")).await;
    assert_eq!(b.path().await, "/login?next=/repositories", "signed out");

    // A user who is not an admin: fewer sections, and a page saying no where they may not go.
    b.sign_in(&base, "alice", "alice-password").await;
    let nav = b.find("nav.sections").await.text().await.expect("nav");
    assert!(
        !nav.contains("Mirrors") && !nav.contains("Settings"),
        "{nav}"
    );
    for (path, status) in [
        ("/repositories", 200),
        ("/repositories/team/app", 200),
        ("/access/password", 200),
        ("/mirrors", 403),
        ("/settings", 403),
    ] {
        b.goto(&h.url(path)).await;
        let got = b.status().await;
        if got != status {
            problems.push(format!("alice: {path}: status {got}, not {status}"));
        }
        problems.extend(b.check_page(&format!("alice: {path}")).await);
    }
    let (files, p) = b.screenshots("error-403").await;
    problems.extend(p);
    shots.extend(files);
    eprintln!(
        "{} pages checked with axe in light and dark, {} screenshots in {}, {:.1} s",
        routes.len() + 7,
        shots.len(),
        crate::browser::screenshot_dir().display(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn mirror_an_upstream_create_it_and_a_rule_preview_sync_and_watch_the_run_finish() {
    let h = start_auth("");
    let up = Upstream::open();
    up.seed_image(
        "library/alpine",
        "3.19",
        &ImageSpec::new(&[2000, 8000]).seed(1),
    );
    up.seed_image("library/alpine", "3.20", &ImageSpec::new(&[3000]).seed(2));
    up.seed_image("library/alpine", "edge", &ImageSpec::new(&[100]).seed(3));
    let base = format!("http://{}", h.addr);
    let b = Browser::start().await;
    let mut problems = Vec::new();
    b.goto(&h.url("/mirrors")).await;
    b.sign_in(&base, "admin", ADMIN_PW).await;
    assert_eq!(b.path().await, "/mirrors");

    // The upstream, slowed to 2 requests a second so the run is seen while it runs.
    b.follow("a[href='/mirrors/upstreams/new']").await;
    assert_eq!(b.path().await, "/mirrors/upstreams/new");
    b.fill("#up-name", "hub").await;
    b.fill("#up-url", &up.url()).await;
    b.fill("#up-rps", "2").await;
    b.follow("form.mirror-form button[type=submit]").await;
    assert_eq!(b.path().await, "/mirrors/upstreams/hub");
    let flash = b.find(".flash").await.text().await.expect("flash");
    assert!(flash.contains("hub"), "{flash}");

    // A rule, previewed first: the tags it would fetch, and nothing saved yet.
    b.goto(&h.url("/mirrors")).await;
    b.follow("a.button[href='/mirrors/rules/new']").await;
    b.fill("#rule-name", "alpine").await;
    b.find("#rule-upstream")
        .await
        .select_by_value("hub")
        .await
        .expect("select the upstream");
    b.fill("#rule-from", "library/alpine").await;
    b.fill("#rule-to", "hub/alpine").await;
    b.fill("#rule-tags", "3.*").await;
    b.follow("button[name=action][value=preview]").await;
    let preview = b.wait_for("section.preview", 30).await;
    let text = preview.text().await.expect("preview text");
    assert!(
        text.contains("3.19") && text.contains("3.20") && !text.contains("edge"),
        "the preview: {text}"
    );
    assert!(
        text.contains("2 tags"),
        "the preview counts the tags: {text}"
    );
    problems.extend(b.check_page("the rule's preview").await);
    problems.extend(b.screenshots("flow-rule-preview").await.1);
    let saved = api(&h, "GET", "/api/v1/mirrors", Value::Null).await;
    assert_eq!(saved["mirrors"], json!([]), "a preview saves nothing");
    assert_eq!(
        b.find("#rule-tags")
            .await
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("3.*"),
        "the form keeps what was typed"
    );
    b.follow("button[name=action][value=save]").await;
    assert_eq!(b.path().await, "/mirrors/rules/alpine");

    // Sync now: the run's page follows the run live until it is done.
    b.follow("form[action='/mirrors/rules/alpine/sync'] button[type=submit]")
        .await;
    let path = b.path().await;
    assert!(path.starts_with("/mirrors/runs/"), "{path}");
    let first = b.find("#run-state").await.text().await.expect("state");
    b.js("window.__samePage = true; return true;").await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = vec![first.clone()];
    loop {
        let state = b.find("#run-state").await.text().await.expect("state");
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "succeeded" || state == "failed" {
            break;
        }
        if Instant::now() > deadline {
            let id = path.trim_start_matches("/mirrors/runs/");
            let record = api(&h, "GET", &format!("/api/v1/sync/runs/{id}"), Value::Null).await;
            panic!(
                "the run page still says {state} (states seen {seen:?}); the run: {}; the page: {}",
                record["run"],
                b.text().await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("succeeded"),
        "states seen: {seen:?}"
    );
    assert!(
        first == "queued" || first == "running",
        "the run was already over when its page showed ({first}); it cannot have been watched"
    );
    assert_eq!(
        b.js("return window.__samePage === true;").await,
        Value::Bool(true),
        "the page updated itself (server-sent events), without reloading"
    );
    let run_text = b.text().await;
    assert!(
        run_text.contains("3.19") && run_text.contains("3.20"),
        "{run_text}"
    );
    problems.extend(b.check_page("the finished run").await);
    problems.extend(b.screenshots("flow-run-done").await.1);
    let tags = admin()
        .get(h.url("/v2/hub/alpine/tags/list"))
        .send()
        .await
        .expect("tags")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(tags["tags"], json!(["3.19", "3.20"]));
    eprintln!("run states seen live: {seen:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn find_a_repository_copy_its_pull_command_and_delete_a_tag_through_the_confirmation() {
    let h = start_auth("");
    let c = admin();
    for (repo, tag) in [
        ("team/app", "1.0"),
        ("team/app", "1.1"),
        ("team/web", "latest"),
        ("team/web", "stable"),
        ("other/thing", "2"),
    ] {
        push_image(&c, &h, repo, tag).await;
    }
    let base = format!("http://{}", h.addr);
    let b = Browser::start().await;
    let mut problems = Vec::new();
    b.goto(&h.url("/repositories")).await;
    b.sign_in(&base, "admin", ADMIN_PW).await;
    assert_eq!(b.path().await, "/repositories");

    // Search as you type: the results change without a page load.
    b.js("window.__samePage = true; return true;").await;
    b.find("#repo-q")
        .await
        .send_keys("web")
        .await
        .expect("type");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let results = b.find("#results").await.text().await.expect("results");
        if results.contains("team/web") && !results.contains("team/app") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the results did not narrow: {results}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        b.js("return window.__samePage === true;").await,
        Value::Bool(true)
    );
    // And with the button, as without script.
    b.follow("form[role=search] button[type=submit]").await;
    assert!(b.path().await.contains("q=web"), "{}", b.path().await);
    let results = b.find("#results").await.text().await.expect("results");
    assert!(
        results.contains("team/web") && !results.contains("other/thing"),
        "{results}"
    );
    problems.extend(b.check_page("a search").await);

    // The repository, its tag, and the pull command copied.
    b.follow("#results a[href='/repositories/team/web']").await;
    assert_eq!(b.path().await, "/repositories/team/web");
    b.follow("a[href='/repositories/team/web/-/tags/latest']")
        .await;
    assert_eq!(b.path().await, "/repositories/team/web/-/tags/latest");
    let button = b.find("button.copy[data-copy^='docker pull']").await;
    assert!(
        button.is_displayed().await.expect("displayed"),
        "script shows copy buttons"
    );
    let command = button
        .attr("data-copy")
        .await
        .expect("attr")
        .expect("data-copy");
    assert!(
        command.contains("team/web:latest") || command.contains("team/web@"),
        "{command}"
    );
    button.click().await.expect("click copy");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Read as a screen reader would: the status line is off screen.
        let status = b
            .js("return document.getElementById('copy-status').textContent;")
            .await;
        let status = status.as_str().unwrap_or("").to_owned();
        if status.starts_with("Copied") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no copy confirmation (status {status:?}, button {:?})",
            button.text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clipboard = b
        .client
        .execute_async(
            "var done = arguments[0]; navigator.clipboard.readText().then(done, function (e) { done('unreadable: ' + e); });",
            Vec::new(),
        )
        .await
        .expect("read the clipboard");
    assert_eq!(clipboard.as_str(), Some(command.as_str()), "the clipboard");

    // Delete the tag: a page of its own asks first, then the tag is gone.
    b.follow("a.danger[href='/repositories/team/web/-/tags/latest/delete']")
        .await;
    assert_eq!(
        b.path().await,
        "/repositories/team/web/-/tags/latest/delete"
    );
    let question = b.find("h1").await.text().await.expect("h1");
    assert!(question.contains("latest"), "{question}");
    problems.extend(b.check_page("the confirmation").await);
    problems.extend(b.screenshots("flow-confirm-delete-tag").await.1);
    let still = c
        .get(h.url("/v2/team/web/tags/list"))
        .send()
        .await
        .expect("tags");
    let still: Value = still.json().await.expect("json");
    assert_eq!(
        still["tags"],
        json!(["latest", "stable"]),
        "nothing deleted by looking"
    );
    b.follow(".confirm button.danger[type=submit]").await;
    let flash = b.find(".flash").await.text().await.expect("flash");
    assert!(flash.contains("latest"), "{flash}");
    let after: Value = c
        .get(h.url("/v2/team/web/tags/list"))
        .send()
        .await
        .expect("tags")
        .json()
        .await
        .expect("json");
    assert_eq!(after["tags"], json!(["stable"]));
    problems.extend(b.check_page("after the delete").await);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checks can fail: markup the console must never have is found on a page.
#[tokio::test]
async fn the_page_checks_catch_inaccessible_and_injected_markup() {
    let h = Hoist::start();
    let b = Browser::start().await;
    b.goto(&h.url("/login")).await;
    let clean = b.check_page("login").await;
    assert!(clean.is_empty(), "the login page: {}", clean.join("\n"));
    b.js(r#"
        var main = document.getElementById("main");
        main.insertAdjacentHTML("beforeend", '<img src="x"><input id="nolabel"><p onclick="x()">p</p>');
        var s = document.createElement("script");
        s.textContent = "alert(1)";
        document.body.appendChild(s);
        main.setAttribute("style", "color: red");
        return true;"#)
        .await;
    let found = b.check_page("doctored login").await.join("\n");
    for want in [
        "a CSP violation: script-src",
        "a CSP violation: style-src",
        "an inline <script>",
        "a handler attribute onclick",
        "a style attribute on <main>",
        "an injected-looking <img>",
        "critical image-alt",
        "critical label",
    ] {
        assert!(
            found.contains(want),
            "the checks missed {want:?}; they found:\n{found}"
        );
    }
    assert!(
        !found.contains("a dialog"),
        "the blocked script ran: {found}"
    );
    // And a page wider than a phone.
    b.js("var d = document.createElement('div'); d.style.width = '2000px'; d.textContent = 'wide'; document.getElementById('main').appendChild(d); return true;")
        .await;
    let (_, wide) = b.screenshots("selftest-wide").await;
    assert_eq!(wide.len(), 1, "{wide:?}");
    for file in ["selftest-wide-1280.png", "selftest-wide-390.png"] {
        let _ = std::fs::remove_file(crate::browser::screenshot_dir().join(file));
    }
}
