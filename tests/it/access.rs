//! Access control, end to end against the real binary: every endpoint refuses a caller
//! without credentials, the admin account made at first start, the Docker token flow by
//! hand, what tokens may and may not do, anonymous pull, blob mounts, the console's login
//! and CSRF checks, the lockout after failed logins, the audit log and `hoist user`.
//!
//! The helpers here (`Server`, `start_auth`, `basic`, `token`, ...) serve
//! `access_clients.rs` and `tls.rs` too.

use crate::harness::*;
use crate::rawhttp::{loopback, request_from};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use hoist::http::endpoints::Access;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The admin password the tests give through `HOIST_ADMIN_PASSWORD`.
pub(crate) const ADMIN_PW: &str = "admin-password-1";

/// `[auth] enabled = true` plus `extra` (more `[auth]` keys, then `[[auth.rules]]`).
pub(crate) fn auth_config(extra: &str) -> String {
    format!("[auth]\nenabled = true\n{extra}\n")
}

/// hoist on 127.0.0.1 with access control on, `admin` / [`ADMIN_PW`], and `extra` in the
/// `[auth]` section.
pub(crate) fn start_auth(extra: &str) -> Hoist {
    Hoist::start_configured(
        &auth_config(extra),
        &[("HOIST_ADMIN_PASSWORD", ADMIN_PW)],
        &[],
    )
}

/// `Basic <base64(user:password)>`
pub(crate) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

