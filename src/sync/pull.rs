//! Pull-through: the registry's `Origin`. A pull of a tag under a prefix (or of a tag a
//! mirror rule keeps but has not synced yet) that hoist lacks is fetched while the client
//! waits. Within `fresh_for` a present tag costs no upstream request; after it, one HEAD
//! decides. When the upstream is down, slow or refusing, the copy hoist has is served.
//! Concurrent pulls of one tag make one upstream request.

use super::directory::{Backing, BackingKind};
use super::progress::SharedSummary;
use super::{KeyedLocks, SyncError, Syncer};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::registry::{Origin, RegistryError, Routed, UpstreamBlob};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Run id for work done by pulls rather than runs (events carry it).
const PULL_RUN: u64 = 0;

#[derive(Default)]
pub(super) struct PullState {
    /// When each (repository, tag) was last found current at its upstream.
    checked: Mutex<HashMap<(String, String), Instant>>,
    refreshing: KeyedLocks,
}

impl Syncer {
    fn checked_recently(&self, repo: &RepoName, tag: &Tag, fresh_for: std::time::Duration) -> bool {
        let checked = self.pull.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked
            .get(&(repo.to_string(), tag.to_string()))
            .is_some_and(|at| at.elapsed() < fresh_for)
    }

    fn mark_checked(&self, repo: &RepoName, tag: &Tag) {
        let mut checked = self.pull.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.insert((repo.to_string(), tag.to_string()), Instant::now());
    }

    async fn refresh_reference(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let Some(backing) = self.directory.snapshot().backing(repo.as_str()) else {
            return Ok(());
        };
        match reference {
            Reference::Tag(tag) => self.refresh_tag(&backing, repo, tag).await,
            Reference::Digest(digest) => self.refresh_digest(&backing, repo, digest).await,
        }
    }

    async fn refresh_tag(
        &self,
        backing: &Backing,
        repo: &RepoName,
        tag: &Tag,
    ) -> Result<(), RegistryError> {
        let present = self.registry.tag_digest(repo, tag).await?.is_some();
        let fresh_for = match &backing.kind {
            // Mirrored tags are kept by the schedule; a pull fetches only one not synced yet.
            BackingKind::Mirror { name, .. } => {
                let keeps = self
                    .directory
                    .snapshot()
                    .mirror(name)
                    .is_some_and(|m| m.rule.tags.keeps(tag.as_str()));
                if present || !keeps {
                    return Ok(());
                }
                None
            }
            BackingKind::Proxy { fresh_for, .. } => Some(*fresh_for),
        };
        if let Some(window) = fresh_for {
            if present && self.checked_recently(repo, tag, window) {
                return Ok(());
            }
        }
        let key = format!("{repo}:{tag}");
        let _one = self.pull.refreshing.lock(&key).await;
        // Another pull may have refreshed it while this one waited.
        if let Some(window) = fresh_for {
            if present && self.checked_recently(repo, tag, window) {
                return Ok(());
            }
        }
        let summary: SharedSummary = Arc::default();
        match self
            .sync_tag(PULL_RUN, &backing.plan(repo), tag, &summary)
            .await
        {
            Ok(_) => {
                self.mark_checked(repo, tag);
                Ok(())
            }
            Err(e) => {
                let present = self.registry.tag_digest(repo, tag).await?.is_some();
                self.upstream_failed(
                    &backing.upstream.settings.name,
                    repo,
                    &format!("{tag}"),
                    e,
                    present,
                )
            }
        }
    }

