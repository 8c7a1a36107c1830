//! Real container engines as clients of hoist: a private containerd (driven with `ctr`) and a
//! private dockerd (driven with Debian's `docker` client), each started by the test on its own
//! temp dirs and stopped when dropped.
//!
//! Nothing here touches the host's own engines or their configuration:
//! - Both daemons run in a private mount namespace whose `/run` is a fresh tmpfs: containerd 1.6
//!   puts its shims' sockets in `/run/containerd/s` and dockerd 20.10 creates
//!   `/run/docker/plugins` whatever their configuration says. Mounts they make (containerd's
//!   overlay mounts) stay in that namespace and vanish with it.
//! - containerd runs with `--config <tmp>/config.toml` whose `root`, `state`, gRPC and ttrpc
//!   sockets are all under its temp dir; the CRI plugin, the `opt` plugin (which would create
//!   `/opt/containerd`) and the snapshotters that cannot work here are disabled.
//! - dockerd runs on its own `--data-root`, `--exec-root`, `--pidfile`, socket and
//!   `--config-file`, with its trust key (`deprecated-key-path`; otherwise it writes
//!   `/etc/docker/key.json`) in its temp dir, no iptables, no bridge, a cgroup parent of its own
//!   (removed when dropped), on a private containerd of its own (the one above, not one it
//!   supervises).
//! - The `docker` client gets a private `DOCKER_CONFIG`, so `docker login` never writes
//!   `~/.docker/config.json`.
//! - Network: the engines and `ctr` run with `HTTP_PROXY`/`HTTPS_PROXY` pointing at a closed
//!   port on 127.0.0.1 ([`NO_EGRESS_PROXY`]) and `NO_PROXY=127.0.0.1,localhost`. Go never
//!   proxies loopback addresses, so requests to hoist on 127.0.0.1 go straight there, while any
//!   request to another host (a hosts.toml `server` fall-back to `https://registry.example.test`,
//!   dockerd's fall-back from a mirror to Docker Hub) fails at once with
//!   `proxyconnect tcp: dial tcp 127.0.0.1:9: connect: connection refused`, without even a DNS
//!   look-up.
//!
//! Both daemons are started with `setpriv --pdeathsig KILL`, so they die with the thread that
//! started them even when the test process is killed: start them on the thread that owns them
//! (a `#[tokio::test]` body or a plain `#[test]`, not a `spawn_blocking` closure).
//!
//! What was found on this machine (containerd 1.6.20, docker.io 20.10.24, kernel 6.18, cgroup v1
//! hybrid, root): the overlayfs snapshotter works (its plugin loads, which in containerd 1.6
//! means a test overlay mount in its root succeeded), so it is the default, with `native` as the
//! fall-back; containerd answers about 55 ms after it is started, dockerd 75-200 ms after its
//! containerd; dockerd pulls, pushes, loads and even runs containers (`--network none`).
//!
//! Through a `hosts.toml` mirror, containerd 1.6 (like every containerd from 1.5 on) sends the
//! request to the mirror with the original host in an `ns` query parameter, e.g. for
//! `registry.example.test/foo/bar:v1`: `HEAD /v2/foo/bar/manifests/v1?ns=registry.example.test`
//! (see `engines_selftest.rs`, which checks every request of such a pull).

use crate::harness::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the engines' proxy variables point: a port on 127.0.0.1 that nothing listens on, so a
/// request for any non-loopback host is refused locally (see the module docs).
pub const NO_EGRESS_PROXY: &str = "http://127.0.0.1:9";

/// The containerd namespace `ctr` works in.
pub const CTR_NAMESPACE: &str = "hoist-test";

/// How long one `ctr` or `docker` command may run before `timeout` kills it.
const COMMAND_TIMEOUT: &str = "120";
/// How long a daemon may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon gets to stop after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Fail, never skip, when an engine is missing.
pub fn require(program: &str) -> Result<(), String> {
    if have(program) {
        Ok(())
    } else {
        Err(format!(
            "`{program}` is not on PATH: the engine tests need it (Debian: apt-get install \
             containerd docker.io). They fail instead of skipping so that a run without it \
             cannot pass."
        ))
    }
}

