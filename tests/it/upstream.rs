//! Real upstream registries for the mirror tests: Debian's `docker-registry` (CNCF distribution
//! 2.8) on 127.0.0.1, a free port and a temp root, killed when dropped. Open, Basic
//! (`auth: htpasswd`) or bearer-token (`auth: token` against a [`TokenIssuer`] the upstream
//! runs) access, content seeded with skopeo from images built here, and the registry's access
//! log read back so tests can count the requests a sync made.
//!
//! Needs `docker-registry` (Debian package docker-registry), `skopeo` and, for
//! [`Upstream::basic`], `htpasswd` (apache2-utils) on PATH: a missing one fails the test with a
//! message saying which.
//!
//! Every method is blocking (std sockets and child processes): call them from `#[tokio::test]`s
//! as they are; nothing here needs the test's runtime.
//!
//! Images are built in memory ([`build_image`], [`build_list`]): Docker schema2 manifests with
//! real tar+gzip layers and a config whose `history` matches the layers (plus, by default, an
//! `empty_layer` CMD step as `docker build` leaves), so distribution can down-convert them to
//! schema1. They go up through skopeo's `dir:` transport with `--preserve-digests`, which keeps
//! every manifest byte for byte (skopeo 1.9's `oci:` source cannot hold Docker media types; see
//! `interop.rs`).

use crate::fault_proxy::{basic_auth, http_request, RawResponse};
use crate::harness::{have, sha256};
use crate::interop::Clients;
use crate::token_issuer::{Access, TokenIssuer, ISSUER, SERVICE};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// An `Accept` naming every manifest type distribution 2.8 serves as is.
pub const ACCEPT_ALL: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The `created` of every config and history step, so builds are reproducible.
const CREATED: &str = "2024-01-02T03:04:05Z";

/// Fail, never skip, when a program is missing.
pub fn require(program: &str, package: &str) {
    assert!(
        have(program),
        "`{program}` is not on PATH: the upstream tests need it (Debian: apt-get install \
         {package}). They fail instead of skipping so that a CI run without it cannot pass."
    );
}

/// How clients authenticate to an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Open,
    Basic { user: String, pass: String },
    Token { user: String, pass: String },
}

/// A manifest as distribution served it.
#[derive(Debug, Clone)]
pub struct Served {
    pub status: u16,
    /// `Docker-Content-Digest`
    pub digest: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// One line of distribution's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
}

/// A running distribution registry. Killed when dropped; its root dir goes with it.
pub struct Upstream {
    auth: Auth,
    port: u16,
    child: Option<Child>,
    issuer: Option<TokenIssuer>,
    clients: Clients,
    /// config.yml, data/, access.log, registry.log, htpasswd, token-root.pem, layouts/
    root: tempfile::TempDir,
}

impl Upstream {
    /// Anonymous pull and push.
    pub fn open() -> Upstream {
        Self::start(Auth::Open)
    }

    /// `auth: htpasswd` with one bcrypt user.
    pub fn basic(user: &str, pass: &str) -> Upstream {
        Self::start(Auth::Basic {
            user: user.into(),
            pass: pass.into(),
        })
    }

    /// `auth: token` against a [`TokenIssuer`] of its own ([`Upstream::issuer`]) that knows
    /// `user`; anonymous pull is off until `issuer().set_anonymous_pull(true)`.
    pub fn token(user: &str, pass: &str) -> Upstream {
        Self::start(Auth::Token {
            user: user.into(),
            pass: pass.into(),
        })
    }

