//! A headless chromium driven through chromedriver (Debian's `chromium` and
//! `chromium-driver`) for the console's browser tests: start and stop, signing in, the checks
//! every page gets (axe-core in light and dark colours, no Content-Security-Policy violation,
//! no dialog, nothing injected) and screenshots at desktop and phone widths.
//!
//! Everything stays on 127.0.0.1: chromedriver listens on a free loopback port and chromium
//! runs with the background networking it would otherwise do turned off. axe-core is read from
//! disk (`tests/browser-deps.sh` installs it with npm before the tests run). A missing
//! chromium, chromedriver or axe-core fails the test with a message saying how to get it: a
//! CI run without them cannot pass.
//!
//! One browser at a time ([`Browser::start`] takes a process-wide lock): the machine has two
//! cores and each chromium wants both. `benches/console.rs` uses this file too (for the
//! render times a browser sees).

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Desktop and phone viewports of the screenshots: (label, width, height, mobile).
pub const VIEWPORTS: &[(&str, u32, u32, bool)] =
    &[("desktop", 1280, 900, false), ("phone", 390, 844, true)];

/// The tallest screenshot kept (a long page is cut there).
const MAX_SHOT_HEIGHT: u32 = 4000;

/// chromium's flags: headless, as root, and quiet on a closed network.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--password-store=basic",
    "--window-size=1280,900",
];

/// Put on every page before its own script runs: records script errors, dialogs instead of
/// showing them, and every Content-Security-Policy violation (a blocked inline script or style, which is
/// what injected markup would be).
const INSTRUMENT: &str = r#"
window.__hoist = { alerts: [], csp: [], errors: [] };
window.addEventListener("error", function (e) {
  window.__hoist.errors.push((e.message || "an error") + " at " + e.filename + ":" + e.lineno);
});
window.addEventListener("unhandledrejection", function (e) {
  window.__hoist.errors.push("an unhandled rejection: " + e.reason);
});
["alert", "confirm", "prompt"].forEach(function (name) {
  window[name] = function (m) { window.__hoist.alerts.push(name + "(" + String(m) + ")"); return null; };
});
document.addEventListener("securitypolicyviolation", function (e) {
  window.__hoist.csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "?") +
    (e.sample ? " sample " + JSON.stringify(e.sample) : "") + " at " + e.sourceFile + ":" + e.lineNumber);
}, true);
"#;

/// What a page must not hold: inline script, handler attributes, `javascript:` URLs, inline
/// style attributes, an element the payload would make (`img[src=x]`); as a list of
/// problems.
const DOM_CHECK: &str = r#"
var out = [];
if (document.contentType !== "text/html") return out;
document.querySelectorAll("script").forEach(function (s) {
  if (!s.src) out.push("an inline <script>: " + s.textContent.slice(0, 80));
  else if (new URL(s.src).origin !== location.origin) out.push("a script from elsewhere: " + s.src);
});
document.querySelectorAll("*").forEach(function (el) {
  for (var i = 0; i < el.attributes.length; i++) {
    var a = el.attributes[i];
    if (/^on/i.test(a.name)) out.push("a handler attribute " + a.name + " on <" + el.localName + ">");
    if (a.name === "style" && !(el.closest && el.closest("svg"))) out.push("a style attribute on <" + el.localName + ">");
    if (/^\s*javascript:/i.test(a.value)) out.push("a javascript: URL in " + a.name + " of <" + el.localName + ">");
  }
});
document.querySelectorAll("img[src='x'], iframe, object, embed").forEach(function (el) {
  out.push("an injected-looking <" + el.localName + ">: " + el.outerHTML.slice(0, 120));
});
document.querySelectorAll("link[rel=stylesheet], img[src]").forEach(function (el) {
  var u = el.href || el.src;
  if (u && !u.startsWith("data:") && new URL(u).origin !== location.origin) out.push("a resource from elsewhere: " + u);
});
return out;
"#;

/// Run axe on the document and keep serious and critical violations.
const AXE_RUN: &str = r#"
var done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then(function (r) {
  done(r.violations.filter(function (v) { return v.impact === "serious" || v.impact === "critical"; })
    .map(function (v) {
      return v.impact + " " + v.id + " (" + v.help + "): " + v.nodes.slice(0, 5).map(function (n) {
        return n.target.join(" ") + " " + n.html.slice(0, 160) + (n.failureSummary ? " -- " + n.failureSummary.replace(/\s+/g, " ") : "");
      }).join(" | ");
    }));
}, function (e) { done(["axe failed: " + e]); });
"#;

