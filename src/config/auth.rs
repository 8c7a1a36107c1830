//! The `[auth]` section and the TLS and public-URL keys: resolved into `AuthConfig` and
//! `TlsFiles`. Access control is on by itself when hoist listens beyond loopback.

use crate::auth::rules::{Action, RepoGlob, Rule, Who};
use crate::auth::AuthConfig;
use crate::sync::rules::parse_duration;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSection {
    enabled: Option<bool>,
    #[serde(default)]
    anonymous_pull: Vec<String>,
    token_ttl: Option<String>,
    #[serde(default)]
    rules: Vec<RuleSection>,
    lockout_after: Option<u32>,
    lockout_for: Option<String>,
    audit_retention: Option<String>,
    session_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSection {
    who: String,
    repos: Vec<String>,
    actions: Vec<String>,
}

/// The certificate and key hoist serves TLS with (reloaded on SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl AuthSection {
    /// `enabled` as given (`HOIST_AUTH_ENABLED` beats the file), else on exactly when
    /// `listen` is not a loopback address. Also says whether a person turned it off for a
    /// network listener, which deserves a warning.
    pub(super) fn resolve(
        self,
        env_enabled: Option<bool>,
        listen: &SocketAddr,
    ) -> Result<(AuthConfig, bool), String> {
        let defaults = AuthConfig::default();
        let exposed = !listen.ip().is_loopback();
        let chosen = env_enabled.or(self.enabled);
        let enabled = chosen.unwrap_or(exposed);
        let warn = exposed && chosen == Some(false);
        let duration = |key: &str, v: Option<String>, default| match v {
            Some(text) => parse_duration(&text).map_err(|e| format!("auth.{key}: {e}")),
            None => Ok(default),
        };
        let mut rules = Vec::new();
        if !self.anonymous_pull.is_empty() {
            rules.push(Rule {
                who: Who::Anonymous,
                repos: globs("auth.anonymous_pull", &self.anonymous_pull)?,
                actions: [Action::Pull].into(),
            });
        }
        for r in self.rules {
            let actions = r
                .actions
                .iter()
                .map(|a| {
                    Action::parse(a).ok_or_else(|| {
                        format!("auth.rules: action {a:?} is not pull, push, delete or admin")
                    })
                })
                .collect::<Result<_, _>>()?;
            rules.push(Rule {
                who: Who::parse(&r.who).map_err(|e| format!("auth.rules: {e}"))?,
                repos: globs("auth.rules", &r.repos)?,
                actions,
            });
        }
        Ok((
            AuthConfig {
                enabled,
                token_ttl: duration("token_ttl", self.token_ttl, defaults.token_ttl)?,
                rules,
                lockout_after: self.lockout_after.unwrap_or(defaults.lockout_after),
                lockout_for: duration("lockout_for", self.lockout_for, defaults.lockout_for)?,
                audit_retention: duration(
                    "audit_retention",
                    self.audit_retention,
                    defaults.audit_retention,
                )?,
                session_ttl: duration("session_ttl", self.session_ttl, defaults.session_ttl)?,
                ..defaults
            },
            warn,
        ))
    }
}

fn globs(key: &str, patterns: &[String]) -> Result<Vec<RepoGlob>, String> {
    patterns
        .iter()
        .map(|p| RepoGlob::parse(p).map_err(|e| format!("{key}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> AuthSection {
        toml::from_str(toml_text).expect("parses")
    }

    #[test]
    fn on_by_itself_beyond_loopback_and_off_on_it() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let any: SocketAddr = "0.0.0.0:5000".parse().expect("addr");
        let (c, warn) = section("").resolve(None, &lo).expect("ok");
        assert!(!c.enabled && !warn);
        let (c, warn) = section("").resolve(None, &any).expect("ok");
        assert!(c.enabled && !warn);
        let (c, warn) = section("enabled = false").resolve(None, &any).expect("ok");
        assert!(!c.enabled && warn, "turned off on the network: warn");
        let (c, _) = section("enabled = false")
            .resolve(Some(true), &lo)
            .expect("ok");
        assert!(c.enabled, "the environment beats the file");
    }

    #[test]
    fn the_issues_keys_become_rules() {
        let s = section(
            r#"
enabled = true
anonymous_pull = ["public/*"]
token_ttl = "5m"
[[rules]]
who = "group:ci"
repos = ["team/*"]
actions = ["pull", "push"]
"#,
        );
        let lo: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let (c, _) = s.resolve(None, &lo).expect("ok");
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].who, Who::Anonymous);
        assert_eq!(c.token_ttl.as_secs(), 300);
        let bad = section("[[rules]]\nwho = \"robot:x\"\nrepos = [\"a\"]\nactions = [\"pull\"]\n");
        assert!(bad.resolve(None, &lo).is_err());
    }
}
