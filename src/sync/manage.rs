//! Changing upstreams, mirror rules and pull-through prefixes through the API. Those from
//! the config file are shown ("config") but not changed here. A change is checked with
//! everything else in force before it is kept, so the set in force is always valid.

use super::directory::Source;
use super::records::{decode, encode};
use super::settings::{MirrorSettings, ProxySettings, UpstreamSettings};
use super::{SyncError, Syncer};
use crate::store::{SettingsKind, Store};
use serde::Serialize;
use std::sync::Arc;

/// An upstream as the API shows it: its settings (secrets are only ever named, never
/// held), where they came from, and whether a password is configured.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamView {
    #[serde(flatten)]
    pub settings: UpstreamSettings,
    pub source: Source,
    pub has_password: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MirrorView {
    #[serde(flatten)]
    pub settings: MirrorSettings,
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyView {
    #[serde(flatten)]
    pub settings: ProxySettings,
    pub source: Source,
    /// Made for an upstream with `hosts` or `default = true` and no prefix of its own.
    pub implicit: bool,
}

type ApiSettings = (
    Vec<UpstreamSettings>,
    Vec<MirrorSettings>,
    Vec<ProxySettings>,
);

/// The settings the API made before, from the store.
pub(super) async fn load_api_settings(store: &Arc<Store>) -> Result<ApiSettings, SyncError> {
    let raw = Store::call(store, |s| {
        Ok((
            s.meta.settings(SettingsKind::Upstream)?,
            s.meta.settings(SettingsKind::Mirror)?,
            s.meta.settings(SettingsKind::Proxy)?,
        ))
    })
    .await?;
    let upstreams = raw
        .0
        .iter()
        .map(|(_, b)| decode("upstream", b))
        .collect::<Result<_, _>>()?;
    let mirrors = raw
        .1
        .iter()
        .map(|(_, b)| decode("mirror", b))
        .collect::<Result<_, _>>()?;
    let proxies = raw
        .2
        .iter()
        .map(|(_, b)| decode("proxy", b))
        .collect::<Result<_, _>>()?;
    Ok((upstreams, mirrors, proxies))
}

/// One change the API asks for.
enum Change<'a> {
    Put(SettingsKind, &'a str, Vec<u8>),
    Delete(SettingsKind, &'a str),
}

impl Syncer {
    pub fn upstreams(&self) -> Vec<UpstreamView> {
        self.directory
            .snapshot()
            .upstreams
            .iter()
            .map(|u| UpstreamView {
                has_password: u.settings.password_env.is_some()
                    || u.settings.password_file.is_some(),
                settings: u.settings.clone(),
                source: u.source,
            })
            .collect()
    }

    pub fn mirrors(&self) -> Vec<MirrorView> {
        self.directory
            .snapshot()
            .mirrors
            .iter()
            .map(|m| MirrorView {
                settings: m.settings.clone(),
                source: m.source,
            })
            .collect()
    }

    pub fn proxies(&self) -> Vec<ProxyView> {
        self.directory
            .snapshot()
            .proxies
            .iter()
            .map(|p| ProxyView {
                settings: p.settings.clone(),
                source: p.source,
                implicit: p.implicit,
            })
            .collect()
    }

    /// Create (`replace: false`) or replace an upstream made through the API.
    pub async fn put_upstream(&self, s: UpstreamSettings, replace: bool) -> Result<(), SyncError> {
        let existing = self
            .directory
            .snapshot()
            .upstream(&s.name)
            .map(|u| u.source);
        self.check_change("upstream", &s.name, existing, replace)?;
        self.apply(Change::Put(SettingsKind::Upstream, &s.name, encode(&s)?))
            .await
    }

    pub async fn put_mirror(&self, s: MirrorSettings, replace: bool) -> Result<(), SyncError> {
        let existing = self.directory.snapshot().mirror(&s.name).map(|m| m.source);
        self.check_change("mirror", &s.name, existing, replace)?;
        self.apply(Change::Put(SettingsKind::Mirror, &s.name, encode(&s)?))
            .await?;
        self.wake_scheduler();
        Ok(())
    }

    pub async fn put_proxy(&self, s: ProxySettings, replace: bool) -> Result<(), SyncError> {
        let key = s.prefix.trim_matches('/').to_owned();
        let existing = self
            .directory
            .snapshot()
            .proxies
            .iter()
            .find(|p| p.proxy.prefix == key && !p.implicit)
            .map(|p| p.source);
        self.check_change("proxy", &key, existing, replace)?;
        self.apply(Change::Put(SettingsKind::Proxy, &key, encode(&s)?))
            .await
    }

    pub async fn delete_upstream(&self, name: &str) -> Result<(), SyncError> {
        let snap = self.directory.snapshot();
        let existing = snap.upstream(name).map(|u| u.source);
        self.check_change("upstream", name, existing, true)?;
        let users: Vec<String> = snap
            .mirrors
            .iter()
            .filter(|m| m.rule.upstream == name)
            .map(|m| format!("mirror {:?}", m.settings.name))
            .chain(
                snap.proxies
                    .iter()
                    .filter(|p| p.proxy.upstream == name && !p.implicit)
                    .map(|p| format!("proxy {:?}", p.proxy.prefix)),
            )
            .collect();
        if !users.is_empty() {
            return Err(SyncError::Conflict(format!(
                "upstream {name:?} is used by {}; delete those first",
                users.join(", ")
            )));
        }
        self.apply(Change::Delete(SettingsKind::Upstream, name))
            .await
    }

    pub async fn delete_mirror(&self, name: &str) -> Result<(), SyncError> {
        let existing = self.directory.snapshot().mirror(name).map(|m| m.source);
        self.check_change("mirror", name, existing, true)?;
        self.apply(Change::Delete(SettingsKind::Mirror, name)).await
    }

    pub async fn delete_proxy(&self, prefix: &str) -> Result<(), SyncError> {
        let key = prefix.trim_matches('/');
        let existing = self
            .directory
            .snapshot()
            .proxies
            .iter()
            .find(|p| p.proxy.prefix == key && !p.implicit)
            .map(|p| p.source);
        self.check_change("proxy", key, existing, true)?;
        self.apply(Change::Delete(SettingsKind::Proxy, key)).await
    }

    fn check_change(
        &self,
        what: &str,
        name: &str,
        existing: Option<Source>,
        replace: bool,
    ) -> Result<(), SyncError> {
        match (existing, replace) {
            (Some(Source::Config), _) => Err(SyncError::Conflict(format!(
                "{what} {name:?} comes from the config file; change it there"
            ))),
            (Some(Source::Api), false) => Err(SyncError::Conflict(format!(
                "{what} {name:?} already exists"
            ))),
            (None, true) => Err(SyncError::NotFound(format!("{what} {name:?}"))),
            _ => Ok(()),
        }
    }

    /// Check the change against everything in force, then keep it and put it in force.
    async fn apply(&self, change: Change<'_>) -> Result<(), SyncError> {
        let mut api = load_api_settings(&self.store).await?;
        match &change {
            Change::Put(kind, name, bytes) => match kind {
                SettingsKind::Upstream => {
                    api.0.retain(|u| u.name != *name);
                    api.0.push(decode("upstream", bytes)?);
                }
                SettingsKind::Mirror => {
                    api.1.retain(|m| m.name != *name);
                    api.1.push(decode("mirror", bytes)?);
                }
                SettingsKind::Proxy => {
                    api.2.retain(|p| p.prefix.trim_matches('/') != *name);
                    api.2.push(decode("proxy", bytes)?);
                }
            },
            Change::Delete(kind, name) => match kind {
                SettingsKind::Upstream => api.0.retain(|u| u.name != *name),
                SettingsKind::Mirror => api.1.retain(|m| m.name != *name),
                SettingsKind::Proxy => api.2.retain(|p| p.prefix.trim_matches('/') != *name),
            },
        }
        // Validates the whole set (and builds the clients) before anything is kept.
        self.directory.replace_api(api)?;
        let kept = match change {
            Change::Put(kind, name, bytes) => {
                let name = name.to_owned();
                Store::call(&self.store, move |s| {
                    s.meta.put_settings(kind, &name, &bytes)
                })
                .await
            }
            Change::Delete(kind, name) => {
                let name = name.to_owned();
                Store::call(&self.store, move |s| {
                    s.meta.delete_settings(kind, &name).map(drop)
                })
                .await
            }
        };
        if let Err(e) = kept {
            // Put back what the store holds, so memory and store agree.
            let api = load_api_settings(&self.store).await?;
            self.directory.replace_api(api)?;
            return Err(e.into());
        }
        Ok(())
    }
}