/// Held by each [`Browser`] (a tokio lock: tests on runtimes of their own wait for it).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A program's path, failing the test with how to install it when it is missing.
fn require(program: &str, package: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !path.is_empty(),
        "`{program}` is not on PATH: the console's browser tests need it (Debian: apt-get \
         install {package}, or run `bash tests/browser-deps.sh`). They fail instead of skipping \
         so that a CI run without it cannot pass."
    );
    PathBuf::from(path)
}

/// The chromium binary itself (Debian's `/usr/bin/chromium` is a wrapper script).
fn chromium() -> PathBuf {
    let wrapper = require("chromium", "chromium");
    let real = Path::new("/usr/lib/chromium/chromium");
    if real.exists() {
        real.to_owned()
    } else {
        wrapper
    }
}

/// axe-core's script: `$HOIST_AXE_DIR` or `target/axe` of the repository, as
/// `tests/browser-deps.sh` installs it.
pub fn axe_source() -> &'static str {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let dir = std::env::var_os("HOIST_AXE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe"));
        let path = dir.join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is not at {} ({e}): run `bash tests/browser-deps.sh` (npm install \
                 axe-core@4 there) before the tests; they fail instead of skipping so that a CI \
                 run without it cannot pass",
                path.display()
            )
        })
    })
}

