//! The upstreams, mirror rules and pull-through prefixes in force: those of the config file
//! (fixed for the process's life) and those made through the API (kept in redb). Answers
//! which upstream backs a local repository and where an `ns=` or default request goes.
//! Readers take a snapshot (an `Arc`), so lookups on every pull cost a pointer copy.

use super::rules::PlatformFilter;
use super::settings::{
    Mirror, MirrorSettings, Mode, Proxy, ProxySettings, UpstreamSettings, DEFAULT_FRESH_FOR,
};
use super::upstream::{Credentials, UpstreamClient, UpstreamSpec};
use super::SyncError;
use crate::oci::RepoName;
use crate::registry::Routed;
use serde::Serialize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Where a setting came from: the config file's are read-only through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Api,
}

/// An upstream in force, with its client.
#[derive(Clone)]
pub struct Upstream {
    pub settings: UpstreamSettings,
    pub source: Source,
    pub client: UpstreamClient,
}

#[derive(Clone)]
pub struct MirrorEntry {
    pub settings: MirrorSettings,
    pub source: Source,
    pub rule: Mirror,
}

#[derive(Clone)]
pub struct ProxyEntry {
    pub settings: ProxySettings,
    pub source: Source,
    pub proxy: Proxy,
    /// Made for an upstream with `hosts` or `default` that has no `[[proxies]]` entry.
    pub implicit: bool,
}

/// What backs a local repository.
#[derive(Clone)]
pub struct Backing {
    pub upstream: Upstream,
    /// The upstream's name for the repository.
    pub repository: String,
    pub kind: BackingKind,
}

#[derive(Clone)]
pub enum BackingKind {
    /// A pull-through prefix: tags are refreshed after `fresh_for`, all platforms kept.
    Proxy { prefix: String, fresh_for: Duration },
    /// A mirror rule's local side: kept by the sync; blobs of an on-demand rule and tags it
    /// has not synced yet come through on pull.
    Mirror {
        name: String,
        mode: Mode,
        platforms: PlatformFilter,
    },
}

impl BackingKind {
    /// How long a present tag is served without asking the upstream.
    pub fn fresh_for(&self) -> Option<Duration> {
        match self {
            BackingKind::Proxy { fresh_for, .. } => Some(*fresh_for),
            // Mirrored tags are kept fresh by the schedule, not by pulls.
            BackingKind::Mirror { .. } => None,
        }
    }

    /// The name runs and records give this backing.
    pub fn rule(&self) -> String {
        match self {
            BackingKind::Proxy { prefix, .. } => format!("proxy:{prefix}"),
            BackingKind::Mirror { name, .. } => name.clone(),
        }
    }
}

/// One consistent set of everything in force.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub upstreams: Vec<Upstream>,
    pub mirrors: Vec<MirrorEntry>,
    pub proxies: Vec<ProxyEntry>,
}

impl Snapshot {
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.settings.name == name)
    }

    pub fn mirror(&self, name: &str) -> Option<&MirrorEntry> {
        self.mirrors.iter().find(|m| m.settings.name == name)
    }

    /// What backs local `repo`, if anything: a mirror rule's `to` first, then the longest
    /// pull-through prefix.
    pub fn backing(&self, repo: &str) -> Option<Backing> {
        for m in &self.mirrors {
            if let Some(upstream_repo) = m.rule.mapping.upstream_for(repo) {
                let upstream = self.upstream(&m.rule.upstream)?.clone();
                return Some(Backing {
                    upstream,
                    repository: upstream_repo,
                    kind: BackingKind::Mirror {
                        name: m.rule.name.clone(),
                        mode: m.rule.mode,
                        platforms: m.rule.platforms.clone(),
                    },
                });
            }
        }
        let proxy = self
            .proxies
            .iter()
            .filter(|p| {
                repo.strip_prefix(p.proxy.prefix.as_str())
                    .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
            })
            .max_by_key(|p| p.proxy.prefix.len())?;
        let upstream = self.upstream(&proxy.proxy.upstream)?.clone();
        Some(Backing {
            upstream,
            repository: repo[proxy.proxy.prefix.len() + 1..].to_owned(),
            kind: BackingKind::Proxy {
                prefix: proxy.proxy.prefix.clone(),
                fresh_for: proxy.proxy.fresh_for,
            },
        })
    }

    /// The local prefix an upstream's pulls are kept under.
    fn prefix_of(&self, upstream: &str) -> Option<&str> {
        self.proxies
            .iter()
            .find(|p| p.proxy.upstream == upstream)
            .map(|p| p.proxy.prefix.as_str())
    }

    /// Where a pull of `repo` goes (see `registry::Origin::route`).
    pub fn route(&self, repo: &RepoName, ns: Option<&str>, held: bool) -> Option<RepoName> {
        let upstream = match ns {
            Some(ns) => self
                .upstreams
                .iter()
                .find(|u| u.settings.hosts.iter().any(|h| h.eq_ignore_ascii_case(ns)))?,
            None => {
                if held || self.backing(repo.as_str()).is_some() {
                    return None;
                }
                self.upstreams.iter().find(|u| u.settings.default)?
            }
        };
        let prefix = self.prefix_of(&upstream.settings.name)?;
        RepoName::parse(&format!("{prefix}/{repo}")).ok()
    }
}

