//! Access control: users and groups with argon2id password hashes, access tokens for CI and
//! robots, permission rules, Docker-style bearer tokens, console sessions, failed-login
//! throttling and the audit log. It decides; the edges (`http`, `admin`) turn requests into
//! subjects and answers into 401/403. No HTTP here. May import `store` and `oci`.

mod accounts;
mod audit;
mod audit_query;
mod bearer;
mod groups;
pub mod jwt;
mod password;
mod records;
pub mod rules;
mod sessions;
mod throttle;
mod verified;

pub use audit::{AuditEntry, AuditFilter};
pub use audit_query::{AuditPage, AuditQuery};
pub use bearer::{claims_allow as bearer_allows, claims_catalog as bearer_catalog};
pub use bearer::{RequestedScope, TokenAnswer};
pub use groups::GroupView;
pub use records::{TokenView, UserView};
pub use rules::{Action, Rule, Subject};
pub use sessions::SessionView;

/// A random token for forms (CSRF) and the like: 32 random bytes, URL-safe text.
pub fn random_token() -> String {
    password::random_secret(32).unwrap_or_default()
}

use crate::store::{AuthTable, Store, StoreError};
use records::{RuleRecord, TokenRecord, UserRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How access control is set up (the `[auth]` section, resolved).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub enabled: bool,
    /// The `iss` and `aud` of tokens, and the `service` of challenges.
    pub service: String,
    pub token_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Rules from the config file (`[[auth.rules]]` and `anonymous_pull`).
    pub rules: Vec<Rule>,
    pub lockout_after: u32,
    pub lockout_for: Duration,
    pub audit_retention: Duration,
    pub session_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            service: "hoist".into(),
            token_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            rules: Vec::new(),
            lockout_after: 10,
            lockout_for: Duration::from_secs(15 * 60),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong or missing credentials, or a token that is no longer good.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed logins.
    #[error("too many failed logins; try again in {for_secs} s")]
    Locked { for_secs: u64 },
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The access-control service.
pub struct Auth {
    store: Arc<Store>,
    config: AuthConfig,
    key: crate::oci::schema1::jws::SchemaKey,
    /// Config rules followed by the API's, replaced whole on a change.
    rules: RwLock<Arc<Vec<Rule>>>,
    throttle: throttle::Throttle,
    /// Each user's generation; tokens of an older one are refused.
    generations: RwLock<HashMap<String, u64>>,
    /// Access tokens revoked (or deleted): bearer tokens issued for them stop at once.
    revoked: RwLock<HashSet<String>>,
    /// Verified bearer tokens, so each is verified once (ES256 costs far more than a pull).
    bearer_cache: verified::VerifiedTokens,
    /// Verified Basic credentials (sha256 of them) -> subject, for clients that send Basic
    /// on every request: argon2 is meant to be slow.
    basic_cache: Mutex<HashMap<[u8; 32], (Subject, std::time::Instant)>>,
    /// When each access token's last use was last written (writes at most once a minute).
    last_use_written: Mutex<HashMap<String, std::time::Instant>>,
}

/// Verified credentials are trusted this long without checking again.
const BASIC_CACHE_FOR: Duration = Duration::from_secs(60);
/// Caches are cleared when they grow past this.
const CACHE_LIMIT: usize = 10_000;

impl Auth {
    pub async fn new(store: Arc<Store>, config: AuthConfig) -> Result<Arc<Auth>, AuthError> {
        let key = store.token_key.clone();
        let auth = Arc::new(Auth {
            throttle: throttle::Throttle::new(config.lockout_after, config.lockout_for),
            store,
            config,
            key,
            rules: RwLock::default(),
            generations: RwLock::default(),
            revoked: RwLock::default(),
            bearer_cache: verified::VerifiedTokens::default(),
            basic_cache: Mutex::default(),
            last_use_written: Mutex::default(),
        });
        auth.reload().await?;
        Ok(auth)
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Read rules, user generations and revoked tokens from the store into memory.
    async fn reload(&self) -> Result<(), AuthError> {
        let (users, tokens, api_rules) = Store::call(&self.store, |s| {
            Ok((
                s.meta.auth_list(AuthTable::Users)?,
                s.meta.auth_list(AuthTable::Tokens)?,
                s.meta.auth_list(AuthTable::Rules)?,
            ))
        })
        .await?;
        let mut generations = HashMap::new();
        for (name, bytes) in users {
            let user: UserRecord = records::decode("user", &bytes)?;
            generations.insert(name, user.gen);
        }
        let mut revoked = HashSet::new();
        for (id, bytes) in tokens {
            let token: TokenRecord = records::decode("token", &bytes)?;
            if token.revoked {
                revoked.insert(id);
            }
        }
        let mut rules = self.config.rules.clone();
        for (_, bytes) in api_rules {
            let r: RuleRecord = records::decode("rule", &bytes)?;
            rules.push(r.rule);
        }
        *self.generations.write().unwrap_or_else(|p| p.into_inner()) = generations;
        *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = revoked;
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
        self.forget_verified();
        Ok(())
    }

    /// After any change to users, tokens or rules: nothing cached may outlive it.
    fn forget_verified(&self) {
        self.bearer_cache.clear();
        self.basic_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn rules(&self) -> Arc<Vec<Rule>> {
        Arc::clone(&self.rules.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether `subject` may do `action` to `repo`. With access control off, anyone may.
    pub fn allowed(&self, subject: &Subject, action: Action, repo: &str) -> bool {
        !self.enabled() || rules::allowed(&self.rules(), subject, action, repo)
    }

    /// Whether any rule lets anonymous callers do something (the catalog then lists what
    /// they may pull instead of asking them to sign in).
    pub fn anonymous_has_rights(&self) -> bool {
        self.rules().iter().any(|r| r.who == rules::Who::Anonymous)
    }

    /// The rules in force: (id, rule, source) — config rules have no id.
    pub async fn rule_list(&self) -> Result<Vec<(Option<String>, Rule)>, AuthError> {
        let api = Store::call(&self.store, |s| s.meta.auth_list(AuthTable::Rules)).await?;
        let mut out: Vec<(Option<String>, Rule)> = self
            .config
            .rules
            .iter()
            .map(|r| (None, r.clone()))
            .collect();
        for (id, bytes) in api {
            let r: RuleRecord = records::decode("rule", &bytes)?;
            out.push((Some(id), r.rule));
        }
        Ok(out)
    }

    /// Add a rule (through the API); returns its id.
    pub async fn add_rule(&self, rule: Rule) -> Result<String, AuthError> {
        if rule.repos.is_empty() || rule.actions.is_empty() {
            return Err(AuthError::Invalid("a rule needs repos and actions".into()));
        }
        let id = password::random_secret(9).map_err(AuthError::Invalid)?;
        let bytes = records::encode(&RuleRecord { rule })?;
        let i = id.clone();
        Store::call(&self.store, move |s| {
            s.meta.auth_put(AuthTable::Rules, &i, &bytes)
        })
        .await?;
        self.reload().await?;
        Ok(id)
    }

    pub async fn remove_rule(&self, id: &str) -> Result<(), AuthError> {
        let i = id.to_owned();
        let removed = Store::call(&self.store, move |s| {
            s.meta.auth_delete(AuthTable::Rules, &i)
        })
        .await?;
        if !removed {
            return Err(AuthError::NotFound(format!("rule {id}")));
        }
        self.reload().await
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
