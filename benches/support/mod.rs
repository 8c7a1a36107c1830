//! What the benches share: starting hoist, knobs from the environment, percentiles, and the
//! small image every seeded repository is made of.

#![allow(dead_code)] // each bench uses its part

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value at fraction `p` of `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

/// A hoist the bench started; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// hoist on 127.0.0.1 (port 0) with its data in `data`, `args` and `env` added; returns
    /// it and the time to its start-up line.
    pub fn start(data: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> (Server, Duration) {
        let began = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hoist"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log",
                "warn",
                "--data-dir",
            ])
            .arg(data)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hoist");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("start-up line");
        let took = began.elapsed();
        let addr = line
            .rsplit("http://")
            .next()
            .expect("address")
            .trim()
            .to_owned();
        (Server { child, addr }, took)
    }

    /// Stop it as an operator would (SIGTERM) and wait for it.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Crash it (SIGKILL) and reap it.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Push [`CONFIG`] and `layer` to `base/img` (other repositories mount them); returns
/// their digests.
pub async fn push_base_blobs(c: &reqwest::Client, base: &str, layer: &[u8]) -> Vec<String> {
    let mut digests = Vec::new();
    for blob in [CONFIG, layer] {
        let d = hoist::oci::Digest::sha256_of(blob).to_string();
        let r = c
            .post(format!("{base}/v2/base/img/blobs/uploads/?digest={d}"))
            .body(blob.to_vec())
            .send()
            .await
            .expect("blob");
        assert_eq!(r.status(), 201, "push a blob");
        digests.push(d);
    }
    digests
}

/// An OCI image manifest over [`CONFIG`] and a layer of `layer_len` bytes, with
/// `annotations` (`null` for none).
pub fn image_manifest(
    digests: &[String],
    layer_len: usize,
    annotations: serde_json::Value,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0], "size": CONFIG.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[1], "size": layer_len}],
    });
    if !annotations.is_null() {
        m["annotations"] = annotations;
    }
    serde_json::to_vec(&m).expect("json")
}