    fn start(auth: Auth) -> Upstream {
        require("docker-registry", "docker-registry");
        require("skopeo", "skopeo");
        let root = tempfile::tempdir().expect("temp dir");
        let r = root.path();
        let auth_yaml = match &auth {
            Auth::Open => None,
            Auth::Basic { user, pass } => {
                require("htpasswd", "apache2-utils");
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, pass])
                    .output()
                    .expect("run htpasswd");
                assert!(out.status.success(), "htpasswd -Bbn failed: {out:?}");
                std::fs::write(r.join("htpasswd"), &out.stdout).expect("write htpasswd");
                Some(format!(
                    "  htpasswd:\n    realm: upstream-test\n    path: {}\n",
                    r.join("htpasswd").display()
                ))
            }
            Auth::Token { .. } => None,
        };
        let issuer = match &auth {
            Auth::Token { user, pass } => {
                let issuer = TokenIssuer::start();
                issuer.add_user(user, pass);
                Some(issuer)
            }
            _ => None,
        };
        let auth_yaml = match &issuer {
            Some(issuer) => {
                std::fs::write(r.join("token-root.pem"), issuer.cert_pem()).expect("write pem");
                Some(format!(
                    "  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
                     rootcertbundle: {}\n",
                    issuer.realm(),
                    r.join("token-root.pem").display()
                ))
            }
            None => auth_yaml,
        };
        // http.addr comes from REGISTRY_HTTP_ADDR at each start (see `spawn`).
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  secret: hoist-upstream-test\n\
             compatibility:\n  schema1:\n    enabled: true\n",
            r.join("data").display()
        );
        if let Some(auth_yaml) = auth_yaml {
            config.push_str("auth:\n");
            config.push_str(&auth_yaml);
        }
        std::fs::write(r.join("config.yml"), config).expect("write config.yml");
        let mut upstream = Upstream {
            auth,
            port: 0,
            child: None,
            issuer,
            clients: Clients::new(),
            root,
        };
        // A free port is found by binding port 0 and letting go; should something else take
        // it before distribution binds it, try another.
        for attempt in 1.. {
            upstream.port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
                l.local_addr().expect("port").port()
            };
            match upstream.spawn() {
                Ok(()) => break,
                Err(e) if attempt < 3 && e.contains("address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        upstream
    }

    /// Start distribution on `self.port` and wait until it answers.
    fn spawn(&mut self) -> Result<(), String> {
        let r = self.root.path();
        let append = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(r.join(name))
                .expect("log file")
        };
        let log_start = self.log().len();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(r.join("config.yml"))
            .env("REGISTRY_HTTP_ADDR", self.host_port())
            .stdin(Stdio::null())
            .stdout(append("access.log"))
            .stderr(append("registry.log"))
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let listening = format!("listening on {}", self.host_port());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Its own "listening on" line first: something else may answer on the port.
            if self
                .log()
                .get(log_start..)
                .is_some_and(|l| l.contains(&listening))
            {
                if let Ok(r) = http_request(&self.host_port(), "GET", "/v2/", &[], b"") {
                    if r.status == 200 || r.status == 401 {
                        return Ok(());
                    }
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "docker-registry exited ({status}):\n{}",
                    self.log()
                ));
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "docker-registry did not answer on {}:\n{}",
                    self.host_port(),
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL the registry (its storage stays). Requests then get "connection refused".
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the stopped registry again on the same port and root dir.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again: the upstream is running");
        if let Err(e) = self.spawn() {
            panic!("start_again on port {}: {e}", self.port);
        }
    }

    /// Is the registry process running?
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:<port>`: what goes in an image reference.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The user and password of a Basic or token upstream.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.auth {
            Auth::Open => None,
            Auth::Basic { user, pass } | Auth::Token { user, pass } => Some((user, pass)),
        }
    }

    /// The token issuer of a token upstream (panics for the others).
    pub fn issuer(&self) -> &TokenIssuer {
        self.issuer.as_ref().expect("not a token upstream")
    }

    /// distribution's storage root (`rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The registry's own log (stderr) so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("registry.log")).unwrap_or_default()
    }

    // --- the access log ------------------------------------------------------------------

    /// Every request in the access log, oldest first. distribution writes a line (Apache
    /// combined format, on stdout) just after each response; this waits until the log has
    /// been quiet for 100 ms so the lines of requests that just finished are in.
    pub fn access_log(&self) -> Vec<LoggedRequest> {
        let path = self.root.path().join("access.log");
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let again = std::fs::read_to_string(&path).unwrap_or_default();
            if again.len() == text.len() || Instant::now() > deadline {
                text = again;
                break;
            }
            text = again;
        }
        text.lines().filter_map(parse_access_line).collect()
    }

    /// (method, path without query) of every logged request.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.requests_since(0)
    }

    /// How many requests are logged so far: pass it to [`Upstream::requests_since`].
    pub fn log_mark(&self) -> usize {
        self.access_log().len()
    }

    /// (method, path without query) of the requests logged after `mark`.
    pub fn requests_since(&self, mark: usize) -> Vec<(String, String)> {
        self.access_log()
            .into_iter()
            .skip(mark)
            .map(|r| (r.method, r.path))
            .collect()
    }

    /// Logged requests with this method (any when empty) whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.access_log()
            .iter()
            .filter(|r| (method.is_empty() || r.method == method) && r.path.contains(part))
            .count()
    }

    // --- HTTP with the upstream's auth ---------------------------------------------------

    /// The `Authorization` the test's own requests to `target` carry: Basic, or a bearer token
    /// minted (uncounted) for the repository in the path with every action.
    fn authorization(&self, target: &str) -> Option<String> {
        match &self.auth {
            Auth::Open => None,
            Auth::Basic { user, pass } => Some(basic_auth(user, pass)),
            Auth::Token { user, .. } => {
                let mut access = vec![Access {
                    kind: "registry".into(),
                    name: "catalog".into(),
                    actions: vec!["*".into()],
                }];
                if let Some(repo) = repo_of(target) {
                    access.push(Access::repository(&repo, &["pull", "push", "delete", "*"]));
                }
                Some(format!("Bearer {}", self.issuer().mint(user, &access)))
            }
        }
    }

    /// One request to the upstream, authenticated as the test's user. `target` is the path
    /// and query (`/v2/...`).
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> RawResponse {
        let mut all = headers.to_vec();
        if let Some(value) = self.authorization(target) {
            all.push(("Authorization", value));
        }
        http_request(&self.host_port(), method, target, &all, body)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}\n{}", self.log()))
    }

    /// GET a manifest with this `Accept` (none at all when `None`: distribution then converts
    /// a schema2 image to signed schema1).
    pub fn manifest(&self, repo: &str, reference: &str, accept: Option<&str>) -> Served {
        let headers: Vec<(&str, String)> = accept
            .map(|a| vec![("Accept", a.to_owned())])
            .unwrap_or_default();
        let r = self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
            b"",
        );
        Served {
            status: r.status,
            digest: r.header("docker-content-digest").map(str::to_owned),
            content_type: r.header("content-type").map(str::to_owned),
            body: r.body,
        }
    }

    /// A blob's bytes (panics unless 200).
    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let r = self.request("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
        assert_eq!(r.status, 200, "GET blob {repo}@{digest}: {}", r.text());
        r.body
    }

    /// Every tag of `repo` (one unpaginated tags/list).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let r = self.request("GET", &format!("/v2/{repo}/tags/list"), &[], b"");
        assert_eq!(r.status, 200, "tags/list {repo}: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("tags JSON");
        v["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// PUT `body` as manifest `reference` (panics unless 201); returns the digest distribution
    /// reports.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let r = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type.to_owned())],
            body,
        );
        assert_eq!(r.status, 201, "PUT {repo}:{reference}: {}", r.text());
        r.header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_owned()
    }

    /// Remove a tag (the manifest stays, reachable by digest and other tags). distribution
    /// 2.8's API can only delete manifests (with all their tags), so this removes the tag's
    /// directory in the storage, which distribution reads afresh on every request.
    pub fn delete_tag(&self, repo: &str, tag: &str) {
        let dir = self
            .storage_dir()
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags")
            .join(tag);
        assert!(dir.is_dir(), "no tag {repo}:{tag} in {}", dir.display());
        std::fs::remove_dir_all(&dir).expect("remove the tag");
    }

    /// DELETE a manifest by digest through the API (its tags go with it); panics unless 202.
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let r = self.request(
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 202, "DELETE {repo}@{digest}: {}", r.text());
    }

    // --- skopeo --------------------------------------------------------------------------

    /// skopeo with the interop tests' client configuration, arguments still to add.
    pub fn skopeo_command(&self) -> Command {
        self.clients.skopeo_command()
    }

    /// `["--<which>-creds", "user:pass"]` for this upstream's user (empty when open); `which`
    /// is `src`, `dest` or `` (for `inspect`: `--creds`).
    pub fn creds_args(&self, which: &str) -> Vec<String> {
        let flag = if which.is_empty() {
            "--creds".to_owned()
        } else {
            format!("--{which}-creds")
        };
        self.credentials()
            .map(|(u, p)| vec![flag, format!("{u}:{p}")])
            .unwrap_or_default()
    }

    /// Run skopeo with `args`, whatever the outcome.
    pub fn skopeo_output(&self, args: &[&str]) -> Output {
        let mut cmd = self.skopeo_command();
        cmd.args(args);
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
    }

    /// Run skopeo with `args` to success; returns stdout. On failure panics with its output
    /// and the registry's log.
    pub fn skopeo(&self, args: &[&str]) -> String {
        let out = self.skopeo_output(args);
        assert!(
            out.status.success(),
            "skopeo {args:?} failed ({}):\nstdout: {}\nstderr: {}\nregistry log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker://127.0.0.1:<port>/<repo>:<tag>` (or `@digest` when `reference` is one).
    pub fn docker_ref(&self, repo: &str, reference: &str) -> String {
        let sep = if reference.contains(':') { '@' } else { ':' };
        format!("docker://{}/{repo}{sep}{reference}", self.host_port())
    }

    // --- seeding -------------------------------------------------------------------------

    /// Build a single-platform schema2 image from `spec` and push it as `repo:tag`.
    pub fn seed_image(&self, repo: &str, tag: &str, spec: &ImageSpec) -> Seeded {
        let seeded = Seeded::image(build_image(spec));
        self.push(repo, tag, &seeded);
        seeded
    }

    /// Build a Docker manifest list of one image per spec and push it as `repo:tag`.
    pub fn seed_list(&self, repo: &str, tag: &str, specs: &[ImageSpec]) -> Seeded {
        let seeded = build_list(specs);
        self.push(repo, tag, &seeded);
        seeded
    }

    /// Push something built here as `repo:tag` with `skopeo copy --all --preserve-digests`
    /// from a `dir:` layout, then check the upstream serves its exact top manifest.
    pub fn push(&self, repo: &str, tag: &str, seeded: &Seeded) {
        let layouts = self.root.path().join("layouts");
        std::fs::create_dir_all(&layouts).expect("mkdir layouts");
        let dir = tempfile::tempdir_in(&layouts).expect("layout dir");
        write_dir_layout(dir.path(), seeded);
        let src = format!("dir:{}", dir.path().display());
        let dest = self.docker_ref(repo, tag);
        let creds = self.creds_args("dest");
        let mut args = vec![
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ];
        args.extend(creds.iter().map(String::as_str));
        args.extend([src.as_str(), dest.as_str()]);
        self.skopeo(&args);
        let served = self.manifest(repo, tag, Some(ACCEPT_ALL));
        assert_eq!(served.status, 200, "{repo}:{tag} after the push");
        assert_eq!(
            served.body, seeded.manifest,
            "{repo}:{tag} is not the pushed manifest"
        );
    }

    /// Push one small image as `repo:<first tag>` and PUT its manifest under `n` tags in all
    /// (`t00000`, `t00001`, ...; lexical order is numeric order). Returns the manifest digest
    /// and the tags.
    pub fn seed_many_tags(&self, repo: &str, n: usize) -> (String, Vec<String>) {
        assert!(n > 0, "seed_many_tags: n must be at least 1");
        let tags: Vec<String> = (0..n).map(|i| format!("t{i:05}")).collect();
        let seeded = self.seed_image(repo, &tags[0], &ImageSpec::new(&[64]).seed(n as u64));
        let auth = self.authorization(&format!("/v2/{repo}/manifests/x"));
        for tag in &tags[1..] {
            let mut headers = vec![("Content-Type", SCHEMA2.to_owned())];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.clone()));
            }
            let target = format!("/v2/{repo}/manifests/{tag}");
            let r = http_request(
                &self.host_port(),
                "PUT",
                &target,
                &headers,
                &seeded.manifest,
            )
            .unwrap_or_else(|e| panic!("PUT {target}: {e}"));
            assert_eq!(r.status, 201, "PUT {target}: {}", r.text());
        }
        (seeded.digest, tags)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `127.0.0.1 - - [06/Dec/2026:03:46:46 +0000] "GET /v2/x/tags/list?n=2 HTTP/1.1" 404 109 ...`