/// Set the no-egress proxy variables on a command (see [`NO_EGRESS_PROXY`]).
fn no_egress(cmd: &mut Command) -> &mut Command {
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        cmd.env(var, NO_EGRESS_PROXY);
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
}

/// `timeout` around a client command, so a hung engine fails the test instead of hanging it.
fn timed(program: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", COMMAND_TIMEOUT, program]);
    cmd
}

/// A daemon command: `program` in a private mount namespace whose `/run` is a fresh tmpfs
/// (containerd 1.6 puts its shims' sockets in `/run/containerd/s` and dockerd 20.10 creates
/// `/run/docker/plugins`, whatever their configuration says; mounts made inside, such as
/// containerd's overlay mounts, vanish with the namespace), started through
/// `setpriv --pdeathsig KILL` when setpriv is there (the death signal survives the execs of
/// `unshare` and `sh`, so it reaches the daemon). Arguments still to add.
fn daemon_command(program: &str) -> Command {
    let mut cmd = if have("setpriv") {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", "unshare"]);
        cmd
    } else {
        Command::new("unshare")
    };
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o mode=755 hoist-test-run /run && exec \"$@\"",
        "sh",
        program,
    ]);
    cmd
}

/// Both outputs of a finished command, for messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `Ok(stdout + stderr)` when the command succeeded, else `Err` with the status and both
/// outputs.
fn outcome(what: &str, out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    } else {
        Err(format!("{what} failed: {}", describe(&out)))
    }
}

