//! What the console's page walks share: signing in over plain HTTP, the console's GET routes
//! from the endpoint table with real names put in for the examples, and following the links
//! a page shows.

use crate::access::{no_redirects, ADMIN_PW};
use crate::harness::Hoist;
use hoist::http::endpoints::Access;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The things a walk names in URLs instead of the endpoint table's examples.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub repo: String,
    pub tag: String,
    pub digest: String,
    pub upstream: String,
    pub rule: String,
    pub proxy: String,
    pub run: u64,
    pub user: String,
    pub token: String,
    pub access_rule: String,
}

/// Each example in the endpoint table (`admin/*`'s `ENDPOINTS`) and what stands for it.
fn substitutions(n: &Names) -> Vec<(String, String)> {
    let example_digest = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    vec![
        (
            "/repositories/team/app".into(),
            format!("/repositories/{}", n.repo),
        ),
        ("/-/tags/latest".into(), format!("/-/tags/{}", n.tag)),
        (
            format!("/-/manifests/{example_digest}"),
            format!("/-/manifests/{}", n.digest),
        ),
        (
            "/mirrors/upstreams/hub".into(),
            format!("/mirrors/upstreams/{}", encode_path(&n.upstream)),
        ),
        (
            "/mirrors/proxies/hub".into(),
            format!("/mirrors/proxies/{}", encode_path(&n.proxy)),
        ),
        (
            "/mirrors/rules/alpine".into(),
            format!("/mirrors/rules/{}", encode_path(&n.rule)),
        ),
        ("/mirrors/runs/1".into(), format!("/mirrors/runs/{}", n.run)),
        (
            "/access/users/bob".into(),
            format!("/access/users/{}", encode_path(&n.user)),
        ),
        (
            "/access/tokens/0123456789abcdef".into(),
            format!("/access/tokens/{}", n.token),
        ),
        (
            "/access/rules/abc".into(),
            format!("/access/rules/{}", n.access_rule),
        ),
    ]
}

/// The endpoint table's example path with `names` put in.
pub fn real_path(example: &str, names: &Names) -> String {
    let mut path = example.to_owned();
    for (from, to) in substitutions(names) {
        if let Some(at) = path.find(&from) {
            let end = at + from.len();
            if end == path.len() || path[end..].starts_with('/') {
                path = format!("{}{to}{}", &path[..at], &path[end..]);
            }
        }
    }
    path
}

/// Every console page a GET reaches (the table's Console routes with GET), as (example,
/// real path).
pub fn console_pages(names: &Names) -> Vec<(String, String)> {
    let pages: Vec<(String, String)> = hoist::app::endpoints()
        .into_iter()
        .filter(|e| e.access == Access::Console && e.methods.contains(&"GET"))
        .map(|e| (e.path.to_owned(), real_path(e.path, names)))
        .collect();
    assert!(
        pages.len() >= 10,
        "the endpoint table lists only {} console pages: {pages:?}",
        pages.len()
    );
    pages
}

