//! One configuration struct, layered: defaults < TOML file < `HOIST_*` environment < flags.
//! clap resolves flags over the environment; the file fills in what neither gave.

mod auth;

pub use auth::TlsFiles;

use crate::http::EdgeLimits;
use crate::oci::Platform;
use crate::registry::{RegistryConfig, SizeLimit};
use crate::sync::settings::{MirrorSettings, ProxySettings, UpstreamSettings};
use crate::sync::SyncConfig;
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";
pub const DEFAULT_DATA_DIR: &str = "./hoist-data";
const DEFAULT_UPLOAD_MAX_IDLE_SECS: u64 = 24 * 3600;
/// actix logs every unparseable request at ERROR, including the TLS probe skopeo and podman
/// send to a plain-HTTP registry first; those are the client's, not hoist's, errors.
const DEFAULT_LOG: &str = "info,actix_http::h1::dispatcher=off";

/// Options of `hoist serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file (the keys of the flags below, and [[upstreams]], [[mirrors]],
    /// [[proxies]])
    #[arg(long, env = "HOIST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port
    #[arg(long, env = "HOIST_LISTEN")]
    pub listen: Option<String>,
    /// Where metadata and blobs are kept
    #[arg(long, env = "HOIST_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seconds an upload may sit idle before it is removed
    #[arg(long, env = "HOIST_UPLOAD_MAX_IDLE_SECS")]
    pub upload_max_idle_secs: Option<u64>,
    /// Log filter, e.g. `info` or `hoist=debug`
    #[arg(long, env = "HOIST_LOG")]
    pub log: Option<String>,
    /// The list entry served to clients that read no lists, as os/arch[/variant]
    #[arg(long, env = "HOIST_DEFAULT_PLATFORM")]
    pub default_platform: Option<String>,
    /// Seconds a request body may send nothing before it is aborted
    #[arg(long, env = "HOIST_BODY_IDLE_TIMEOUT_SECS")]
    pub body_idle_timeout_secs: Option<u64>,
    /// Uploads one client address may have sending at once (more get 429)
    #[arg(long, env = "HOIST_UPLOADS_PER_CLIENT")]
    pub uploads_per_client: Option<usize>,
    /// Free space kept on the data disk, e.g. 256MiB or 5%; uploads that would use it get 507
    #[arg(long, env = "HOIST_STORAGE_RESERVE")]
    pub storage_reserve: Option<String>,
    /// What uploads in progress may hold on disk together, e.g. 20GiB or 50%
    #[arg(long, env = "HOIST_UPLOADS_MAX_BYTES")]
    pub uploads_max_bytes: Option<String>,
    /// Refuse manifests whose blobs or children are not pushed yet (no sparse manifests)
    #[arg(long, env = "HOIST_REJECT_MISSING_REFERENCES")]
    pub reject_missing_references: bool,
    /// The URL clients reach hoist at (behind a reverse proxy), for token realms and Locations
    #[arg(long, env = "HOIST_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain to serve TLS with (reloaded on SIGHUP)
    #[arg(long, env = "HOIST_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate
    #[arg(long, env = "HOIST_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    upload_max_idle_secs: Option<u64>,
    log: Option<String>,
    default_platform: Option<String>,
    body_idle_timeout_secs: Option<u64>,
    uploads_per_client: Option<usize>,
    storage_reserve: Option<String>,
    uploads_max_bytes: Option<String>,
    reject_missing_references: Option<bool>,
    #[serde(default)]
    upstreams: Vec<UpstreamSettings>,
    #[serde(default)]
    mirrors: Vec<MirrorSettings>,
    #[serde(default)]
    proxies: Vec<ProxySettings>,
    public_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    auth: auth::AuthSection,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("listen address {0:?} is not host:port")]
    Listen(String),
    #[error("default platform {0:?} is not os/arch[/variant]")]
    Platform(String),
    #[error("{key} {value:?} is not a size (bytes like 256MiB, or a share of the disk like 5%)")]
    Size { key: &'static str, value: String },
    #[error("{key} must be at least 1")]
    Zero { key: &'static str },
    #[error("{0}")]
    Auth(String),
    #[error("public_url {0:?} must be an http:// or https:// URL")]
    PublicUrl(String),
    #[error("tls_cert and tls_key go together")]
    TlsHalf,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log: String,
    pub registry: RegistryConfig,
    pub edge: EdgeLimits,
    /// Upstreams, mirror rules and pull-through prefixes from the file.
    pub sync: SyncConfig,
    pub auth: crate::auth::AuthConfig,
    /// Access control was turned off although hoist listens beyond loopback.
    pub auth_off_on_network: bool,
    /// Where clients reach hoist, without a trailing slash (realms, Locations).
    pub public_url: Option<String>,
    pub tls: Option<TlsFiles>,
}

impl Config {
    pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::Listen(listen.clone()))?;
        let idle = args
            .upload_max_idle_secs
            .or(file.upload_max_idle_secs)
            .unwrap_or(DEFAULT_UPLOAD_MAX_IDLE_SECS);
        let defaults = RegistryConfig::default();
        let size =
            |key, flag: &Option<String>, file: Option<String>, default| match flag.clone().or(file)
            {
                Some(value) => parse_size(&value).ok_or(ConfigError::Size { key, value }),
                None => Ok(default),
            };
        let storage_reserve = size(
            "storage_reserve",
            &args.storage_reserve,
            file.storage_reserve,
            defaults.storage_reserve,
        )?;
        let uploads_max_bytes = size(
            "uploads_max_bytes",
            &args.uploads_max_bytes,
            file.uploads_max_bytes,
            defaults.uploads_max_bytes,
        )?;
        let edge_defaults = EdgeLimits::default();
        let body_idle = args
            .body_idle_timeout_secs
            .or(file.body_idle_timeout_secs)
            .map_or(edge_defaults.body_idle_timeout, Duration::from_secs);
        let uploads_per_client = args
            .uploads_per_client
            .or(file.uploads_per_client)
            .unwrap_or(edge_defaults.uploads_per_client);
        if body_idle.is_zero() {
            return Err(ConfigError::Zero {
                key: "body_idle_timeout_secs",
            });
        }
        if uploads_per_client == 0 {
            return Err(ConfigError::Zero {
                key: "uploads_per_client",
            });
        }
        let env_auth = std::env::var("HOIST_AUTH_ENABLED")
            .ok()
            .map(|v| matches!(v.trim(), "1" | "true" | "on" | "yes"));
        let (auth_config, auth_off_on_network) = file
            .auth
            .resolve(env_auth, &listen)
            .map_err(ConfigError::Auth)?;
        let public_url = match args.public_url.clone().or(file.public_url) {
            Some(url) => {
                let trimmed = url.trim().trim_end_matches('/').to_owned();
                if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
                    return Err(ConfigError::PublicUrl(url));
                }
                Some(trimmed)
            }
            None => None,
        };
        let tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(ConfigError::TlsHalf),
        };
        Ok(Config {
            listen,
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            log: args
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| DEFAULT_LOG.to_owned()),
            registry: RegistryConfig {
                upload_max_idle: Duration::from_secs(idle),
                default_platform: match args.default_platform.clone().or(file.default_platform) {
                    Some(p) => Platform::parse(&p).ok_or(ConfigError::Platform(p))?,
                    None => defaults.default_platform.clone(),
                },
                storage_reserve,
                uploads_max_bytes,
                reject_missing_references: args.reject_missing_references
                    || file.reject_missing_references.unwrap_or(false),
                ..defaults
            },
            edge: EdgeLimits {
                body_idle_timeout: body_idle,
                uploads_per_client,
            },
            sync: SyncConfig {
                upstreams: file.upstreams,
                mirrors: file.mirrors,
                proxies: file.proxies,
            },
            auth: auth_config,
            auth_off_on_network,
            public_url,
            tls,
        })
    }
}