fn parse_access_line(line: &str) -> Option<LoggedRequest> {
    let (_, rest) = line.split_once(" \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let mut words = request.split(' ');
    let method = words.next()?.to_owned();
    let target = words.next()?;
    let status = rest.split(' ').next()?.parse().ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    Some(LoggedRequest {
        method,
        path: path.to_owned(),
        query,
        status,
    })
}

/// The repository named in `/v2/<name>/(manifests|blobs|tags)/...`.
fn repo_of(target: &str) -> Option<String> {
    let path = target.split('?').next()?.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|m| path.rfind(m))
        .min()
        .map(|end| path[..end].to_owned())
}

// --- building images -----------------------------------------------------------------------

/// What [`build_image`] makes: a linux image with layers of given sizes.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The size of the one file in each layer (pseudo-random bytes, so the gzip is about as
    /// large).
    pub layers: Vec<usize>,
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    /// Layer contents come from (seed, platform, layer index): change it for other bytes.
    pub seed: u64,
    /// End the history with an `empty_layer` CMD step, as `docker build` does (default on). A
    /// schema1 conversion of such an image names the gzipped empty tar as a layer.
    pub empty_layer_step: bool,
}

impl ImageSpec {
    /// A linux/amd64 image with layers of these sizes.
    pub fn new(layer_sizes: &[usize]) -> ImageSpec {
        ImageSpec {
            layers: layer_sizes.to_vec(),
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            seed: 0,
            empty_layer_step: true,
        }
    }