/// Percent-encode a path: everything but unreserved characters and `/`.
pub fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode a query value.
pub fn encode_query(s: &str) -> String {
    encode_path(s).replace('/', "%2F")
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

/// One try at the login form as `user`: the answer to the POST (a 303 with a session
/// cookie when it worked).
pub async fn login_attempt(h: &Hoist, user: &str, password: &str) -> reqwest::Response {
    let c = no_redirects();
    let r = c.get(h.url("/login")).send().await.expect("GET /login");
    let cookie = set_cookie(&r, "hoist_login_csrf").expect("login csrf cookie");
    let html = r.text().await.expect("body");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf field")
        .to_owned();
    c.post(h.url("/login"))
        .header("cookie", format!("hoist_login_csrf={cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("next", "/"),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /login")
}

/// Sign in as `user` through the login form; the `Cookie` header of the session.
pub async fn session(h: &Hoist, user: &str, password: &str) -> String {
    let r = login_attempt(h, user, password).await;
    assert_eq!(r.status(), 303, "sign in as {user}");
    let session = set_cookie(&r, "hoist_session").expect("session cookie");
    format!("hoist_session={session}")
}

/// The admin's session.
pub async fn admin_session(h: &Hoist) -> String {
    session(h, "admin", ADMIN_PW).await
}

/// The same-site links of a page (`href="/..."`), entities decoded, without fragments.
pub fn links(html: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"href="(/[^"]*)""#).expect("regex");
    re.captures_iter(html)
        .map(|c| {
            c[1].replace("&amp;", "&")
                .replace("&#x2F;", "/")
                .replace("&#x2f;", "/")
                .replace("&#x27;", "'")
                .replace("&quot;", "\"")
                .split('#')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("/static/"))
        .collect()
}

/// A page fetched with a session.
pub struct Fetched {
    pub url: String,
    pub status: u16,
    pub content_type: String,
    pub csp: String,
    pub body: String,
}

pub async fn fetch(c: &reqwest::Client, h: &Hoist, cookie: &str, path: &str) -> Fetched {
    let r = c
        .get(h.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, csp) = (header("content-type"), header("content-security-policy"));
    let status = r.status().as_u16();
    Fetched {
        url: path.to_owned(),
        status,
        content_type,
        csp,
        body: r.text().await.unwrap_or_default(),
    }
}

/// Pages reached from `start` by following links (breadth first), at most `limit` pages
/// and `per_route` query variants of one path; each with what `fetch` gave.
pub async fn crawl(
    h: &Hoist,
    cookie: &str,
    start: &[String],
    limit: usize,
    per_route: usize,
) -> Vec<Fetched> {
    let c = no_redirects();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut variants: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<String> = start.iter().cloned().collect();
    let mut out = Vec::new();
    while let Some(url) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(url.clone()) || url.starts_with("/logout") {
            continue;
        }
        let route = url.split('?').next().unwrap_or("").to_owned();
        let n = variants.entry(route).or_default();
        *n += 1;
        if *n > per_route {
            continue;
        }
        let page = fetch(&c, h, cookie, &url).await;
        if page.content_type.starts_with("text/html") {
            queue.extend(links(&page.body));
        }
        out.push(page);
    }
    out
}

/// The value of `directive` in a Content-Security-Policy (`default-src` standing in).
pub fn csp_directive(csp: &str, directive: &str) -> Option<String> {
    let find = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .map(str::to_owned)
    };
    find(directive).or_else(|| find("default-src"))
}

/// What is wrong with a console HTML response's headers: no CSP, or one letting inline
/// script or style (or `eval`) in.
pub fn csp_problems(page: &Fetched) -> Vec<String> {
    let mut out = Vec::new();
    if page.csp.is_empty() {
        out.push(format!("{}: no Content-Security-Policy", page.url));
        return out;
    }
    for directive in ["script-src", "style-src"] {
        match csp_directive(&page.csp, directive) {
            None => out.push(format!("{}: the CSP has no {directive}", page.url)),
            Some(d)
                if d.contains("unsafe-inline") || d.contains("unsafe-eval") || d.contains('*') =>
            {
                out.push(format!("{}: {d}", page.url))
            }
            Some(_) => {}
        }
    }
    out
}

#[test]
fn real_paths_replace_every_example() {
    let n = Names {
        repo: "r/x".into(),
        tag: "t1".into(),
        digest: "sha256:ab".into(),
        upstream: "up".into(),
        rule: "ru".into(),
        proxy: "px/y".into(),
        run: 7,
        user: "u".into(),
        token: "tok".into(),
        access_rule: "ar".into(),
    };
    let d = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    for (example, want) in [
        ("/repositories", "/repositories"),
        ("/repositories/team/app", "/repositories/r/x"),
        (
            "/repositories/team/app/-/tags/latest",
            "/repositories/r/x/-/tags/t1",
        ),
        (
            "/repositories/team/app/-/tags/latest/delete",
            "/repositories/r/x/-/tags/t1/delete",
        ),
        (
            &format!("/repositories/team/app/-/manifests/{d}/delete"),
            "/repositories/r/x/-/manifests/sha256:ab/delete",
        ),
        (
            "/mirrors/upstreams/hub/delete",
            "/mirrors/upstreams/up/delete",
        ),
        ("/mirrors/upstreams/new", "/mirrors/upstreams/new"),
        ("/mirrors/proxies/hub", "/mirrors/proxies/px/y"),
        ("/mirrors/rules/alpine/drift", "/mirrors/rules/ru/drift"),
        ("/mirrors/runs/1", "/mirrors/runs/7"),
        ("/mirrors/runs", "/mirrors/runs"),
        ("/access/users/bob", "/access/users/u"),
        (
            "/access/tokens/0123456789abcdef/revoke",
            "/access/tokens/tok/revoke",
        ),
        ("/access/rules/abc/delete", "/access/rules/ar/delete"),
    ] {
        assert_eq!(real_path(example, &n), want, "{example}");
    }
}
