//! Upstreams, mirror rules and pull-through prefixes as a person writes them: in the TOML
//! config (`[[upstreams]]`, `[[mirrors]]`, `[[proxies]]`) or in the JSON API. The same
//! shapes are stored in redb for the ones made through the API. `compile` checks them and
//! turns them into what the worker uses. Secrets are never held here: only the name of the
//! environment variable or file they come from.

use super::rules::{parse_duration, PlatformFilter, RepoMapping, TagFilter};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Default `fresh_for` of a pull-through prefix.
pub const DEFAULT_FRESH_FOR: Duration = Duration::from_secs(300);

fn yes() -> bool {
    true
}

fn four() -> usize {
    4
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub name: String,
    pub url: String,
    /// Registry host names this upstream answers for (containerd's `ns=`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Answers requests that no rule, prefix or `ns` covers (Docker's registry-mirrors).
    #[serde(default)]
    pub default: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "four")]
    pub max_concurrency: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_second: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every blob is fetched by the sync.
    #[default]
    Immediate,
    /// Manifests are fetched by the sync; each blob on its first pull.
    OnDemand,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeletedUpstream {
    #[default]
    Keep,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorSettings {
    pub name: String,
    pub upstream: String,
    /// An upstream repository, or a prefix ending in `/*`.
    pub from: String,
    /// A local repository, or a prefix ending in `/*`.
    pub to: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<String>,
    /// How often to sync (`6h`); without it the rule runs only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub deleted_upstream: DeletedUpstream,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// A pull of `<prefix>/<repo>` that hoist lacks comes from the upstream's `<repo>`.
    pub prefix: String,
    pub upstream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_for: Option<String>,
}

/// A mirror rule, checked.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub name: String,
    pub upstream: String,
    pub mapping: RepoMapping,
    pub tags: TagFilter,
    pub platforms: PlatformFilter,
    pub every: Option<Duration>,
    pub mode: Mode,
    pub deleted_upstream: DeletedUpstream,
}

/// A pull-through prefix, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    pub prefix: String,
    pub upstream: String,
    pub fresh_for: Duration,
}

impl MirrorSettings {
    pub fn compile(&self) -> Result<Mirror, String> {
        let at = |e: String| format!("mirror {:?}: {e}", self.name);
        check_name("mirror", &self.name)?;
        Ok(Mirror {
            name: self.name.clone(),
            upstream: self.upstream.clone(),
            mapping: RepoMapping::new(&self.from, &self.to).map_err(at)?,
            tags: TagFilter::new(&self.tags, &self.exclude).map_err(at)?,
            platforms: PlatformFilter::parse(&self.platforms).map_err(at)?,
            every: self
                .every
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(at)?,
            mode: self.mode,
            deleted_upstream: self.deleted_upstream,
        })
    }
}

impl ProxySettings {
    pub fn compile(&self) -> Result<Proxy, String> {
        let prefix = self.prefix.trim_matches('/').to_owned();
        if prefix.is_empty() || prefix.contains('*') {
            return Err(format!(
                "proxy prefix {:?} must be a path like hub",
                self.prefix
            ));
        }
        Ok(Proxy {
            prefix,
            upstream: self.upstream.clone(),
            fresh_for: self
                .fresh_for
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| format!("proxy {:?}: {e}", self.prefix))?
                .unwrap_or(DEFAULT_FRESH_FOR),
        })
    }
}

impl UpstreamSettings {
    pub fn check(&self) -> Result<(), String> {
        check_name("upstream", &self.name)?;
        let url = self.url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 9 {
            return Err(format!(
                "upstream {:?}: url {:?} must start with http:// or https://",
                self.name, self.url
            ));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            return Err(format!(
                "upstream {:?}: password_env or password_file, not both",
                self.name
            ));
        }
        if self.max_concurrency == 0 {
            return Err(format!(
                "upstream {:?}: max_concurrency must be at least 1",
                self.name
            ));
        }
        if self
            .max_requests_per_second
            .is_some_and(|r| r.is_nan() || r <= 0.0)
        {
            return Err(format!(
                "upstream {:?}: max_requests_per_second must be above zero",
                self.name
            ));
        }
        Ok(())
    }

    /// The password, read from where the settings say; `None` without one.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(var) = &self.password_env {
            return std::env::var(var).map(Some).map_err(|_| {
                format!(
                    "upstream {:?}: environment variable {var} (password_env) is not set",
                    self.name
                )
            });
        }
        if let Some(path) = &self.password_file {
            return std::fs::read_to_string(path)
                .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|e| {
                    format!(
                        "upstream {:?}: password_file {}: {e}",
                        self.name,
                        path.display()
                    )
                });
        }
        Ok(None)
    }
}

/// Names are path segments in the API and labels on pages: keep them plain.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_example_parses_and_compiles() {
        #[derive(Deserialize)]
        struct File {
            upstreams: Vec<UpstreamSettings>,
            mirrors: Vec<MirrorSettings>,
            proxies: Vec<ProxySettings>,
        }
        let file: File = toml::from_str(
            r#"
[[upstreams]]
name = "hub"
url = "https://registry-1.docker.io"
hosts = ["docker.io"]
default = true
username = "me"
password_env = "HUB_TOKEN"
tls_verify = true
max_concurrency = 4
max_requests_per_second = 10

[[mirrors]]
name = "alpine"
upstream = "hub"
from = "library/alpine"
to = "hub/library/alpine"
tags = ["3.*", "latest"]
exclude = ["*-rc*"]
platforms = ["linux/amd64", "linux/arm64"]
every = "6h"
mode = "immediate"
deleted_upstream = "keep"

[[proxies]]
prefix = "hub"
upstream = "hub"
fresh_for = "5m"
"#,
        )
        .expect("parses");
        file.upstreams[0].check().expect("upstream");
        let m = file.mirrors[0].compile().expect("mirror");
        assert_eq!(m.every, Some(Duration::from_secs(6 * 3600)));
        assert!(m.tags.keeps("3.19") && !m.tags.keeps("3.20-rc1"));
        assert_eq!(m.mode, Mode::Immediate);
        let p = file.proxies[0].compile().expect("proxy");
        assert_eq!(p.fresh_for, Duration::from_secs(300));
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let m = MirrorSettings {
            name: "x".into(),
            upstream: "hub".into(),
            from: "library/*".into(),
            to: "one".into(),
            tags: vec![],
            exclude: vec![],
            platforms: vec![],
            every: None,
            mode: Mode::OnDemand,
            deleted_upstream: DeletedUpstream::Remove,
        };
        assert!(m.compile().expect_err("mismatch").contains("prefixes"));
        let bad_name = MirrorSettings {
            name: "a b".into(),
            ..m
        };
        assert!(bad_name.compile().is_err());
        let mode: Mode = serde_json::from_str("\"on-demand\"").expect("mode");
        assert_eq!(mode, Mode::OnDemand);
    }

    #[test]
    fn passwords_come_from_a_file_without_its_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").expect("write");
        let u = UpstreamSettings {
            name: "u".into(),
            url: "http://127.0.0.1:1".into(),
            hosts: vec![],
            default: false,
            username: Some("me".into()),
            password_env: None,
            password_file: Some(path),
            tls_verify: true,
            ca_file: None,
            max_concurrency: 1,
            max_requests_per_second: None,
        };
        assert_eq!(u.password().expect("read").as_deref(), Some("s3cret"));
        let missing = UpstreamSettings {
            password_file: None,
            password_env: Some("HOIST_TEST_SURELY_UNSET_VAR".into()),
            ..u
        };
        assert!(missing.password().expect_err("unset").contains("not set"));
    }
}