    async fn refresh_digest(
        &self,
        backing: &Backing,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if self.registry.has_manifest(repo, digest).await? {
            return Ok(());
        }
        if let BackingKind::Mirror {
            name, platforms, ..
        } = &backing.kind
        {
            // Everything a rule keeps was fetched by its runs; this is something it leaves out.
            if platforms.keeps_all() {
                return Ok(());
            }
            return Err(RegistryError::Unconvertible(format!(
                "{digest} is not mirrored: mirror {name:?} keeps {} only",
                platforms.describe()
            )));
        }
        let key = format!("{repo}@{digest}");
        let _one = self.pull.refreshing.lock(&key).await;
        if self.registry.has_manifest(repo, digest).await? {
            return Ok(());
        }
        let plan = backing.plan(repo);
        let from = crate::registry::Provenance {
            upstream: backing.upstream.settings.name.clone(),
            repository: backing.repository.clone(),
        };
        match self
            .fetch_manifest(&plan, &digest.to_string(), Some(digest), &from)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.upstream_failed(
                &backing.upstream.settings.name,
                repo,
                &digest.to_string(),
                e,
                false,
            ),
        }
    }

    /// A failed refresh: with a copy here, serve it (and say so in the log); without one,
    /// the client hears why.
    fn upstream_failed(
        &self,
        upstream: &str,
        repo: &RepoName,
        what: &str,
        e: SyncError,
        have_copy: bool,
    ) -> Result<(), RegistryError> {
        if have_copy {
            tracing::warn!(repo.name = %repo, reference = what, upstream, error = %e, "upstream unavailable; serving the copy hoist has");
            return Ok(());
        }
        Err(match e {
            SyncError::NotFound(_) | SyncError::Upstream(super::upstream::UpstreamError::NotFound) => {
                RegistryError::ManifestUnknown(what.to_owned())
            }
            SyncError::Registry(r) => r,
            other => RegistryError::UpstreamUnavailable(format!(
                "{repo}:{what} is not in hoist yet, and upstream {upstream:?} could not provide it: {other}"
            )),
        })
    }

    fn backing_of(&self, repo: &RepoName) -> Option<Backing> {
        self.directory.snapshot().backing(repo.as_str())
    }
}

/// Whether blobs `repo` lacks may come through on pull: a prefix's always, a mirror rule's
/// in on-demand mode (an immediate rule fetched every blob of what it keeps; anything else
/// belongs to content it leaves out).
fn blobs_come_on_pull(backing: &Backing) -> bool {
    match &backing.kind {
        BackingKind::Proxy { .. } => true,
        BackingKind::Mirror { mode, .. } => *mode == super::settings::Mode::OnDemand,
    }
}

impl Origin for Syncer {
    fn covers(&self, repo: &RepoName) -> bool {
        self.backing_of(repo).is_some()
    }

    fn route(
        &self,
        repo: &RepoName,
        ns: Option<&str>,
        held: bool,
    ) -> Result<Routed, RegistryError> {
        Ok(self.route_repo(repo, ns, held))
    }

    fn has_default(&self) -> bool {
        self.directory
            .snapshot()
            .upstreams
            .iter()
            .any(|u| u.settings.default)
    }

    fn refresh<'a>(
        &'a self,
        repo: &'a RepoName,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        self.refresh_reference(repo, reference).boxed()
    }

    fn blob_size<'a>(
        &'a self,
        repo: &'a RepoName,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<u64>, RegistryError>> {
        async move {
            let Some(backing) = self.backing_of(repo).filter(blobs_come_on_pull) else {
                return Ok(None);
            };
            match backing
                .upstream
                .client
                .head_blob(&backing.repository, &digest.to_string())
                .await
            {
                Ok(size) => Ok(size),
                Err(e) => Err(RegistryError::UpstreamUnavailable(format!(
                    "blob {digest} is not in hoist yet, and upstream {:?} could not be asked: {e}",
                    backing.upstream.settings.name
                ))),
            }
        }
        .boxed()
    }

    fn open_blob<'a>(
        &'a self,
        repo: &'a RepoName,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<UpstreamBlob>, RegistryError>> {
        async move {
            let Some(backing) = self.backing_of(repo).filter(blobs_come_on_pull) else {
                return Ok(None);
            };
            let opened = backing
                .upstream
                .client
                .get_blob(&backing.repository, &digest.to_string(), 0)
                .await;
            match opened {
                Ok(Some(blob)) => Ok(Some(UpstreamBlob {
                    size: blob.total,
                    body: blob.body,
                })),
                Ok(None) => Ok(None),
                Err(e) => Err(RegistryError::UpstreamUnavailable(format!(
                    "blob {digest} is not in hoist yet, and upstream {:?} could not provide it: {e}",
                    backing.upstream.settings.name
                ))),
            }
        }
        .boxed()
    }
}
