//! Starts the real `hoist` binary on 127.0.0.1 with a temp data dir and talks HTTP to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running hoist. Killed when dropped; its temp dir goes with it.
pub struct Hoist {
    child: Option<Child>,
    /// `127.0.0.1:<port>`
    pub addr: String,
    pub data_dir: PathBuf,
    /// Keeps the temp dir (data and log) alive as long as the server.
    root: std::sync::Arc<tempfile::TempDir>,
    /// What `start_configured` gave, for restarts.
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Hoist {
    /// Start hoist on a fresh data dir.
    pub fn start() -> Hoist {
        Self::start_with(&[])
    }

    /// Start hoist on a fresh data dir with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> Hoist {
        let root = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let data_dir = root.path().join("data");
        let mut h = Self::spawn(root, data_dir, extra);
        h.args = extra.iter().map(|s| s.to_string()).collect();
        h
    }

    /// Start hoist on a fresh data dir with `config` as its TOML config file, `env` added to
    /// its environment (secrets named by `password_env`, say) and extra `serve` flags.
    pub fn start_configured(config: &str, env: &[(&str, &str)], extra: &[&str]) -> Hoist {
        let root = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let path = root.path().join("hoist.toml");
        std::fs::write(&path, config).expect("write config");
        let data_dir = root.path().join("data");
        let mut args: Vec<String> = vec!["--config".into(), path.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut h = Self::spawn_env(root, data_dir, &args, &env);
        h.args = args;
        h.env = env;
        h
    }

    /// Start hoist on `data_dir`, a directory the test prepared (a small file system, say);
    /// the log goes to a temp dir of its own.
    pub fn start_at(data_dir: PathBuf, extra: &[&str]) -> Hoist {
        let root = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::spawn(root, data_dir, extra)
    }

    /// Stop this server hard (SIGKILL) and start a new one on the same data dir.
    pub fn restart_after_kill(mut self) -> Hoist {
        self.kill9();
        self.respawn()
    }

    /// Stop this server gracefully (SIGTERM) and start a new one on the same data dir.
    pub fn restart_after_terminate(mut self) -> Hoist {
        assert!(self.terminate().success(), "graceful exit");
        self.respawn()
    }

    /// Start a new server on this stopped one's data dir, with the same flags and
    /// environment as the first one was given by `start_configured`.
    fn respawn(mut self) -> Hoist {
        let root = std::sync::Arc::clone(&self.root);
        let data_dir = self.data_dir.clone();
        let (args, env) = (
            std::mem::take(&mut self.args),
            std::mem::take(&mut self.env),
        );
        drop(self);
        let mut h = Self::spawn_env(root, data_dir, &args, &env);
        h.args = args;
        h.env = env;
        h
    }

    fn spawn(root: std::sync::Arc<tempfile::TempDir>, data_dir: PathBuf, extra: &[&str]) -> Hoist {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::spawn_env(root, data_dir, &extra, &[])
    }

    fn spawn_env(
        root: std::sync::Arc<tempfile::TempDir>,
        data_dir: PathBuf,
        extra: &[String],
        env: &[(String, String)],
    ) -> Hoist {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.path().join("hoist.log"))
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hoist"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HOIST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start hoist");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {} // keep draining so hoist never blocks on stdout
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("hoist did not start; log: {}", read_log(root.path())));
        let addr = line
            .rsplit("://")
            .next()
            .expect("address in start-up line")
            .trim()
            .to_owned();
        Hoist {
            child: Some(child),
            addr,
            data_dir,
            root,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(self.root.path())
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a graceful exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().expect("wait")
    }
}

impl Drop for Hoist {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn read_log(root: &Path) -> String {
    std::fs::read_to_string(root.join("hoist.log")).unwrap_or_default()
}

/// A client with no connection pooling surprises: one per test is fine.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hoist::oci::Digest::sha256_of(bytes).to_string()
}

/// Push a blob in one request; panics unless it is created.
pub async fn push_blob(c: &reqwest::Client, h: &Hoist, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let r = c
        .post(h.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
        .body(bytes.to_vec())
        .send()
        .await
        .expect("push blob");
    assert_eq!(r.status(), 201, "push blob to {repo}");
    digest
}

/// Push a minimal OCI image (config + one layer) and tag it; returns the manifest digest.
pub async fn push_image(c: &reqwest::Client, h: &Hoist, repo: &str, tag: &str) -> String {
    let body = image_manifest(c, h, repo, tag.as_bytes(), None).await;
    put_manifest(
        c,
        h,
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &body,
    )
    .await
}

/// Build (and push the blobs of) an OCI image manifest whose layer holds `content`.
pub async fn image_manifest(
    c: &reqwest::Client,
    h: &Hoist,
    repo: &str,
    content: &[u8],
    extra: Option<serde_json::Value>,
) -> Vec<u8> {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(c, h, repo, config).await;
    let layer_digest = push_blob(c, h, repo, content).await;
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": content.len()}],
    });
    if let Some(serde_json::Value::Object(extra)) = extra {
        for (k, v) in extra {
            m[k] = v;
        }
    }
    serde_json::to_vec(&m).expect("json")
}

/// PUT a manifest; panics unless it is created. Returns its digest.
pub async fn put_manifest(
    c: &reqwest::Client,
    h: &Hoist,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> String {
    let r = c
        .put(h.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("put manifest");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, 201, "put manifest {repo}:{reference}: {text}");
    sha256(body)
}

/// The `code` of the first error in a spec error body.
pub async fn error_code(r: reqwest::Response) -> String {
    let body: serde_json::Value = r.json().await.expect("error body is JSON");
    body["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_owned()
}

/// Is a program on PATH? Interop tests need skopeo, podman, containerd.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
