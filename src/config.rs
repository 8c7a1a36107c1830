//! One configuration struct, layered: defaults < TOML file < `HOIST_*` environment < flags.
//! clap resolves flags over the environment; the file fills in what neither gave.

use crate::oci::Platform;
use crate::registry::RegistryConfig;
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
    /// TOML config file (keys: listen, data_dir, upload_max_idle_secs, log)
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    upload_max_idle_secs: Option<u64>,
    log: Option<String>,
    default_platform: Option<String>,
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
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log: String,
    pub registry: RegistryConfig,
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
                    None => RegistryConfig::default().default_platform,
                },
                ..RegistryConfig::default()
            },
        })
    }
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