/// The cargo target directory of this test binary (`<target>/debug/deps/it-...`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .map(Path::to_owned)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Where screenshots go: `<target>/console-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let dir = target_dir().join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("mkdir console-screenshots");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A chromium session. Dropping it ends the session's processes.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
    session: String,
    http: reqwest::Client,
    /// chromium's profile and chromedriver's log, removed with the browser.
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// chromedriver on a free loopback port and a fresh headless chromium behind it.
    pub async fn start() -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let chromedriver = require("chromedriver", "chromium-driver");
        let chromium = chromium();
        let profile = tempfile::tempdir().expect("profile dir");
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    profile.path().join("chromedriver.log").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            let driver_url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client");
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut ready = false;
            while Instant::now() < deadline {
                if let Ok(r) = http.get(format!("{driver_url}/status")).send().await {
                    if let Ok(v) = r.json::<Value>().await {
                        ready = v["value"]["ready"] == true;
                        if ready {
                            break;
                        }
                    }
                }
                if driver.try_wait().ok().flatten().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !ready {
                let _ = driver.kill();
                let _ = driver.wait();
                last = format!("chromedriver on port {port} did not become ready");
                continue;
            }
            let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
            args.push(format!(
                "--user-data-dir={}",
                profile.path().join("chromium").display()
            ));
            let caps = json!({
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "unhandledPromptBehavior": "ignore",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            });
            let Value::Object(caps) = caps else {
                unreachable!()
            };
            let client =
                match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&driver_url)
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = driver.kill();
                        let _ = driver.wait();
                        last = format!(
                        "chromium did not start through chromedriver: {e}; chromedriver log:\n{}",
                        tail(&profile.path().join("chromedriver.log"))
                    );
                        continue;
                    }
                };
            let session = client
                .session_id()
                .await
                .expect("session id")
                .expect("a session");
            let b = Browser {
                client,
                driver,
                driver_url,
                session,
                http,
                _profile: profile,
                _turn: turn,
            };
            b.cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({"source": INSTRUMENT}),
            )
            .await;
            b.cdp(
                "Browser.grantPermissions",
                json!({"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
            )
            .await;
            return b;
        }
        panic!("could not start a browser: {last}");
    }

    /// A Chrome DevTools command through chromedriver; its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let r = self
            .http
            .post(format!(
                "{}/session/{}/goog/cdp/execute",
                self.driver_url, self.session
            ))
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        assert!(status.is_success(), "CDP {cmd}: {status} {v}");
        v["value"].clone()
    }

    /// Go to `url` and wait for it to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("go to {url}: {e}"));
    }

    /// The path (and query) the browser is at.
    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("current url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    /// Run `script` (a function body) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The HTTP status of the page's navigation.
    pub async fn status(&self) -> u64 {
        self.js("var n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;")
            .await
            .as_u64()
            .unwrap_or(0)
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.js("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The visible text of the page and the values of its form fields.
    pub async fn text_and_values(&self) -> String {
        self.js("return document.body.innerText + '\\n' + Array.from(document.querySelectorAll('input, textarea, select')).map(function (e) { return e.value; }).join('\\n');")
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Wait up to `secs` for `css` to match an element.
    pub async fn wait_for(&self, css: &str, secs: u64) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(secs))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {secs} s: {e}"))
    }

    /// The element `css` (panics when missing, with the page's path).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    /// Type into the field `css` after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Click `css` and wait for the page it leads to.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Click `css` (a link or a submit button) and wait for the page it leads to to load.
    pub async fn follow(&self, css: &str) {
        self.js("window.__leaving = true; return true;").await;
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self
                .client
                .execute(
                    "return window.__leaving !== true && document.readyState === 'complete';",
                    Vec::new(),
                )
                .await;
            if matches!(arrived, Ok(Value::Bool(true))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} on {} led nowhere",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sign in through the login form (the browser must be on it or is sent to it).
    pub async fn sign_in(&self, base: &str, user: &str, password: &str) {
        if !self.path().await.starts_with("/login") {
            self.goto(&format!("{base}/login?next=/")).await;
        }
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.follow("form[action='/login'] button[type=submit]")
            .await;
        assert!(
            !self.path().await.starts_with("/login"),
            "still on the login page after signing in as {user}: {}",
            self.text().await
        );
    }

    /// Dialogs opened, Content-Security-Policy violations and script errors on this page so
    /// far.
    pub async fn incidents(&self) -> Vec<String> {
        let v = self
            .js("var h = window.__hoist || {alerts: ['the instrumentation is missing'], csp: [], errors: []}; return h.alerts.map(function (a) { return 'a dialog: ' + a; }).concat(h.csp.map(function (c) { return 'a CSP violation: ' + c; })).concat(h.errors.map(function (e) { return 'a script error: ' + e; }));")
            .await;
        strings(&v)
    }

    /// Markup that should not be there (see `DOM_CHECK`).
    pub async fn dom_problems(&self) -> Vec<String> {
        strings(&self.js(DOM_CHECK).await)
    }

    /// Serious and critical axe violations, in light and in dark colours.
    pub async fn axe(&self) -> Vec<String> {
        let loaded = self.js("return typeof axe !== 'undefined';").await;
        if loaded != Value::Bool(true) {
            self.js(&format!("{}\n;return true;", axe_source())).await;
        }
        let mut out = Vec::new();
        for scheme in ["light", "dark"] {
            self.cdp(
                "Emulation.setEmulatedMedia",
                json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
            )
            .await;
            let v = self
                .client
                .execute_async(AXE_RUN, Vec::new())
                .await
                .unwrap_or_else(|e| panic!("axe: {e}"));
            out.extend(strings(&v).into_iter().map(|s| format!("{scheme}: {s}")));
        }
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": ""}]}),
        )
        .await;
        out
    }

    /// Everything the checks find wrong with the current page, each prefixed with `what`.
    pub async fn check_page(&self, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.incidents().await);
        out.extend(self.dom_problems().await);
        out.extend(self.axe().await);
        out.into_iter().map(|p| format!("{what}: {p}")).collect()
    }

    /// Screenshots of the current page at each of [`VIEWPORTS`], whole pages up to
    /// [`MAX_SHOT_HEIGHT`], as `<target>/console-screenshots/<name>-<width>.png`. Returns the
    /// files and whether the page is wider than the phone's screen (it must not be: tables
    /// scroll inside their own box).
    pub async fn screenshots(&self, name: &str) -> (Vec<PathBuf>, Vec<String>) {
        let dir = screenshot_dir();
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for &(label, width, height, mobile) in VIEWPORTS {
            self.cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
            )
            .await;
            // Let the layout settle at the new width.
            self.js("return document.documentElement.getBoundingClientRect().width;")
                .await;
            let sizes = self
                .js("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight, window.innerWidth];")
                .await;
            let scroll_width = sizes[0].as_u64().unwrap_or(0);
            let scroll_height = sizes[1].as_u64().unwrap_or(u64::from(height));
            let inner = sizes[2].as_u64().unwrap_or(u64::from(width));
            if mobile && scroll_width > inner + 1 {
                problems.push(format!(
                    "{name}: the page is {scroll_width}px wide on a {inner}px phone screen \
                     (something overflows; wide content must scroll in its own box)"
                ));
            }
            let shot_height = (scroll_height as u32).clamp(height, MAX_SHOT_HEIGHT);
            let v = self
                .cdp(
                    "Page.captureScreenshot",
                    json!({
                        "format": "png",
                        "captureBeyondViewport": true,
                        "clip": {"x": 0, "y": 0, "width": width, "height": shot_height, "scale": 1},
                    }),
                )
                .await;
            let data = v["data"].as_str().expect("screenshot data");
            let png = data_encoding::BASE64
                .decode(data.as_bytes())
                .expect("screenshot base64");
            assert!(png.starts_with(b"\x89PNG"), "a PNG");
            let path = dir.join(format!("{name}-{width}.png"));
            std::fs::write(&path, &png).expect("write screenshot");
            files.push(path);
            let _ = label;
        }
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        (files, problems)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session stops its chromium (killing chromedriver alone would leave it
        // running): a plain DELETE, as a drop has no runtime to await a client on.
        let host = self.driver_url.trim_start_matches("http://");
        if let Ok(mut s) = std::net::TcpStream::connect(host) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                self.session
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| s.to_string())
        })
        .collect()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