fn run_output(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The last `max` bytes of a log file (lossy), for failure messages.
fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Mount points at or under `dir`, deepest first (from /proc/self/mountinfo).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

// ---------------------------------------------------------------------------------------------
// containerd

/// A private containerd in a mount namespace of its own; stopped (SIGTERM, then SIGKILL) when
/// dropped, when its mounts go with its namespace (anything still visible under its temp dir is
/// unmounted too) and its temp dir is removed.
///
/// It is meant for pulls (`ctr images ...`, `ctr content ...`, `ctr snapshots ...`) and as
/// dockerd's containerd; `ctr run` is not supported (ctr would make its FIFOs in the host's
/// `/run/containerd/fifo`, which the shims, inside the namespace, cannot see).
pub struct Containerd {
    child: Option<Child>,
    /// The gRPC socket (`ctr --address`).
    pub socket: PathBuf,
    /// The snapshotter `pull` unpacks with: `overlayfs` when it works here, else `native`.
    pub snapshotter: String,
    /// How long the daemon took to answer `ctr version`.
    pub started_in: Duration,
    tmp: tempfile::TempDir,
}

impl Containerd {
    /// Start a private containerd; panics with the reason when it cannot run.
    pub fn start() -> Containerd {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start a private containerd that unpacks with this snapshotter (`overlayfs`, `native`);
    /// panics when it cannot run or the snapshotter does not work here.
    pub fn start_with_snapshotter(snapshotter: &str) -> Containerd {
        Self::try_start_with(Some(snapshotter)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start a private containerd, or say exactly why it cannot run.
    pub fn try_start() -> Result<Containerd, String> {
        Self::try_start_with(None)
    }

    /// Start a private containerd unpacking with `snapshotter`, or with the first of
    /// `overlayfs`, `native` that works here when `None`; or say exactly why it cannot.
    pub fn try_start_with(snapshotter: Option<&str>) -> Result<Containerd, String> {
        require("containerd")?;
        require("ctr")?;
        require("unshare")?;
        let tmp = tempfile::Builder::new()
            .prefix("hoist-ctd")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let dir = tmp.path();
        let socket = dir.join("state/containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
plugin_dir = ""
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{state}/runc"
"#,
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            sock = socket.display(),
        );
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).map_err(|e| format!("write config: {e}"))?;
        let log_path = dir.join("containerd.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let started = Instant::now();
        let mut cmd = daemon_command("containerd");
        cmd.arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        no_egress(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start containerd: {e}"))?;
        let mut c = Containerd {
            child: Some(child),
            socket,
            snapshotter: String::new(),
            started_in: Duration::ZERO,
            tmp,
        };
        loop {
            if let Some(Ok(Some(status))) = c.child.as_mut().map(|ch| ch.try_wait()) {
                return Err(format!(
                    "containerd exited at start-up ({status}); its log:\n{}",
                    c.log()
                ));
            }
            if c.socket.exists() && c.ctr(&["version"]).status.success() {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "containerd did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    c.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        c.started_in = started.elapsed();
        c.snapshotter = c.working_snapshotter(snapshotter)?;
        Ok(c)
    }

    /// `wanted` if its plugin loaded, else an error; with no wish, `overlayfs` when its plugin
    /// loaded (containerd 1.6 loads it only after a test overlay mount in its root succeeded),
    /// else `native`.
    fn working_snapshotter(&self, wanted: Option<&str>) -> Result<String, String> {
        let out = self.ctr(&["plugins", "ls"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let ok = |id: &str| {
            text.lines().any(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                cols.len() >= 3
                    && cols[0] == "io.containerd.snapshotter.v1"
                    && cols[1] == id
                    && cols.last() == Some(&"ok")
            })
        };
        let candidates = match wanted {
            Some(id) => vec![id],
            None => vec!["overlayfs", "native"],
        };
        candidates
            .iter()
            .find(|id| ok(id))
            .map(|id| (*id).to_owned())
            .ok_or_else(|| {
                format!(
                    "no working snapshotter among {candidates:?} in containerd: {}\nlog:\n{}",
                    describe(&out),
                    self.log()
                )
            })
    }

    /// The daemon's log so far (its tail), for failure messages.
    pub fn log(&self) -> String {
        log_tail(&self.tmp.path().join("containerd.log"), 16 * 1024)
    }

    /// A `ctr` command on this daemon and namespace (no-egress proxy set), arguments still to
    /// add.
    pub fn ctr_command(&self) -> Command {
        let mut cmd = timed("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", CTR_NAMESPACE]);
        no_egress(&mut cmd);
        cmd
    }

    /// Run `ctr --address <sock> --namespace hoist-test <args>`.
    pub fn ctr(&self, args: &[&str]) -> Output {
        let mut cmd = self.ctr_command();
        cmd.args(args);
        run_output(cmd)
    }

    /// `ctr images pull` with the daemon's snapshotter; `Ok(stdout + stderr)` or `Err` with the
    /// status and both outputs.
    pub fn pull(
        &self,
        reference: &str,
        hosts_dir: Option<&Path>,
        plain_http: bool,
        user: Option<(&str, &str)>,
    ) -> Result<String, String> {
        self.pull_with(
            reference,
            &Pull {
                hosts_dir,
                plain_http,
                user,
                ..Pull::default()
            },
        )
    }

    /// `ctr images pull` with every option.
    pub fn pull_with(&self, reference: &str, opts: &Pull<'_>) -> Result<String, String> {
        let mut cmd = self.ctr_command();
        cmd.args(["images", "pull", "--snapshotter", &self.snapshotter]);
        if opts.plain_http {
            cmd.arg("--plain-http");
        }
        if let Some(dir) = opts.hosts_dir {
            cmd.arg("--hosts-dir").arg(dir);
        }
        if let Some((user, password)) = opts.user {
            cmd.args(["--user", &format!("{user}:{password}")]);
        }
        if let Some(platform) = opts.platform {
            cmd.args(["--platform", platform]);
        }
        if opts.all_platforms {
            cmd.arg("--all-platforms");
        }
        cmd.arg(reference);
        outcome(&format!("ctr images pull {reference}"), run_output(cmd))
    }

    /// Every image as (reference, target digest), from `ctr images ls`.
    pub fn images(&self) -> Vec<(String, String)> {
        let out = self.ctr(&["images", "ls"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                (cols.len() >= 3).then(|| (cols[0].to_owned(), cols[2].to_owned()))
            })
            .collect()
    }

    /// The digest `ctr images ls` records for `reference` (the manifest or index it pulled).
    pub fn image_digest(&self, reference: &str) -> Option<String> {
        self.images()
            .into_iter()
            .find(|(r, _)| r == reference)
            .map(|(_, d)| d)
    }

    /// `ctr images rm`.
    pub fn remove_image(&self, reference: &str) -> Result<String, String> {
        let mut cmd = self.ctr_command();
        cmd.args(["images", "rm", "--sync", reference]);
        outcome(&format!("ctr images rm {reference}"), run_output(cmd))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
        for mount in mounts_under(self.tmp.path()) {
            let _ = Command::new("umount")
                .arg("--lazy")
                .arg(&mount)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The options of [`Containerd::pull_with`].
#[derive(Default, Clone, Copy)]
pub struct Pull<'a> {
    /// `--hosts-dir`: a directory of `<host>/hosts.toml` files.
    pub hosts_dir: Option<&'a Path>,
    /// `--plain-http`: http:// for the reference's own host.
    pub plain_http: bool,
    /// `--user user:password`.
    pub user: Option<(&'a str, &'a str)>,
    /// `--platform`, e.g. `linux/arm64`.
    pub platform: Option<&'a str>,
    /// `--all-platforms`.
    pub all_platforms: bool,
}

/// A made-up registry host name for mirror tests; it resolves nowhere.
pub const MIRRORED_HOST: &str = "registry.example.test";

/// Write `<hosts_dir>/<host>/hosts.toml`, the standard containerd layout, sending pulls and
/// resolves for `host` to `http://<mirror_addr>` (`127.0.0.1:<port>`), with
/// `server = "https://<host>"` as the fall-back (refused locally: see [`NO_EGRESS_PROXY`]).
/// Returns the file's path.
pub fn write_hosts_toml(hosts_dir: &Path, host: &str, mirror_addr: &str) -> PathBuf {
    let dir = hosts_dir.join(host);
    std::fs::create_dir_all(&dir).expect("mkdir hosts dir");
    let path = dir.join("hosts.toml");
    let toml = format!(
        "server = \"https://{host}\"\n\n[host.\"http://{mirror_addr}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
    std::fs::write(&path, toml).expect("write hosts.toml");
    path
}

/// A temp hosts dir (`ctr --hosts-dir`), removed when dropped.
pub struct HostsDir {
    tmp: tempfile::TempDir,
}

impl HostsDir {
    /// A hosts dir where `host` is mirrored by `http://<mirror_addr>`.
    pub fn mirror(host: &str, mirror_addr: &str) -> HostsDir {
        let hosts = HostsDir {
            tmp: tempfile::tempdir().expect("temp dir"),
        };
        hosts.add(host, mirror_addr);
        hosts
    }

    /// Mirror one more host.
    pub fn add(&self, host: &str, mirror_addr: &str) -> PathBuf {
        write_hosts_toml(self.tmp.path(), host, mirror_addr)
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
}

// ---------------------------------------------------------------------------------------------
// dockerd

/// A private dockerd on a private containerd; stopped when dropped (dockerd first, SIGTERM then
/// SIGKILL, then its containerd), its temp dir removed.
///
/// Containers run too (`docker run --network none ...`): their cgroups go under a parent of
/// this daemon's own (`--cgroup-parent hoist-test-<tmp>`), removed from every hierarchy of
/// `/sys/fs/cgroup` when dropped.
pub struct Docker {
    child: Option<Child>,
    cgroup_parent: String,
    /// The API socket (`docker -H unix://...`).
    pub socket: PathBuf,
    /// How long dockerd took to answer `docker version` (its containerd not included).
    pub started_in: Duration,
    /// The containerd this dockerd uses (`--containerd`).
    pub containerd: Containerd,
    tmp: tempfile::TempDir,
}

impl Docker {
    /// Start a private dockerd with extra daemon flags (`--registry-mirror http://...`, say);
    /// panics with the reason when it cannot run.
    pub fn start(extra_daemon_args: &[&str]) -> Docker {
        Self::try_start_with(serde_json::json!({}), extra_daemon_args)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start a private dockerd whose daemon.json has these keys too (`{"registry-mirrors":
    /// [...]}`, say; a key may not also be given as a flag), or say exactly why it cannot run.
    pub fn try_start_with(
        daemon_json: serde_json::Value,
        extra_daemon_args: &[&str],
    ) -> Result<Docker, String> {
        require("dockerd")?;
        client_program()?;
        let containerd = Containerd::try_start()?;
        let tmp = tempfile::Builder::new()
            .prefix("hoist-dkd")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let dir = tmp.path();
        let socket = dir.join("docker.sock");
        let cgroup_parent = format!(
            "hoist-test-{}",
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        let mut config = serde_json::json!({
            "deprecated-key-path": dir.join("key.json"),
        });
        if let serde_json::Value::Object(extra) = daemon_json {
            for (k, v) in extra {
                config[k] = v;
            }
        }
        let config_path = dir.join("daemon.json");
        std::fs::write(&config_path, config.to_string())
            .map_err(|e| format!("write daemon.json: {e}"))?;
        std::fs::create_dir(dir.join("client")).map_err(|e| format!("mkdir: {e}"))?;
        let log_path = dir.join("dockerd.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let started = Instant::now();
        let mut cmd = daemon_command("dockerd");
        cmd.arg("--config-file")
            .arg(&config_path)
            .arg("--containerd")
            .arg(&containerd.socket)
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--cgroup-parent",
                &cgroup_parent,
            ])
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(extra_daemon_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        no_egress(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start dockerd: {e}"))?;
        let mut d = Docker {
            child: Some(child),
            cgroup_parent,
            socket,
            started_in: Duration::ZERO,
            containerd,
            tmp,
        };
        loop {
            if let Some(Ok(Some(status))) = d.child.as_mut().map(|ch| ch.try_wait()) {
                return Err(format!(
                    "dockerd exited at start-up ({status}); its log:\n{}",
                    d.log()
                ));
            }
            if d.socket.exists()
                && d.docker(&["version", "--format", "{{.Server.Version}}"])
                    .status
                    .success()
            {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "dockerd did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    d.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        d.started_in = started.elapsed();
        Ok(d)
    }

    /// The daemon's log so far (its tail), for failure messages.
    pub fn log(&self) -> String {
        log_tail(&self.tmp.path().join("dockerd.log"), 16 * 1024)
    }

    /// The client's private `DOCKER_CONFIG` dir (where `docker login` keeps credentials).
    pub fn client_config_dir(&self) -> PathBuf {
        self.tmp.path().join("client")
    }

    /// A `docker` command on this daemon (`DOCKER_HOST`, private `DOCKER_CONFIG`), arguments
    /// still to add.
    pub fn docker_command(&self) -> Command {
        let program = client_program().unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = timed(&program);
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.client_config_dir())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        cmd
    }

    /// Run `docker <args>` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = self.docker_command();
        cmd.args(args);
        run_output(cmd)
    }

    /// Run `docker <args>`: `Ok(stdout + stderr)` or `Err` with the status, both outputs and
    /// the tail of dockerd's log.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        outcome(&format!("docker {}", args.join(" ")), self.docker(args))
            .map_err(|e| format!("{e}\ndockerd log:\n{}", self.log()))
    }

    pub fn pull(&self, reference: &str) -> Result<String, String> {
        self.run(&["pull", reference])
    }

    pub fn push(&self, reference: &str) -> Result<String, String> {
        self.run(&["push", reference])
    }

    pub fn tag(&self, source: &str, target: &str) -> Result<String, String> {
        self.run(&["tag", source, target])
    }

    /// `docker load -i <tar>`.
    pub fn load(&self, tar: &Path) -> Result<String, String> {
        self.run(&["load", "-i", &tar.to_string_lossy()])
    }

    /// `docker rmi`.
    pub fn remove_image(&self, reference: &str) -> Result<String, String> {
        self.run(&["rmi", reference])
    }

    /// `docker login -u <user> --password-stdin <registry>`.
    pub fn login(&self, registry: &str, user: &str, password: &str) -> Result<String, String> {
        use std::io::Write;
        let mut cmd = self.docker_command();
        cmd.args(["login", "-u", user, "--password-stdin", registry])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot run docker: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(password.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("docker login: {e}"))?;
        outcome(&format!("docker login {registry}"), out)
    }

    /// The image ID (`sha256:` of its config) of a local image.
    pub fn image_id(&self, reference: &str) -> Option<String> {
        let out = self.docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The `RepoDigests` (`<repo>@sha256:...`) of a local image.
    pub fn repo_digests(&self, reference: &str) -> Vec<String> {
        let out = self.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            reference,
        ]);
        if !out.status.success() {
            return Vec::new();
        }
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
        // dockerd stops its containers as it exits; their cgroups are gone, the parent stays.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for hierarchy in hierarchies.flatten() {
                let _ = std::fs::remove_dir(hierarchy.path().join(&self.cgroup_parent));
            }
        }
        // cgroup v2 alone: one hierarchy, at /sys/fs/cgroup itself.
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.cgroup_parent));
        // then `containerd` and `tmp` drop, in that order
    }
}

/// Debian's docker client (`/usr/bin/docker`, the one matching dockerd 20.10) when it is there,
/// else whichever `docker` is on PATH.
fn client_program() -> Result<String, String> {
    if Path::new("/usr/bin/docker").exists() {
        Ok("/usr/bin/docker".to_owned())
    } else {
        require("docker").map(|()| "docker".to_owned())
    }
}

/// The digest `docker push` printed (`<tag>: digest: sha256:... size: N`).
pub fn pushed_digest(push_output: &str) -> Option<String> {
    push_output.lines().find_map(|line| {
        let rest = line.split(": digest: ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_owned())
    })
}

// ---------------------------------------------------------------------------------------------
// Images to feed the engines

/// Push a single-image OCI layout (`tests/fixtures/layout/simple`, say) into hoist as
/// `<repo>:<tag>` over HTTP, byte for byte: every blob of its first manifest, then the
/// manifest. Returns the manifest digest.
pub async fn push_layout(
    c: &reqwest::Client,
    h: &Hoist,
    layout: &Path,
    repo: &str,
    tag: &str,
) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    let top = &index["manifests"][0];
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::read(layout.join("blobs/sha256").join(hex)).expect("read layout blob")
    };
    let manifest = blob(top["digest"].as_str().expect("digest"));
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest is JSON");
    let layers = m["layers"]
        .as_array()
        .expect("an image manifest, not an index");
    for d in std::iter::once(&m["config"]).chain(layers) {
        push_blob(c, h, repo, &blob(d["digest"].as_str().expect("digest"))).await;
    }
    put_manifest(
        c,
        h,
        repo,
        tag,
        top["mediaType"].as_str().expect("mediaType"),
        &manifest,
    )
    .await
}

/// The digest hoist answers for `<repo>:<reference>` (HEAD, accepting every manifest type).
pub async fn hoist_digest(
    c: &reqwest::Client,
    h: &Hoist,
    repo: &str,
    reference: &str,
) -> Option<String> {
    let r = c
        .head(h.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .send()
        .await
        .expect("HEAD manifest");
    if r.status() != 200 {
        return None;
    }
    r.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A ustar archive of regular files (mode 0644, owner 0, mtime 0): the same bytes every time.
pub fn tar_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let files: Vec<(&str, &[u8], u32)> = files.iter().map(|(n, c)| (*n, *c, 0o644)).collect();
    tar_bytes_with_modes(&files)
}

/// A ustar archive of regular files with these modes (owner 0, mtime 0). Parent directories
/// get no entries of their own: docker and containerd create them as they unpack.
pub fn tar_bytes_with_modes(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content, mode) in files {
        assert!(name.len() < 100, "tar name too long: {name}");
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        let mut field = |at: usize, width: usize, value: u64| {
            let text = format!("{value:0w$o}\0", w = width - 1);
            header[at..at + width].copy_from_slice(text.as_bytes());
        };
        field(100, 8, u64::from(*mode));
        field(108, 8, 0); // uid
        field(116, 8, 0); // gid
        field(124, 12, content.len() as u64); // size
        field(136, 12, 0); // mtime
        header[156] = b'0'; // regular file
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(content);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0); // two zero blocks end the archive
    out
}

/// A tiny image as a `docker save` archive at `<dir>/image.tar`, tagged `repo_tag`: one layer
/// holding `/<file_name>` with `content`. Returns (archive path, image ID = config digest).
pub fn write_docker_archive(
    dir: &Path,
    repo_tag: &str,
    file_name: &str,
    content: &[u8],
) -> (PathBuf, String) {
    let layer = tar_bytes(&[(file_name, content)]);
    let diff_id = sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": [format!("/{file_name}")]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hoist engine tests"}],
    }))
    .expect("json");
    let image_id = sha256(&config);
    let config_name = format!("{}.json", image_id.trim_start_matches("sha256:"));
    let layer_name = format!("{}/layer.tar", diff_id.trim_start_matches("sha256:"));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": [layer_name],
    }]))
    .expect("json");
    let archive = tar_bytes(&[
        (&config_name, &config),
        (&layer_name, &layer),
        ("manifest.json", &manifest),
    ]);
    let path = dir.join("image.tar");
    std::fs::write(&path, archive).expect("write image archive");
    (path, image_id)
}