/// A client that follows no redirects.
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// A client sending `authorization` with every request (so the harness's push helpers work
/// with credentials).
pub(crate) fn authed(authorization: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        authorization.parse().expect("header value"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// The admin's client (Basic).
pub(crate) fn admin() -> reqwest::Client {
    authed(&basic("admin", ADMIN_PW))
}

/// `Bearer <token>`
pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A header's value as text ("" when absent).
pub(crate) fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The parameters of a `Bearer realm="...",service="...",...` challenge (quoted values may
/// hold commas, as `scope="repository:a:pull,push"` does).
pub(crate) fn challenge(value: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(rest) = value.strip_prefix("Bearer ") else {
        return out;
    };
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || *c == ' ') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.insert(key.trim().to_owned(), value);
    }
}

/// The claims of a JWT (not verified).
pub(crate) fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = BASE64URL_NOPAD
        .decode(payload.as_bytes())
        .expect("payload is base64url");
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

/// The actions a token's `access` claim grants on `repository:<repo>`.
pub(crate) fn granted(token: &str, repo: &str) -> Vec<String> {
    claims(token)["access"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["type"] == "repository" && a["name"] == repo)
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// `GET <base>/token?service=hoist&scope=...` with these credentials (or none); its JSON,
/// panicking unless 200.
pub(crate) async fn token(base: &str, creds: Option<(&str, &str)>, scopes: &[&str]) -> Value {
    let mut query: Vec<(&str, &str)> = vec![("service", "hoist")];
    query.extend(scopes.iter().map(|s| ("scope", *s)));
    let mut req = no_redirects().get(format!("{base}/token")).query(&query);
    if let Some((u, p)) = creds {
        req = req.header("authorization", basic(u, p));
    }
    let r = req.send().await.expect("GET /token");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "GET /token {scopes:?} as {creds:?}: {text}");
    serde_json::from_str(&text).expect("token answer is JSON")
}

/// The access token of a `/token` answer (`token`, and `access_token` the same).
pub(crate) fn access_token(answer: &Value) -> String {
    let t = answer["token"].as_str().expect("token").to_owned();
    assert_eq!(answer["access_token"], t.as_str(), "access_token = token");
    t
}

/// Add a user through the API as the admin.
pub(crate) async fn add_user(base: &str, name: &str, password: &str, groups: &[&str]) {
    let r = admin()
        .post(format!("{base}/api/v1/users"))
        .json(&json!({"name": name, "password": password, "groups": groups}))
        .send()
        .await
        .expect("POST /api/v1/users");
    let status = r.status();
    assert_eq!(
        status,
        201,
        "add user {name}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Make an access token through the API as the admin: (id, secret).
pub(crate) async fn add_access_token(base: &str, name: &str, scopes: Value) -> (String, String) {
    let r = admin()
        .post(format!("{base}/api/v1/tokens"))
        .json(&json!({"name": name, "scopes": scopes}))
        .send()
        .await
        .expect("POST /api/v1/tokens");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 201, "make token {name}: {text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let id = v["token"]["id"].as_str().expect("token.id").to_owned();
    let secret = v["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("hoist_"), "{secret}");
    (id, secret)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.expect("request").status().as_u16()
}

// ---------------------------------------------------------------------------------------------
// A hoist started by hand, for what the harness does not give: any `--listen`, every line it
// prints on stdout, its pid.

/// A running hoist with its stdout lines; killed when dropped.
pub(crate) struct Server {
    child: Option<Child>,
    /// The address as the listening line printed it (`0.0.0.0:<port>`, `127.0.0.1:<port>`).
    pub addr: String,
    /// `http` or `https`, as the listening line said.
    pub scheme: String,
    lines: Arc<Mutex<Vec<String>>>,
    pub data_dir: PathBuf,
    root: Arc<tempfile::TempDir>,
    listen: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where this process's part of the (appended) log starts.
    log_from: usize,
}

impl Server {
    /// Start `hoist serve --listen <listen>` on a fresh data dir with `config` as its config
    /// file and `env` (none of the `HOIST_*` access-control variables of the test's own
    /// environment).
    pub(crate) fn start(listen: &str, config: &str, env: &[(&str, &str)]) -> Server {
        let root = Arc::new(tempfile::tempdir().expect("temp dir"));
        let path = root.path().join("hoist.toml");
        std::fs::write(&path, config).expect("write config");
        let args = vec!["--config".to_owned(), path.display().to_string()];
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let data_dir = root.path().join("data");
        Self::spawn(root, data_dir, listen.to_owned(), args, env)
    }

    fn spawn(
        root: Arc<tempfile::TempDir>,
        data_dir: PathBuf,
        listen: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Server {
        let log_path = root.path().join("hoist.log");
        let log_from = std::fs::metadata(&log_path).map_or(0, |m| m.len() as usize);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.args(["serve", "--listen", &listen, "--data-dir"])
            .arg(&data_dir)
            .args(&args);
        for var in [
            "HOIST_ADMIN_PASSWORD",
            "HOIST_AUTH_ENABLED",
            "HOIST_PUBLIC_URL",
            "HOIST_TLS_CERT",
            "HOIST_TLS_KEY",
            "HOIST_LISTEN",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HOIST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start hoist");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                keep.lock().expect("lines").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "hoist did not start; log: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )
            });
        let (scheme, addr) = first
            .strip_prefix("hoist listening on ")
            .and_then(|rest| rest.split_once("://"))
            .unwrap_or_else(|| panic!("first line is not the listening line: {first:?}"));
        Server {
            child: Some(child),
            addr: addr.trim().to_owned(),
            scheme: scheme.to_owned(),
            lines,
            data_dir,
            root,
            listen,
            args,
            env,
            log_from,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the address")
    }

    /// `<scheme>://127.0.0.1:<port><path>`: reached on loopback whatever it listens on.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port())
    }

    pub(crate) fn base(&self) -> String {
        self.url("")
    }

    /// This process's log so far.
    pub(crate) fn log(&self) -> String {
        let all = std::fs::read(self.root.path().join("hoist.log")).unwrap_or_default();
        String::from_utf8_lossy(&all[self.log_from.min(all.len())..]).into_owned()
    }

    /// Every line it printed on stdout, once it logged `serving` (after it flushed stdout).
    pub(crate) fn stdout(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains("serving") {
            assert!(
                Instant::now() < deadline,
                "hoist never logged `serving`: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The reader thread may still be handing over the last lines.
        std::thread::sleep(Duration::from_millis(300));
        self.lines.lock().expect("lines").clone()
    }

    /// SIGTERM, wait for a graceful exit, start again on the same data dir and config.
    pub(crate) fn restart(mut self) -> Server {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(child.wait().expect("wait").success(), "graceful exit");
        let (root, data_dir) = (Arc::clone(&self.root), self.data_dir.clone());
        let (listen, args, env) = (
            std::mem::take(&mut self.listen),
            std::mem::take(&mut self.args),
            std::mem::take(&mut self.env),
        );
        drop(self);
        Self::spawn(root, data_dir, listen, args, env)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The route walk

#[tokio::test]
async fn every_endpoint_refuses_a_caller_without_credentials() {
    let h = start_auth("");
    let c = no_redirects();
    let endpoints = hoist::app::endpoints();
    for kind in [Access::Registry, Access::Api, Access::Console, Access::Open] {
        assert!(
            endpoints.iter().any(|e| e.access == kind),
            "the endpoint table has no {kind:?} endpoint: the walk would prove little"
        );
    }
    let realm = format!("http://{}/token", h.addr);
    let mut failures = Vec::new();
    let mut walked = 0;
    // Once with no credentials at all, once with a bearer token that is no token and a
    // session cookie that names no session.
    for garbage in [false, true] {
        for e in &endpoints {
            for m in e.methods {
                walked += 1;
                let method = reqwest::Method::from_bytes(m.as_bytes()).expect("method");
                let mut req = c.request(method, h.url(e.path));
                if garbage {
                    req = req
                        .header("authorization", "Bearer not.a.token")
                        .header("cookie", "hoist_session=no-such-session");
                }
                let r = req.send().await.expect("request");
                let status = r.status().as_u16();
                let www = header(&r, "www-authenticate");
                let location = header(&r, "location");
                let what = format!(
                    "{m} {} ({:?}{}) -> {status}, WWW-Authenticate {www:?}, Location {location:?}",
                    e.path,
                    e.access,
                    if garbage { ", bad credentials" } else { "" }
                );
                let ok = match e.access {
                    Access::Registry => {
                        let params = challenge(&www);
                        status == 401
                            && (!e.path.starts_with("/v2")
                                || (www.starts_with("Bearer realm=\"")
                                    && params.get("realm") == Some(&realm)
                                    && params.get("service").map(String::as_str) == Some("hoist")))
                    }
                    Access::Api => status == 401,
                    Access::Console => status == 303 && location.starts_with("/login?next="),
                    // Bad credentials sent to /token are rightly refused; none must not be.
                    Access::Open => (garbage || status != 401) && status < 500,
                };
                if !ok {
                    failures.push(what);
                }
            }
        }
    }
    assert!(walked >= 2 * endpoints.len());
    assert!(
        failures.is_empty(),
        "endpoints that answered a caller without (good) credentials wrongly:\n{}\nhoist log:\n{}",
        failures.join("\n"),
        h.log()
    );
}

// ---------------------------------------------------------------------------------------------
// The first admin

const CREATED: &str = "hoist created the user admin with password ";

#[tokio::test]
async fn listening_beyond_loopback_turns_access_control_on_and_makes_an_admin_once() {
    let s = Server::start("0.0.0.0:0", "", &[]);
    assert!(s.addr.starts_with("0.0.0.0:"), "{}", s.addr);
    let c = no_redirects();
    let r = c.get(s.url("/v2/")).send().await.expect("GET /v2/");
    assert_eq!(r.status(), 401, "auth came on by itself on 0.0.0.0");
    assert!(header(&r, "www-authenticate").starts_with("Bearer realm="));

    let lines = s.stdout();
    let created: Vec<&String> = lines.iter().filter(|l| l.contains(CREATED)).collect();
    assert_eq!(
        created.len(),
        1,
        "one line gives the admin password: {lines:?}"
    );
    assert_eq!(
        lines.iter().position(|l| l.contains(CREATED)),
        Some(1),
        "it is the line after the listening line: {lines:?}"
    );
    let password = created[0]
        .split(CREATED)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the password")
        .to_owned();
    assert!(password.len() >= 16, "a strong password: {password:?}");
    let admin_get = |base: String, pw: String| async move {
        no_redirects()
            .get(format!("{base}/v2/"))
            .header("authorization", basic("admin", &pw))
            .send()
            .await
            .expect("GET /v2/")
            .status()
    };
    assert_eq!(admin_get(s.base(), password.clone()).await, 200);
    assert_eq!(
        admin_get(s.base(), format!("{password}x")).await,
        401,
        "only that password"
    );

    let s = s.restart();
    let lines = s.stdout();
    assert!(
        !lines.iter().any(|l| l.contains("password")),
        "a restart prints no new password: {lines:?}"
    );
    assert_eq!(
        no_redirects()
            .get(s.url("/v2/"))
            .send()
            .await
            .expect("GET")
            .status(),
        401
    );
    assert_eq!(
        admin_get(s.base(), password).await,
        200,
        "the first password still works"
    );
}

#[tokio::test]
async fn hoist_admin_password_is_the_admins_password_and_nothing_is_printed() {
    let pw = "chosen-by-the-operator";
    let s = Server::start("0.0.0.0:0", "", &[("HOIST_ADMIN_PASSWORD", pw)]);
    let lines = s.stdout();
    assert_eq!(lines.len(), 1, "only the listening line: {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("password")), "{lines:?}");
    let c = no_redirects();
    let r = c
        .get(s.url("/v2/"))
        .header("authorization", basic("admin", pw))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(r.status(), 200);
    let r = c
        .get(s.url("/v2/"))
        .header("authorization", basic("admin", "chosen-by-someone-else"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(r.status(), 401);
    assert_eq!(
        c.get(s.url("/v2/")).send().await.expect("GET").status(),
        401
    );
}

// ---------------------------------------------------------------------------------------------
// The token flow by hand

#[tokio::test]
async fn the_token_flow_by_hand_challenge_token_bearer_refresh() {
    let h = start_auth("");
    let base = format!("http://{}", h.addr);
    let c = no_redirects();

    // 1. The challenge names the realm, the service and the scope.
    let r = c
        .get(h.url("/v2/team/app/manifests/v1"))
        .send()
        .await
        .expect("GET manifest");
    assert_eq!(r.status(), 401);
    let params = challenge(&header(&r, "www-authenticate"));
    assert_eq!(
        params.get("realm").map(String::as_str),
        Some(format!("{base}/token").as_str()),
        "{params:?}"
    );
    assert_eq!(params.get("service").map(String::as_str), Some("hoist"));
    assert_eq!(
        params.get("scope").map(String::as_str),
        Some("repository:team/app:pull")
    );

    // 2. The realm, with Basic credentials, gives a JWT holding the scope.
    let answer = token(
        &base,
        Some(("admin", ADMIN_PW)),
        &["repository:team/app:pull,push"],
    )
    .await;
    let jwt = access_token(&answer);
    assert!(
        answer["expires_in"].as_u64().is_some_and(|s| s > 0),
        "{answer}"
    );
    assert!(answer["issued_at"].is_string(), "{answer}");
    assert_eq!(jwt.split('.').count(), 3, "a JWT: {jwt}");
    let cl = claims(&jwt);
    assert_eq!(cl["iss"], "hoist");
    assert_eq!(cl["aud"], "hoist");
    assert_eq!(cl["sub"], "admin");
    let mut actions = granted(&jwt, "team/app");
    actions.sort();
    assert_eq!(actions, ["pull", "push"], "{cl}");
    assert!(
        answer.get("refresh_token").is_none(),
        "no refresh token unless asked: {answer}"
    );

    // 3. The bearer token pushes and pulls.
    let with_jwt = authed(&bearer(&jwt));
    let digest = push_image(&with_jwt, &h, "team/app", "v1").await;
    let r = with_jwt
        .get(h.url("/v2/team/app/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("GET manifest");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), digest);

    // 4. The OAuth2 form with access_type=offline gives a refresh token too.
    let r = c
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", ADMIN_PW),
            ("scope", "repository:team/app:pull"),
            ("service", "hoist"),
            ("client_id", "hoist-tests"),
            ("access_type", "offline"),
        ])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.expect("JSON");
    let refresh = answer["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a refresh token: {answer}"))
        .to_owned();
    let first = access_token(&answer);
    assert_eq!(granted(&first, "team/app"), ["pull"]);
    let r = authed(&bearer(&refresh))
        .get(h.url("/v2/team/app/manifests/v1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401, "a refresh token is no access token");

    // 5. The refresh token gets new access tokens without the password.
    let r = c
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("scope", "repository:team/app:pull"),
            ("service", "hoist"),
            ("client_id", "hoist-tests"),
        ])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.expect("JSON");
    let renewed = access_token(&answer);
    assert_ne!(renewed, first, "a new token");
    assert_eq!(claims(&renewed)["sub"], "admin");
    assert_eq!(granted(&renewed, "team/app"), ["pull"]);
    let r = authed(&bearer(&renewed))
        .get(h.url("/v2/team/app/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);

    // A refresh token that is not one is refused.
    let r = c
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", jwt.as_str()),
            ("service", "hoist"),
        ])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(r.status(), 401, "an access token is no refresh token");
}

// ---------------------------------------------------------------------------------------------
// Scope enforcement

#[tokio::test]
async fn a_pull_only_token_cannot_push_and_is_told_the_scope_it_needs() {
    let h = start_auth("");
    let base = format!("http://{}", h.addr);
    push_image(&admin(), &h, "team/app", "v1").await;
    let jwt = access_token(
        &token(
            &base,
            Some(("admin", ADMIN_PW)),
            &["repository:team/app:pull"],
        )
        .await,
    );
    let c = authed(&bearer(&jwt));
    assert_eq!(
        status_of(c.get(h.url("/v2/team/app/manifests/v1"))).await,
        200,
        "it pulls"
    );
    for (method, path) in [
        ("POST", "/v2/team/app/blobs/uploads/"),
        ("PUT", "/v2/team/app/manifests/v2"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = c
            .request(method.clone(), h.url(path))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body("{}")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{method} {path}");
        let www = header(&r, "www-authenticate");
        let params = challenge(&www);
        assert_eq!(
            params.get("error").map(String::as_str),
            Some("insufficient_scope"),
            "{method} {path}: {www}"
        );
        assert_eq!(
            params.get("scope").map(String::as_str),
            Some("repository:team/app:pull,push"),
            "{method} {path}: {www}"
        );
        assert_eq!(
            params.get("realm").map(String::as_str),
            Some(format!("{base}/token").as_str())
        );
    }
    let r = c
        .delete(h.url("/v2/team/app/manifests/v1"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 401);
    let params = challenge(&header(&r, "www-authenticate"));
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("insufficient_scope")
    );
    assert_eq!(
        params.get("scope").map(String::as_str),
        Some("repository:team/app:delete")
    );
    // Another repository is not in the token at all.
    let r = c
        .get(h.url("/v2/team/other/manifests/v1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&header(&r, "www-authenticate"))
            .get("scope")
            .map(String::as_str),
        Some("repository:team/other:pull")
    );
}

#[tokio::test]
async fn a_user_gets_a_token_only_for_what_the_rules_allow() {
    let h = start_auth(
        r#"
[[auth.rules]]
who = "user:alice"
repos = ["a/*"]
actions = ["pull", "push"]
"#,
    );
    let base = format!("http://{}", h.addr);
    add_user(&base, "alice", "alice-password", &[]).await;
    push_image(&admin(), &h, "b/x", "v1").await;
    push_image(&admin(), &h, "a/x", "v1").await;

    let answer = token(
        &base,
        Some(("alice", "alice-password")),
        &["repository:a/x:pull,push", "repository:b/x:pull,push"],
    )
    .await;
    let jwt = access_token(&answer);
    let mut on_a = granted(&jwt, "a/x");
    on_a.sort();
    assert_eq!(on_a, ["pull", "push"], "{}", claims(&jwt));
    assert!(
        granted(&jwt, "b/x").is_empty(),
        "no b/x access in the token: {}",
        claims(&jwt)
    );
    let c = authed(&bearer(&jwt));
    assert_eq!(status_of(c.get(h.url("/v2/a/x/manifests/v1"))).await, 200);
    assert_eq!(
        status_of(c.get(h.url("/v2/b/x/manifests/v1"))).await,
        401,
        "the token cannot read b/x"
    );
    assert_eq!(status_of(c.get(h.url("/v2/b/x/tags/list"))).await, 401);
    push_image(&c, &h, "a/x", "v2").await;

    // With Basic, alice is signed in but not allowed: 403.
    let c = authed(&basic("alice", "alice-password"));
    assert_eq!(status_of(c.get(h.url("/v2/a/x/manifests/v1"))).await, 200);
    let r = c
        .get(h.url("/v2/b/x/manifests/v1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(r).await, "DENIED");
    assert_eq!(
        status_of(c.post(h.url("/v2/b/x/blobs/uploads/"))).await,
        403
    );
    // Nor may she use the admin's API.
    assert_eq!(status_of(c.get(h.url("/api/v1/users"))).await, 403);
}

/// A token hoist would accept: signed with its own key (from the data dir).
fn forged(h: &Hoist, exp: u64, nbf: u64, repo: &str, actions: &[&str]) -> String {
    let pem = std::fs::read_to_string(h.data_dir.join("token-signing-key.pem"))
        .expect("hoist's token key");
    let key = hoist::oci::schema1::jws::SchemaKey::from_pem(&pem).expect("key");
    sign(&key, exp, nbf, repo, actions)
}

fn sign(
    key: &hoist::oci::schema1::jws::SchemaKey,
    exp: u64,
    nbf: u64,
    repo: &str,
    actions: &[&str],
) -> String {
    hoist::auth::jwt::encode(
        key,
        &hoist::auth::jwt::Claims {
            iss: "hoist".into(),
            sub: "admin".into(),
            aud: "hoist".into(),
            exp,
            nbf,
            iat: nbf,
            jti: "forged".into(),
            access: vec![hoist::auth::jwt::Access {
                kind: "repository".into(),
                name: repo.into(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
            }],
            typ: None,
            tok: None,
            gen: 0,
        },
    )
}

#[tokio::test]
async fn expired_tampered_and_foreign_tokens_are_refused() {
    let h = start_auth("");
    let base = format!("http://{}", h.addr);
    push_image(&admin(), &h, "team/app", "v1").await;
    let get = |t: String| {
        let url = h.url("/v2/team/app/manifests/v1");
        async move { status_of(authed(&bearer(&t)).get(url)).await }
    };
    let now = now_unix();

    // Signed with hoist's own key, the forgery is good: the cases below differ in one thing.
    assert_eq!(
        get(forged(&h, now + 300, now, "team/app", &["pull"])).await,
        200,
        "a token signed with hoist's key works (the control for the cases below)"
    );
    // Expired past the leeway (30 s).
    assert_eq!(
        get(forged(&h, now - 40, now - 400, "team/app", &["pull"])).await,
        401,
        "expired"
    );
    // Not valid for minutes yet.
    assert_eq!(
        get(forged(&h, now + 900, now + 600, "team/app", &["pull"])).await,
        401,
        "not valid yet"
    );
    // The same claims signed by another P-256 key.
    let other = hoist::oci::schema1::jws::SchemaKey::from_secret(&[9; 32]).expect("key");
    assert_eq!(
        get(sign(&other, now + 300, now, "team/app", &["pull"])).await,
        401,
        "signed by another key"
    );

    // A real token, then tampered with.
    let jwt = access_token(
        &token(
            &base,
            Some(("admin", ADMIN_PW)),
            &["repository:team/app:pull"],
        )
        .await,
    );
    assert_eq!(get(jwt.clone()).await, 200);
    let parts: Vec<&str> = jwt.split('.').collect();
    // One character of the payload flipped.
    let mut payload: Vec<char> = parts[1].chars().collect();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == 'A' { 'B' } else { 'A' };
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        payload.iter().collect::<String>(),
        parts[2]
    );
    assert_eq!(get(flipped).await, 401, "a flipped payload character");
    // A payload rewritten to grant push, under the old signature.
    let mut cl = claims(&jwt);
    cl["access"][0]["actions"] = json!(["pull", "push"]);
    let rewritten = format!(
        "{}.{}.{}",
        parts[0],
        BASE64URL_NOPAD.encode(cl.to_string().as_bytes()),
        parts[2]
    );
    let r = authed(&bearer(&rewritten))
        .post(h.url("/v2/team/app/blobs/uploads/"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 401, "a payload granting more");
    assert!(
        !header(&r, "www-authenticate").contains("insufficient_scope"),
        "refused as a bad token, not read as a good one lacking scope: {}",
        header(&r, "www-authenticate")
    );
    // No signature at all.
    assert_eq!(
        get(format!("{}.{}.", parts[0], parts[1])).await,
        401,
        "no signature"
    );
}

#[tokio::test]
async fn a_token_stops_working_once_its_ttl_and_the_leeway_are_past() {
    let h = start_auth("token_ttl = \"1s\"");
    let base = format!("http://{}", h.addr);
    push_image(&admin(), &h, "team/app", "v1").await;
    let answer = token(
        &base,
        Some(("admin", ADMIN_PW)),
        &["repository:team/app:pull"],
    )
    .await;
    assert_eq!(answer["expires_in"], 1, "token_ttl is the ttl: {answer}");
    let jwt = access_token(&answer);
    let cl = claims(&jwt);
    let exp = cl["exp"].as_u64().expect("exp");
    assert_eq!(exp - cl["iat"].as_u64().expect("iat"), 1, "{cl}");
    let get =
        || async { status_of(authed(&bearer(&jwt)).get(h.url("/v2/team/app/manifests/v1"))).await };
    assert_eq!(get().await, 200, "good at first");
    // hoist allows 30 s of clock skew past `exp`.
    while now_unix() <= exp + 31 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(get().await, 401, "expired (ttl 1 s + 30 s leeway ago)");
}

#[tokio::test]
async fn an_access_token_is_a_password_until_it_is_revoked_and_its_jwts_end_with_it() {
    let h = start_auth("");
    let base = format!("http://{}", h.addr);
    push_image(&admin(), &h, "team/app", "v1").await;
    push_image(&admin(), &h, "other/x", "v1").await;
    let (id, secret) = add_access_token(
        &base,
        "ci",
        json!([{"repos": ["team/*"], "actions": ["pull", "push"]}]),
    )
    .await;

    // As a Basic password, under the token's name, its owner's or none.
    for user in ["ci", "admin", ""] {
        let c = authed(&basic(user, &secret));
        assert_eq!(
            status_of(c.get(h.url("/v2/team/app/manifests/v1"))).await,
            200,
            "Basic {user:?}:<token>"
        );
    }
    let c = authed(&basic("ci", &secret));
    push_image(&c, &h, "team/pushed-by-ci", "v1").await;
    assert_eq!(
        status_of(c.get(h.url("/v2/other/x/manifests/v1"))).await,
        403,
        "outside the token's scopes, though its owner is an admin"
    );
    // Through /token.
    let answer = token(
        &base,
        Some(("ci", &secret)),
        &["repository:team/app:pull", "repository:other/x:pull"],
    )
    .await;
    let jwt = access_token(&answer);
    assert_eq!(granted(&jwt, "team/app"), ["pull"]);
    assert!(granted(&jwt, "other/x").is_empty(), "{}", claims(&jwt));
    let with_jwt = authed(&bearer(&jwt));
    assert_eq!(
        status_of(with_jwt.get(h.url("/v2/team/app/manifests/v1"))).await,
        200
    );

    // Revoked: everything stops at once.
    let r = admin()
        .delete(h.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .expect("DELETE token");
    assert_eq!(r.status(), 204);
    assert_eq!(
        status_of(c.get(h.url("/v2/team/app/manifests/v1"))).await,
        401,
        "the token as a password, right after the revoke"
    );
    assert_eq!(
        status_of(with_jwt.get(h.url("/v2/team/app/manifests/v1"))).await,
        401,
        "a JWT issued from the token before the revoke"
    );
    let r = no_redirects()
        .get(format!("{base}/token"))
        .query(&[("service", "hoist"), ("scope", "repository:team/app:pull")])
        .header("authorization", basic("ci", &secret))
        .send()
        .await
        .expect("GET /token");
    assert_eq!(r.status(), 401, "no new JWT for a revoked token");
    // The listing says so.
    let v: Value = admin()
        .get(h.url("/api/v1/tokens"))
        .send()
        .await
        .expect("GET tokens")
        .json()
        .await
        .expect("JSON");
    let listed = v["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("token {id} listed: {v}"));
    assert_eq!(listed["revoked"], true, "{listed}");
    assert!(
        !v.to_string().contains(&secret),
        "the secret is never listed"
    );
}

// ---------------------------------------------------------------------------------------------
// Anonymous pull and the catalog

fn catalog_of(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn anonymous_pull_covers_its_repositories_only_and_the_catalog_shows_what_one_may_pull() {
    let h = start_auth(
        r#"anonymous_pull = ["public/*"]

[[auth.rules]]
who = "user:bob"
repos = ["team/*"]
actions = ["pull"]
"#,
    );
    let base = format!("http://{}", h.addr);
    let a = admin();
    for repo in ["public/x", "team/x", "other/x"] {
        push_image(&a, &h, repo, "v1").await;
    }
    add_user(&base, "bob", "bob-password", &[]).await;
    let anon = no_redirects();
    let accept = "application/vnd.oci.image.manifest.v1+json";

    // A client without credentials first sees the challenge at /v2/.
    let r = anon.get(h.url("/v2/")).send().await.expect("GET /v2/");
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&header(&r, "www-authenticate"))
            .get("realm")
            .map(String::as_str),
        Some(format!("{base}/token").as_str())
    );
    // The anonymous token holds pull on public/x, nothing on team/x.
    let jwt = access_token(
        &token(
            &base,
            None,
            &["repository:public/x:pull", "repository:team/x:pull"],
        )
        .await,
    );
    assert_eq!(claims(&jwt)["sub"], "anonymous");
    assert_eq!(granted(&jwt, "public/x"), ["pull"], "{}", claims(&jwt));
    assert!(granted(&jwt, "team/x").is_empty(), "{}", claims(&jwt));
    let with_jwt = authed(&bearer(&jwt));
    let r = with_jwt
        .get(h.url("/v2/public/x/manifests/v1"))
        .header("accept", accept)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.status(),
        200,
        "anonymous pull of public/x through a token"
    );
    assert_eq!(
        status_of(with_jwt.get(h.url("/v2/team/x/manifests/v1"))).await,
        401
    );
    // Without any token too.
    assert_eq!(
        status_of(
            anon.get(h.url("/v2/public/x/manifests/v1"))
                .header("accept", accept)
        )
        .await,
        200
    );
    let r = anon
        .get(h.url("/v2/team/x/manifests/v1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenge(&header(&r, "www-authenticate"))
            .get("scope")
            .map(String::as_str),
        Some("repository:team/x:pull")
    );
    // Anonymous pull is no anonymous push.
    let r = anon
        .post(h.url("/v2/public/x/blobs/uploads/"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 401);
    let anon_push = access_token(&token(&base, None, &["repository:public/x:pull,push"]).await);
    assert_eq!(granted(&anon_push, "public/x"), ["pull"]);

    // The catalog: anonymous sees public/*; bob team/* and public/*; the admin everything.
    let catalog = |c: reqwest::Client| {
        let url = h.url("/v2/_catalog");
        async move {
            let r = c.get(url).send().await.expect("GET catalog");
            assert_eq!(r.status(), 200);
            catalog_of(&r.json::<Value>().await.expect("JSON"))
        }
    };
    // Without a token, anonymous either gets the same filtered catalog or is sent to get a
    // token (as distribution does); never more.
    let r = anon.get(h.url("/v2/_catalog")).send().await.expect("GET");
    match r.status().as_u16() {
        200 => assert_eq!(
            catalog_of(&r.json::<Value>().await.expect("JSON")),
            ["public/x"]
        ),
        401 => assert!(
            header(&r, "www-authenticate").starts_with("Bearer realm="),
            "a challenge"
        ),
        other => panic!("anonymous GET /v2/_catalog: {other}"),
    }
    let anon_catalog = access_token(&token(&base, None, &["registry:catalog:*"]).await);
    assert_eq!(catalog(authed(&bearer(&anon_catalog))).await, ["public/x"]);
    let bob = authed(&basic("bob", "bob-password"));
    assert_eq!(catalog(bob.clone()).await, ["public/x", "team/x"]);
    let bob_catalog = access_token(
        &token(
            &base,
            Some(("bob", "bob-password")),
            &["registry:catalog:*"],
        )
        .await,
    );
    assert_eq!(
        catalog(authed(&bearer(&bob_catalog))).await,
        ["public/x", "team/x"]
    );
    assert_eq!(catalog(a.clone()).await, ["other/x", "public/x", "team/x"]);

    // tags/list of a repository one may not pull.
    assert_eq!(
        status_of(anon.get(h.url("/v2/team/x/tags/list"))).await,
        401
    );
    assert_eq!(
        status_of(anon.get(h.url("/v2/public/x/tags/list"))).await,
        200
    );
    let r = bob
        .get(h.url("/v2/other/x/tags/list"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    assert_eq!(status_of(bob.get(h.url("/v2/team/x/tags/list"))).await, 200);
    let bob_other = access_token(
        &token(
            &base,
            Some(("bob", "bob-password")),
            &["repository:other/x:pull"],
        )
        .await,
    );
    assert!(granted(&bob_other, "other/x").is_empty());
    assert_eq!(
        status_of(authed(&bearer(&bob_other)).get(h.url("/v2/other/x/tags/list"))).await,
        401
    );
}

// ---------------------------------------------------------------------------------------------
// Mounts

#[tokio::test]
async fn a_mount_needs_pull_on_the_repository_it_mounts_from() {
    let h = start_auth(
        r#"
[[auth.rules]]
who = "user:bob"
repos = ["b/*"]
actions = ["pull", "push"]
"#,
    );
    let base = format!("http://{}", h.addr);
    add_user(&base, "bob", "bob-password", &[]).await;
    let a = admin();
    let secret = b"a layer of secret/x only".to_vec();
    let digest = push_blob(&a, &h, "secret/x", &secret).await;
    let bob = authed(&basic("bob", "bob-password"));

    let mount = |c: reqwest::Client, target: &'static str, from: Option<&'static str>| {
        let mut url = h.url(&format!("/v2/{target}/blobs/uploads/?mount={digest}"));
        if let Some(from) = from {
            url.push_str(&format!("&from={from}"));
        }
        async move { c.post(url).send().await.expect("POST mount") }
    };
    let r = mount(bob.clone(), "b/x", Some("secret/x")).await;
    assert_eq!(
        r.status(),
        202,
        "bob may not read secret/x: an upload session, not the blob"
    );
    let location = header(&r, "location");
    assert!(
        location.contains("/v2/b/x/blobs/uploads/"),
        "an upload session: {location}"
    );
    assert_eq!(
        status_of(bob.head(h.url(&format!("/v2/b/x/blobs/{digest}")))).await,
        404,
        "the blob did not come to b/x"
    );
    let r = mount(bob.clone(), "b/x", None).await;
    assert_eq!(
        r.status(),
        202,
        "no `from`: mounting from anywhere needs rights everywhere"
    );
    // Through a token too.
    let jwt = access_token(
        &token(
            &base,
            Some(("bob", "bob-password")),
            &["repository:b/x:pull,push", "repository:secret/x:pull"],
        )
        .await,
    );
    assert!(granted(&jwt, "secret/x").is_empty());
    assert_eq!(
        mount(authed(&bearer(&jwt)), "b/x", Some("secret/x"))
            .await
            .status(),
        202
    );

    // Where bob may pull, the same mount works; and the admin may mount from secret/x.
    push_blob(&bob, &h, "b/source", &secret).await;
    let r = mount(bob.clone(), "b/y", Some("b/source")).await;
    assert_eq!(r.status(), 201, "bob mounts from a repository he may read");
    let r = mount(a.clone(), "b/z", Some("secret/x")).await;
    assert_eq!(r.status(), 201, "the admin mounts from secret/x");
}

// ---------------------------------------------------------------------------------------------
// The console

/// The value of cookie `name` among a response's `Set-Cookie` headers, with the whole header.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned();
            (value, v.to_owned())
        })
}

/// The hidden `csrf` field of a page.
fn csrf_field(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        .to_owned()
}

fn assert_csp(r: &reqwest::Response, what: &str) {
    let csp = header(r, "content-security-policy");
    assert!(!csp.is_empty(), "{what}: no Content-Security-Policy");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert!(csp.contains("script-src 'self'") || csp.contains("default-src 'self'"));
}

#[tokio::test]
async fn the_console_signs_in_with_csrf_checked_forms_and_signs_out() {
    let h = start_auth("");
    let c = no_redirects();

    let r = c.get(h.url("/")).send().await.expect("GET /");
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/login?next=/");

    // The login form: a CSRF cookie and the same value in the form.
    let r = c
        .get(h.url("/login?next=/"))
        .send()
        .await
        .expect("GET /login");
    assert_eq!(r.status(), 200);
    assert_csp(&r, "GET /login");
    let (cookie, whole) = set_cookie(&r, "hoist_login_csrf").expect("hoist_login_csrf cookie");
    assert!(whole.contains("HttpOnly"), "{whole}");
    let html = r.text().await.expect("body");
    let field = csrf_field(&html);
    assert_eq!(field, cookie, "double submit: the field is the cookie");
    assert!(field.len() >= 32, "{field}");

    let login = |csrf: Option<&str>, cookie: Option<&str>, password: &str| {
        let mut form = vec![
            ("next", "/".to_owned()),
            ("username", "admin".to_owned()),
            ("password", password.to_owned()),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf.to_owned()));
        }
        let mut req = c.post(h.url("/login")).form(&form);
        if let Some(cookie) = cookie {
            req = req.header("cookie", format!("hoist_login_csrf={cookie}"));
        }
        req.send()
    };
    let r = login(None, Some(&cookie), ADMIN_PW).await.expect("POST");
    assert_eq!(r.status(), 403, "no csrf field");
    assert!(set_cookie(&r, "hoist_session").is_none());
    let r = login(Some("wrong"), Some(&cookie), ADMIN_PW)
        .await
        .expect("POST");
    assert_eq!(r.status(), 403, "a wrong csrf field");
    let r = login(Some(&field), None, ADMIN_PW).await.expect("POST");
    assert_eq!(r.status(), 403, "no csrf cookie");
    let r = login(Some(&field), Some(&cookie), "wrong-password")
        .await
        .expect("POST");
    assert_eq!(r.status(), 401, "a wrong password");
    assert!(set_cookie(&r, "hoist_session").is_none());

    let r = login(Some(&field), Some(&cookie), ADMIN_PW)
        .await
        .expect("POST");
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/");
    let (session, whole) = set_cookie(&r, "hoist_session").expect("hoist_session cookie");
    assert!(!session.is_empty());
    assert!(whole.contains("HttpOnly"), "{whole}");
    assert!(whole.contains("SameSite=Strict"), "{whole}");
    assert!(
        !whole.contains("Secure"),
        "no Secure flag over plain http (the browser would drop it): {whole}"
    );
    let with_session = format!("hoist_session={session}");

    // Signed in.
    let r = c
        .get(h.url("/"))
        .header("cookie", &with_session)
        .send()
        .await
        .expect("GET /");
    assert_eq!(r.status(), 200);
    assert_csp(&r, "GET /");
    let html = r.text().await.expect("body");
    assert!(html.contains("admin"), "the page names the user: {html}");
    let session_csrf = csrf_field(&html);

    // The JSON API with the session cookie: reading is fine, a change needs X-CSRF-Token.
    let new_user = json!({"name": "carol", "password": "carol-password"});
    assert_eq!(
        status_of(
            c.get(h.url("/api/v1/users"))
                .header("cookie", &with_session)
        )
        .await,
        200
    );
    assert_eq!(
        status_of(
            c.post(h.url("/api/v1/users"))
                .header("cookie", &with_session)
                .json(&new_user)
        )
        .await,
        403,
        "a change without X-CSRF-Token"
    );
    assert_eq!(
        status_of(
            c.post(h.url("/api/v1/users"))
                .header("cookie", &with_session)
                .header("x-csrf-token", "wrong")
                .json(&new_user)
        )
        .await,
        403,
        "a change with a wrong X-CSRF-Token"
    );
    assert_eq!(
        status_of(
            c.post(h.url("/api/v1/users"))
                .header("cookie", &with_session)
                .header("x-csrf-token", &session_csrf)
                .json(&new_user)
        )
        .await,
        201,
        "with the session's X-CSRF-Token"
    );

    // Logging out needs the session's CSRF token.
    let r = c
        .post(h.url("/logout"))
        .header("cookie", &with_session)
        .form(&[("other", "x")])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(r.status(), 403, "logout without the csrf field");
    let r = c
        .post(h.url("/logout"))
        .header("cookie", &with_session)
        .form(&[("csrf", field.as_str())])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(r.status(), 403, "logout with another csrf token");
    assert_eq!(
        status_of(c.get(h.url("/")).header("cookie", &with_session)).await,
        200,
        "still signed in"
    );
    let r = c
        .post(h.url("/logout"))
        .header("cookie", &with_session)
        .form(&[("csrf", session_csrf.as_str())])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(r.status(), 303);
    assert!(header(&r, "location").starts_with("/login"));
    let r = c
        .get(h.url("/"))
        .header("cookie", &with_session)
        .send()
        .await
        .expect("GET /");
    assert_eq!(r.status(), 303, "the session ended");
    assert!(header(&r, "location").starts_with("/login?next="));
    assert_eq!(
        status_of(
            c.get(h.url("/api/v1/users"))
                .header("cookie", &with_session)
        )
        .await,
        401,
        "the API no longer takes the cookie"
    );
}

// ---------------------------------------------------------------------------------------------
// Lockout

#[tokio::test]
async fn ten_wrong_passwords_lock_a_user_out_from_that_address_only_for_a_while() {
    let h = start_auth("lockout_for = \"3s\"");
    let base = format!("http://{}", h.addr);
    add_user(&base, "alice", "alice-password", &[]).await;
    let v2 = |from: u8, password: &str| {
        request_from(
            &h,
            loopback(from),
            "GET",
            "/v2/",
            &[("Authorization", basic("alice", password))],
            b"",
        )
    };
    for i in 1..=10 {
        let r = v2(2, "wrong-password");
        assert_eq!(r.status, 401, "wrong password {i}: {}", r.text());
    }
    let r = v2(2, "alice-password");
    assert_eq!(
        r.status,
        429,
        "the 11th attempt, even with the right password: {}",
        r.text()
    );
    assert_eq!(r.code(), "TOOMANYREQUESTS");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    let locked_at = Instant::now();
    // /token is locked too, for the same pair.
    let r = request_from(
        &h,
        loopback(2),
        "GET",
        "/token?service=hoist&scope=repository:team/app:pull",
        &[("Authorization", basic("alice", "alice-password"))],
        b"",
    );
    assert_eq!(
        r.status,
        429,
        "/token from the locked address: {}",
        r.text()
    );

    // alice elsewhere is not locked out of her account.
    let r = v2(3, "alice-password");
    assert_eq!(r.status, 200, "alice from 127.0.0.3: {}", r.text());
    // Her getting in elsewhere does not open the lock for 127.0.0.2.
    let r = v2(2, "alice-password");
    assert_eq!(
        r.status,
        429,
        "still locked for 127.0.0.2 after alice signed in from 127.0.0.3: {}",
        r.text()
    );

    // The lock ends.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(locked_at.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = v2(2, "alice-password");
    assert_eq!(r.status, 200, "after the lock: {}", r.text());
}

// ---------------------------------------------------------------------------------------------
// The audit log

async fn audit(h: &Hoist, query: &str) -> Vec<Value> {
    let r = admin()
        .get(h.url(&format!("/api/v1/audit{query}")))
        .send()
        .await
        .expect("GET audit");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("JSON");
    v["entries"].as_array().expect("entries").clone()
}

#[tokio::test]
async fn the_audit_log_records_pushes_deletes_logins_users_and_tokens() {
    let h = start_auth("");
    let base = format!("http://{}", h.addr);
    let a = admin();
    // A good login (the admin's first Basic request), a push and a delete.
    let digest = push_image(&a, &h, "team/app", "v1").await;
    let r = a
        .delete(h.url(&format!("/v2/team/app/manifests/{digest}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 202);
    // A failed login from 127.0.0.5.
    let r = request_from(
        &h,
        loopback(5),
        "GET",
        "/v2/",
        &[("Authorization", basic("mallory", "guess-guess"))],
        b"",
    );
    assert_eq!(r.status, 401);
    add_user(&base, "bob", "bob-password", &[]).await;
    let (id, _) = add_access_token(
        &base,
        "deploy",
        json!([{"repos": ["team/*"], "actions": ["pull"]}]),
    )
    .await;
    assert_eq!(
        status_of(a.delete(h.url(&format!("/api/v1/tokens/{id}")))).await,
        204
    );

    let entries = audit(&h, "").await;
    let find = |action: &str, outcome: &str, who: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome && e["who"] == who)
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no {action} {outcome} by {who} in the audit log:\n{}",
                    serde_json::to_string_pretty(&entries).unwrap_or_default()
                )
            })
    };
    let push = find("push", "ok", "admin");
    assert_eq!(push["target"], "team/app:v1", "{push}");
    assert_eq!(push["address"], "127.0.0.1", "{push}");
    assert!(
        push["at"].as_u64().is_some_and(|t| t > 1_600_000_000_000),
        "{push}"
    );
    let delete = find("delete", "ok", "admin");
    assert_eq!(
        delete["target"],
        format!("team/app:{digest}").as_str(),
        "{delete}"
    );
    assert_eq!(delete["address"], "127.0.0.1");
    let failed = find("login", "failed", "mallory");
    assert_eq!(failed["address"], "127.0.0.5", "{failed}");
    let good = find("login", "ok", "admin");
    assert_eq!(good["address"], "127.0.0.1", "{good}");
    let added = find("user.add", "ok", "admin");
    assert_eq!(added["target"], "bob", "{added}");
    assert_eq!(added["address"], "127.0.0.1");
    let revoked = find("token.revoke", "ok", "admin");
    assert!(
        revoked["target"]
            .as_str()
            .is_some_and(|t| t.contains(&id) && t.contains("deploy")),
        "{revoked}"
    );
    // Newest first.
    let ats: Vec<u64> = entries.iter().filter_map(|e| e["at"].as_u64()).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");

    // Filters.
    let by_mallory = audit(&h, "?who=mallory").await;
    assert!(!by_mallory.is_empty());
    assert!(
        by_mallory.iter().all(|e| e["who"] == "mallory"),
        "{by_mallory:?}"
    );
    let by_admin = audit(&h, "?who=admin").await;
    assert!(by_admin.iter().all(|e| e["who"] == "admin"));
    assert!(by_admin.iter().any(|e| e["action"] == "push"));
    let logins = audit(&h, "?action=login").await;
    assert!(logins.len() >= 2, "{logins:?}");
    assert!(logins.iter().all(|e| e["action"] == "login"), "{logins:?}");
    let pushes = audit(&h, "?action=push&who=admin").await;
    assert!(
        !pushes.is_empty()
            && pushes
                .iter()
                .all(|e| e["action"] == "push" && e["who"] == "admin"),
        "{pushes:?}"
    );
    assert!(audit(&h, "?who=nobody-at-all").await.is_empty());
    // Only an admin reads it.
    let r = authed(&basic("bob", "bob-password"))
        .get(h.url("/api/v1/audit"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
}

// ---------------------------------------------------------------------------------------------
// hoist user

fn hoist_user(h: &Hoist, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    cmd.arg("user").args(args);
    for var in ["HOIST_USERNAME", "HOIST_PASSWORD", "HOIST_NEW_PASSWORD"] {
        cmd.env_remove(var);
    }
    cmd.env("HOIST_URL", format!("http://{}", h.addr))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run hoist user")
}

fn ok_output(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn hoist_user_adds_lists_changes_and_removes_users() {
    let h = start_auth("");
    let as_admin = [("HOIST_USERNAME", "admin"), ("HOIST_PASSWORD", ADMIN_PW)];
    let v2 = |user: &str, password: &str| {
        let url = h.url("/v2/");
        let auth = basic(user, password);
        async move { status_of(no_redirects().get(url).header("authorization", auth)).await }
    };

    let out = hoist_user(
        &h,
        &[&as_admin[..], &[("HOIST_NEW_PASSWORD", "bob-password-1")]].concat(),
        &["add", "bob", "--group", "ci"],
    );
    ok_output(&out, "hoist user add bob");
    assert_eq!(v2("bob", "bob-password-1").await, 200);

    let list = ok_output(&hoist_user(&h, &as_admin, &["list"]), "hoist user list");
    let bob = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some("bob"))
        .unwrap_or_else(|| panic!("bob is listed: {list}"));
    assert!(bob.contains("ci"), "with his group: {bob}");
    assert!(!bob.contains("admin"), "not an admin: {bob}");
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().next() == Some("admin")),
        "{list}"
    );
    let api: Value = admin()
        .get(h.url("/api/v1/users/bob"))
        .send()
        .await
        .expect("GET user")
        .json()
        .await
        .expect("JSON");
    assert_eq!(api["groups"], json!(["ci"]), "{api}");
    assert_eq!(api["admin"], false);

    // The admin sets bob's password.
    let out = hoist_user(
        &h,
        &[&as_admin[..], &[("HOIST_NEW_PASSWORD", "bob-password-2")]].concat(),
        &["passwd", "bob"],
    );
    ok_output(&out, "hoist user passwd bob");
    assert_eq!(v2("bob", "bob-password-1").await, 401, "the old password");
    assert_eq!(v2("bob", "bob-password-2").await, 200, "the new one");
    // bob sets his own.
    let out = hoist_user(
        &h,
        &[
            ("HOIST_USERNAME", "bob"),
            ("HOIST_PASSWORD", "bob-password-2"),
            ("HOIST_NEW_PASSWORD", "bob-password-3"),
        ],
        &["passwd"],
    );
    ok_output(&out, "hoist user passwd as bob");
    assert_eq!(v2("bob", "bob-password-3").await, 200);
    // bob is no admin: he cannot add users.
    let out = hoist_user(
        &h,
        &[
            ("HOIST_USERNAME", "bob"),
            ("HOIST_PASSWORD", "bob-password-3"),
            ("HOIST_NEW_PASSWORD", "eve-password"),
        ],
        &["add", "eve"],
    );
    assert!(!out.status.success(), "bob added a user");
    // Wrong admin credentials, and none at all without a terminal.
    let out = hoist_user(
        &h,
        &[
            ("HOIST_USERNAME", "admin"),
            ("HOIST_PASSWORD", "wrong-password"),
        ],
        &["list"],
    );
    assert!(!out.status.success(), "a wrong password lists users");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hoist_user(&h, &[], &["list"]);
    assert!(!out.status.success(), "no credentials lists users");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HOIST_USERNAME"),
        "says how to give credentials: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = hoist_user(&h, &as_admin, &["rm", "bob"]);
    ok_output(&out, "hoist user rm bob");
    let list = ok_output(&hoist_user(&h, &as_admin, &["list"]), "hoist user list");
    assert!(
        !list
            .lines()
            .any(|l| l.split_whitespace().next() == Some("bob")),
        "bob is gone: {list}"
    );
    assert_eq!(v2("bob", "bob-password-3").await, 401);
    // The last admin stays.
    let out = hoist_user(&h, &as_admin, &["rm", "admin"]);
    assert!(!out.status.success(), "the last admin was removed");
    assert_eq!(v2("admin", ADMIN_PW).await, 200);
}