/// `256MiB`, `1 GB`, `1073741824` (bytes) or `5%` (of the data disk).
fn parse_size(value: &str) -> Option<SizeLimit> {
    let value = value.trim();
    if let Some(percent) = value.strip_suffix('%') {
        let p: f64 = percent.trim().parse().ok()?;
        return (0.0..=100.0)
            .contains(&p)
            .then_some(SizeLimit::PercentOfDisk(p));
    }
    value
        .parse::<bytesize::ByteSize>()
        .ok()
        .map(|b| SizeLimit::Bytes(b.as_u64()))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_without_anything() {
        let c = Config::load(&ServeArgs::default()).expect("defaults load");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hoist.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndata_dir = \"/srv/hoist\"\nupload_max_idle_secs = 60\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:7000".into()),
            default_platform: Some("linux/arm64/v8".into()),
            ..ServeArgs::default()
        };
        let c = Config::load(&args).expect("loads");
        assert_eq!(c.registry.default_platform.architecture, "arm64");
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.data_dir, PathBuf::from("/srv/hoist"));
        assert_eq!(c.registry.upload_max_idle, Duration::from_secs(60));
    }

    #[test]
    fn sizes_are_bytes_with_units_or_a_share_of_the_disk() {
        assert_eq!(parse_size("256MiB"), Some(SizeLimit::Bytes(256 << 20)));
        assert_eq!(parse_size("1 GB"), Some(SizeLimit::Bytes(1_000_000_000)));
        assert_eq!(parse_size("4096"), Some(SizeLimit::Bytes(4096)));
        assert_eq!(parse_size("5%"), Some(SizeLimit::PercentOfDisk(5.0)));
        assert_eq!(parse_size("150%"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn limits_come_from_the_file_and_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hoist.toml");
        std::fs::write(
            &path,
            "storage_reserve = \"2%\"\nuploads_max_bytes = \"10GiB\"\n\
             body_idle_timeout_secs = 5\nuploads_per_client = 3\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(path),
            uploads_per_client: Some(9),
            ..ServeArgs::default()
        };
        let c = Config::load(&args).expect("loads");
        assert_eq!(c.registry.storage_reserve, SizeLimit::PercentOfDisk(2.0));
        assert_eq!(c.registry.uploads_max_bytes, SizeLimit::Bytes(10 << 30));
        assert_eq!(c.edge.body_idle_timeout, Duration::from_secs(5));
        assert_eq!(c.edge.uploads_per_client, 9);
        let bad = ServeArgs {
            storage_reserve: Some("plenty".into()),
            ..ServeArgs::default()
        };
        assert!(matches!(Config::load(&bad), Err(ConfigError::Size { .. })));
    }

    #[test]
    fn a_bad_platform_is_an_error() {
        let args = ServeArgs {
            default_platform: Some("amd64".into()),
            ..ServeArgs::default()
        };
        assert!(matches!(Config::load(&args), Err(ConfigError::Platform(_))));
    }

    #[test]
    fn unknown_file_keys_are_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hoist.toml");
        std::fs::write(&path, "lisen = \"x\"\n").expect("write");
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        assert!(matches!(
            Config::load(&args),
            Err(ConfigError::Parse { .. })
        ));
    }
}