/// Everything in force, replaced whole when the API changes something.
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
    /// The config file's settings, fixed at start-up.
    config: (
        Vec<UpstreamSettings>,
        Vec<MirrorSettings>,
        Vec<ProxySettings>,
    ),
}

/// Upstreams without a response for this long are given up on for that request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

impl Directory {
    /// The config file's settings plus the API's (from redb). Fails on anything invalid,
    /// naming it, so a typo stops the start-up rather than a sync at 3 a.m.
    pub fn new(
        config: (
            Vec<UpstreamSettings>,
            Vec<MirrorSettings>,
            Vec<ProxySettings>,
        ),
        api: (
            Vec<UpstreamSettings>,
            Vec<MirrorSettings>,
            Vec<ProxySettings>,
        ),
    ) -> Result<Directory, SyncError> {
        let snapshot = build(&config, &api)?;
        Ok(Directory {
            current: RwLock::new(Arc::new(snapshot)),
            config,
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Put the API's settings in force (after a change), checking the whole set first.
    pub fn replace_api(
        &self,
        api: (
            Vec<UpstreamSettings>,
            Vec<MirrorSettings>,
            Vec<ProxySettings>,
        ),
    ) -> Result<(), SyncError> {
        let snapshot = build(&self.config, &api)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(())
    }
}

type Settings = (
    Vec<UpstreamSettings>,
    Vec<MirrorSettings>,
    Vec<ProxySettings>,
);

fn build(config: &Settings, api: &Settings) -> Result<Snapshot, SyncError> {
    let invalid = SyncError::Settings;
    let mut snap = Snapshot::default();
    let upstreams = config
        .0
        .iter()
        .map(|s| (Source::Config, s))
        .chain(api.0.iter().map(|s| (Source::Api, s)));
    for (source, s) in upstreams {
        s.check().map_err(invalid)?;
        if snap.upstream(&s.name).is_some() {
            return Err(invalid(format!("upstream {:?} is defined twice", s.name)));
        }
        snap.upstreams.push(Upstream {
            settings: s.clone(),
            source,
            client: client_for(s)?,
        });
    }
    if snap.upstreams.iter().filter(|u| u.settings.default).count() > 1 {
        return Err(invalid("only one upstream can be default = true".into()));
    }
    for (source, list) in [(Source::Config, &config.1), (Source::Api, &api.1)] {
        for s in list {
            let rule = s.compile().map_err(invalid)?;
            if snap.upstream(&rule.upstream).is_none() {
                return Err(invalid(format!(
                    "mirror {:?} names upstream {:?}, which is not defined",
                    s.name, rule.upstream
                )));
            }
            if snap.mirror(&s.name).is_some() {
                return Err(invalid(format!("mirror {:?} is defined twice", s.name)));
            }
            snap.mirrors.push(MirrorEntry {
                settings: s.clone(),
                source,
                rule,
            });
        }
    }
    for (source, list) in [(Source::Config, &config.2), (Source::Api, &api.2)] {
        for s in list {
            let proxy = s.compile().map_err(invalid)?;
            if snap.upstream(&proxy.upstream).is_none() {
                return Err(invalid(format!(
                    "proxy {:?} names upstream {:?}, which is not defined",
                    s.prefix, proxy.upstream
                )));
            }
            if snap.proxies.iter().any(|p| p.proxy.prefix == proxy.prefix) {
                return Err(invalid(format!(
                    "proxy prefix {:?} is defined twice",
                    s.prefix
                )));
            }
            snap.proxies.push(ProxyEntry {
                settings: s.clone(),
                source,
                proxy,
                implicit: false,
            });
        }
    }
    // An upstream that answers `ns=` or default requests keeps what they fetch under its
    // own name unless a `[[proxies]]` entry names another prefix.
    let implicit: Vec<ProxyEntry> = snap
        .upstreams
        .iter()
        .filter(|u| u.settings.default || !u.settings.hosts.is_empty())
        .filter(|u| {
            !snap
                .proxies
                .iter()
                .any(|p| p.proxy.upstream == u.settings.name)
        })
        .map(|u| ProxyEntry {
            settings: ProxySettings {
                prefix: u.settings.name.clone(),
                upstream: u.settings.name.clone(),
                fresh_for: None,
            },
            source: u.source,
            proxy: Proxy {
                prefix: u.settings.name.clone(),
                upstream: u.settings.name.clone(),
                fresh_for: DEFAULT_FRESH_FOR,
            },
            implicit: true,
        })
        .collect();
    snap.proxies.extend(implicit);
    Ok(snap)
}

fn client_for(s: &UpstreamSettings) -> Result<UpstreamClient, SyncError> {
    let mut spec = UpstreamSpec::new(s.name.clone(), s.url.trim_end_matches('/').to_owned());
    spec.tls_verify = s.tls_verify;
    spec.ca_file = s.ca_file.clone();
    spec.max_concurrency = s.max_concurrency;
    spec.max_requests_per_second = s.max_requests_per_second;
    spec.timeout = UPSTREAM_TIMEOUT;
    if let Some(username) = &s.username {
        let password = s
            .password()
            .map_err(SyncError::Settings)?
            .unwrap_or_default();
        spec.credentials = Credentials::basic(username.clone(), password);
    }
    UpstreamClient::new(spec)
        .map_err(|e| SyncError::Settings(format!("upstream {:?}: {e}", s.name)))
}

impl super::Syncer {
    /// What the registry's `route` answers (see `registry::Origin::route`).
    pub(super) fn route_repo(&self, repo: &RepoName, ns: Option<&str>, held: bool) -> Routed {
        match self.directory.snapshot().route(repo, ns, held) {
            Some(local) => Routed::Local(local),
            None => Routed::AsNamed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(name: &str, hosts: &[&str], default: bool) -> UpstreamSettings {
        UpstreamSettings {
            name: name.into(),
            url: "http://127.0.0.1:1".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            default,
            username: None,
            password_env: None,
            password_file: None,
            tls_verify: true,
            ca_file: None,
            max_concurrency: 2,
            max_requests_per_second: None,
        }
    }

    fn mirror(name: &str, upstream: &str, from: &str, to: &str) -> MirrorSettings {
        MirrorSettings {
            name: name.into(),
            upstream: upstream.into(),
            from: from.into(),
            to: to.into(),
            tags: vec![],
            exclude: vec![],
            platforms: vec![],
            every: None,
            mode: Mode::Immediate,
            deleted_upstream: Default::default(),
        }
    }

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).expect("name")
    }

    fn directory() -> Directory {
        Directory::new(
            (
                vec![
                    upstream("hub", &["docker.io"], true),
                    upstream("quay", &["quay.io"], false),
                    upstream("private", &[], false),
                ],
                vec![mirror(
                    "alpine",
                    "private",
                    "library/alpine",
                    "mirror/alpine",
                )],
                vec![ProxySettings {
                    prefix: "q".into(),
                    upstream: "quay".into(),
                    fresh_for: Some("1m".into()),
                }],
            ),
            (vec![], vec![], vec![]),
        )
        .expect("valid")
    }

    #[test]
    fn backing_finds_mirrors_and_prefixes() {
        let snap = directory().snapshot();
        let b = snap.backing("mirror/alpine").expect("mirrored");
        assert_eq!(b.upstream.settings.name, "private");
        assert_eq!(b.repository, "library/alpine");
        let b = snap.backing("q/coreos/etcd").expect("proxied");
        assert_eq!(b.repository, "coreos/etcd");
        assert_eq!(b.kind.fresh_for(), Some(Duration::from_secs(60)));
        // hub answers ns/default requests, so it gets a prefix of its own name.
        let b = snap.backing("hub/library/redis").expect("implicit prefix");
        assert_eq!(b.repository, "library/redis");
        assert!(snap.backing("team/app").is_none());
        assert!(snap.backing("q").is_none());
    }

    #[test]
    fn ns_and_default_requests_are_kept_under_their_upstreams_prefix() {
        let snap = directory().snapshot();
        let route = |r: &str, ns: Option<&str>, held: bool| {
            snap.route(&repo(r), ns, held).map(|r| r.to_string())
        };
        assert_eq!(
            route("library/alpine", Some("docker.io"), false).as_deref(),
            Some("hub/library/alpine")
        );
        assert_eq!(
            route("coreos/etcd", Some("quay.io"), false).as_deref(),
            Some("q/coreos/etcd")
        );
        assert_eq!(route("x", Some("ghcr.io"), false), None);
        // Without ns: the default upstream, unless hoist holds the repository or a rule
        // covers it.
        assert_eq!(
            route("library/alpine", None, false).as_deref(),
            Some("hub/library/alpine")
        );
        assert_eq!(route("team/app", None, true), None);
        assert_eq!(route("mirror/alpine", None, false), None);
    }

    #[test]
    fn invalid_sets_are_refused_with_a_reason() {
        let bad = |config: Settings| match Directory::new(config, (vec![], vec![], vec![])) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(bad((
            vec![upstream("a", &[], true), upstream("b", &[], true)],
            vec![],
            vec![]
        ))
        .contains("default"));
        assert!(bad((
            vec![upstream("a", &[], false)],
            vec![mirror("m", "nope", "x", "y")],
            vec![]
        ))
        .contains("not defined"));
        assert!(bad((
            vec![upstream("a", &[], false), upstream("a", &[], false)],
            vec![],
            vec![]
        ))
        .contains("twice"));
    }
}