    /// The same for linux/arm64/v8.
    pub fn arm64(layer_sizes: &[usize]) -> ImageSpec {
        Self::new(layer_sizes).platform("linux", "arm64", Some("v8"))
    }

    /// linux/amd64 and linux/arm64/v8 with these layer sizes: the usual two-platform list.
    pub fn two_platforms(layer_sizes: &[usize]) -> Vec<ImageSpec> {
        vec![Self::new(layer_sizes), Self::arm64(layer_sizes)]
    }

    pub fn platform(mut self, os: &str, arch: &str, variant: Option<&str>) -> ImageSpec {
        self.os = os.into();
        self.arch = arch.into();
        self.variant = variant.map(str::to_owned);
        self
    }

    pub fn seed(mut self, seed: u64) -> ImageSpec {
        self.seed = seed;
        self
    }

    /// No `empty_layer` history step (every history entry is a layer).
    pub fn without_empty_layer_step(mut self) -> ImageSpec {
        self.empty_layer_step = false;
        self
    }
}

/// A built schema2 image: every byte and digest.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Digest of the schema2 manifest.
    pub digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// (digest, gzipped bytes) of each layer, bottom first.
    pub layers: Vec<(String, Vec<u8>)>,
    /// sha256 of each uncompressed layer tar.
    pub diff_ids: Vec<String>,
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl BuiltImage {
    pub fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(|(d, _)| d.clone()).collect()
    }

    /// (digest, bytes) of the config and every layer.
    pub fn blobs(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![(self.config_digest.clone(), self.config.clone())];
        out.extend(self.layers.iter().cloned());
        out
    }
}