/// Requests as lines `METHOD target`, for messages.
pub fn lines<I: IntoIterator<Item = (String, String)>>(requests: I) -> String {
    requests.into_iter().fold(String::new(), |mut s, (m, t)| {
        let _ = writeln!(s, "  {m} {t}");
        s
    })
}

/// Push a one-layer OCI image into hoist as `<repo>:<tag>`: `layer` (an uncompressed tar) and a
/// linux/amd64 config whose `diff_ids` and `Cmd` match, so engines can unpack and run it.
/// Returns the manifest digest.
pub async fn push_tar_image(
    c: &reqwest::Client,
    h: &Hoist,
    repo: &str,
    tag: &str,
    layer: &[u8],
    cmd: &[&str],
) -> String {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    }))
    .expect("json");
    let config_digest = push_blob(c, h, repo, &config).await;
    let layer_digest = push_blob(c, h, repo, layer).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .expect("json");
    put_manifest(
        c,
        h,
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    )
    .await
}

/// A layer that runs: the host's `/usr/bin/echo` as `/bin/echo`, with the shared libraries
/// `ldd` names for it (Debian's echo needs only libc and the loader).
pub fn echo_layer() -> Vec<u8> {
    let out = Command::new("ldd")
        .arg("/usr/bin/echo")
        .output()
        .expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut files = vec![(
        "bin/echo".to_owned(),
        std::fs::read("/usr/bin/echo").expect("read /usr/bin/echo"),
        0o755,
    )];
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .split("=>")
            .last()
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(path) = path {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
            files.push((path.trim_start_matches('/').to_owned(), bytes, 0o755));
        }
    }
    let entries: Vec<(&str, &[u8], u32)> = files
        .iter()
        .map(|(n, c, m)| (n.as_str(), c.as_slice(), *m))
        .collect();
    tar_bytes_with_modes(&entries)
}