/// What a seed pushed: the top manifest (an image or a list) and each image.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Digest of the top manifest.
    pub digest: String,
    /// [`SCHEMA2`] or [`LIST`].
    pub media_type: String,
    pub manifest: Vec<u8>,
    /// The image itself, or the list's children in list order.
    pub images: Vec<BuiltImage>,
}

impl Seeded {
    /// A single image.
    pub fn image(image: BuiltImage) -> Seeded {
        Seeded {
            digest: image.digest.clone(),
            media_type: SCHEMA2.into(),
            manifest: image.manifest.clone(),
            images: vec![image],
        }
    }

    pub fn is_list(&self) -> bool {
        self.media_type == LIST
    }

    /// Digests of the list's children (empty for an image).
    pub fn child_digests(&self) -> Vec<String> {
        if self.is_list() {
            self.images.iter().map(|i| i.digest.clone()).collect()
        } else {
            Vec::new()
        }
    }

    /// Digests of every config and layer, deduplicated.
    pub fn blob_digests(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .images
            .iter()
            .flat_map(|i| i.blobs().into_iter().map(|(d, _)| d))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A one-file ustar archive.
fn tar_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let field = |h: &mut [u8; 512], at: usize, value: &[u8]| {
        h[at..at + value.len()].copy_from_slice(value);
    };
    field(&mut header, 0, name.as_bytes());
    field(&mut header, 100, b"0000644\0");
    field(&mut header, 108, b"0000000\0");
    field(&mut header, 116, b"0000000\0");
    field(
        &mut header,
        124,
        format!("{:011o}\0", data.len()).as_bytes(),
    );
    field(
        &mut header,
        136,
        format!("{:011o}\0", 1_704_164_645u64).as_bytes(),
    ); // CREATED
    field(&mut header, 148, b"        ");
    header[156] = b'0';
    field(&mut header, 257, b"ustar\0");
    field(&mut header, 263, b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    field(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// A descriptor in Docker's key order and 3-space indentation, at `depth` levels.
fn descriptor(media_type: &str, size: usize, digest: &str, depth: usize, extra: &str) -> String {
    let pad = "   ".repeat(depth + 1);
    let end = "   ".repeat(depth);
    format!(
        "{{\n{pad}\"mediaType\": \"{media_type}\",\n{pad}\"size\": {size},\n{pad}\"digest\": \
         \"{digest}\"{extra}\n{end}}}"
    )
}

/// Build a schema2 image as `docker push` would write it.
pub fn build_image(spec: &ImageSpec) -> BuiltImage {
    let platform = format!(
        "{}/{}/{}",
        spec.os,
        spec.arch,
        spec.variant.as_deref().unwrap_or("")
    );
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (i, size) in spec.layers.iter().enumerate() {
        let seed_hex = sha256(format!("{}/{platform}/{i}", spec.seed).as_bytes());
        let seed = u64::from_str_radix(&seed_hex[7..23], 16).expect("hex");
        let tar = tar_one_file(
            &format!("layer-{i}.bin"),
            &crate::rawhttp::noise(seed, *size),
        );
        diff_ids.push(sha256(&tar));
        let gz = gzip(&tar);
        layers.push((sha256(&gz), gz));
        history.push(serde_json::json!({
            "created": CREATED,
            "created_by": format!("/bin/sh -c #(nop) ADD file:layer-{i}.bin in / "),
        }));
    }
    if spec.empty_layer_step {
        history.push(serde_json::json!({
            "created": CREATED,
            "created_by": "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]",
            "empty_layer": true,
        }));
    }
    let mut config = serde_json::json!({
        "architecture": spec.arch,
        "os": spec.os,
        "created": CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    if let Some(v) = &spec.variant {
        config["variant"] = v.clone().into();
    }
    let config = serde_json::to_vec(&config).expect("config JSON");
    let config_digest = sha256(&config);
    let layer_text: Vec<String> = layers
        .iter()
        .map(|(d, b)| format!("      {}", descriptor(LAYER, b.len(), d, 2, "")))
        .collect();
    let manifest = format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{SCHEMA2}\",\n   \"config\": {},\n   \
         \"layers\": [{}{}\n   ]\n}}",
        descriptor(CONFIG, config.len(), &config_digest, 1, ""),
        if layer_text.is_empty() { "" } else { "\n" },
        layer_text.join(",\n"),
    )
    .into_bytes();
    BuiltImage {
        digest: sha256(&manifest),
        manifest,
        config_digest,
        config,
        layers,
        diff_ids,
        os: spec.os.clone(),
        arch: spec.arch.clone(),
        variant: spec.variant.clone(),
    }
}

/// Build a Docker manifest list with one image per spec, as `docker manifest push` would.
pub fn build_list(specs: &[ImageSpec]) -> Seeded {
    let images: Vec<BuiltImage> = specs.iter().map(build_image).collect();
    let entries: Vec<String> = images
        .iter()
        .map(|i| {
            let variant = i
                .variant
                .as_deref()
                .map(|v| format!(",\n            \"variant\": \"{v}\""))
                .unwrap_or_default();
            let platform = format!(
                ",\n         \"platform\": {{\n            \"architecture\": \"{}\",\n            \
                 \"os\": \"{}\"{variant}\n         }}",
                i.arch, i.os
            );
            format!(
                "      {}",
                descriptor(SCHEMA2, i.manifest.len(), &i.digest, 2, &platform)
            )
        })
        .collect();
    let manifest = format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{LIST}\",\n   \"manifests\": [\n{}\n   \
         ]\n}}",
        entries.join(",\n")
    )
    .into_bytes();
    Seeded {
        digest: sha256(&manifest),
        media_type: LIST.into(),
        manifest,
        images,
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

/// A skopeo `dir:` layout of `seeded`: `manifest.json` is the top manifest, a list's children
/// are `<hex>.manifest.json`, blobs are `<hex>`.
pub fn write_dir_layout(dir: &Path, seeded: &Seeded) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n").expect("write");
    std::fs::write(dir.join("manifest.json"), &seeded.manifest).expect("write manifest");
    for image in &seeded.images {
        if seeded.is_list() {
            let name = format!("{}.manifest.json", hex(&image.digest));
            std::fs::write(dir.join(name), &image.manifest).expect("write child");
        }
        for (digest, bytes) in image.blobs() {
            std::fs::write(dir.join(hex(&digest)), bytes).expect("write blob");
        }
    }
}
