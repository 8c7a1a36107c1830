//! Whether the upstream has moved since the last sync (drift): each mirrored tag's synced
//! digest against what the upstream answers now, one HEAD per tag (a GET only when the
//! upstream's HEAD gives no digest). Never fetches or changes anything.

use super::directory::Snapshot;
use super::records::{decode, MirroredTag};
use super::run::ACCEPT_ALL;
use super::{SyncError, Syncer};
use crate::oci::{Digest, RepoName};
use futures_util::StreamExt;
use serde::Serialize;

/// Mirrored tags one drift check asks about, at most (a HEAD each).
pub const DRIFT_TAGS: usize = 100;
/// HEADs in flight at once (each upstream's own limit applies too).
const PARALLEL: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftState {
    /// The upstream's tag points where it did at the last sync.
    Same,
    /// It points elsewhere now: the next sync brings the new content.
    Moved,
    /// The upstream no longer has the tag.
    Gone,
    /// The upstream could not be asked (see `error`).
    Error,
}

/// A mirrored tag compared with its upstream now.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// The local repository.
    pub repository: String,
    pub tag: String,
    pub upstream_name: String,
    pub upstream_repository: String,
    /// What it pointed at upstream at the last sync (and so points at here).
    pub synced: String,
    pub synced_at: u64,
    /// The upstream's digest now, when it answered one.
    pub upstream: Option<String>,
    pub state: DriftState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Drift {
    pub fn moved(&self) -> bool {
        self.state == DriftState::Moved
    }
}

/// The drift of a rule's local repositories.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDrift {
    /// Local repositories of the rule that hold mirrored tags.
    pub repositories: Vec<String>,
    pub tags: Vec<Drift>,
    /// Mirrored tags not asked about, past [`DRIFT_TAGS`].
    pub unchecked: usize,
}

impl Syncer {
    /// Each mirrored tag of `local` against its upstream now (at most [`DRIFT_TAGS`]).
    pub async fn drift(&self, local: &RepoName) -> Result<Vec<Drift>, SyncError> {
        let mut budget = DRIFT_TAGS;
        Ok(self.drift_within(local, None, &mut budget).await?.0)
    }

    /// Every mirrored tag of mirror rule `rule` against its upstream now, across the
    /// rule's local repositories, at most [`DRIFT_TAGS`] HEADs in all.
    pub async fn rule_drift(&self, rule: &str) -> Result<RuleDrift, SyncError> {
        let snap = self.directory.snapshot();
        let entry = snap
            .mirror(rule)
            .ok_or_else(|| SyncError::NotFound(format!("mirror rule {rule:?}")))?;
        let mapping = entry.rule.mapping.clone();
        let mut repositories: Vec<String> = self
            .registry
            .repo_summaries()
            .await?
            .iter()
            .filter(|r| mapping.upstream_for(&r.name).is_some())
            .map(|r| r.name.clone())
            .collect();
        repositories.sort();
        let (mut tags, mut unchecked, mut budget) = (Vec::new(), 0, DRIFT_TAGS);
        let mut held = Vec::new();
        for name in repositories {
            let Ok(local) = RepoName::parse(&name) else {
                continue;
            };
            let (rows, skipped) = self.drift_within(&local, Some(rule), &mut budget).await?;
            if !rows.is_empty() || skipped > 0 {
                held.push(name);
            }
            tags.extend(rows);
            unchecked += skipped;
        }
        Ok(RuleDrift {
            repositories: held,
            tags,
            unchecked,
        })
    }

    /// Drift of `local`'s mirrored tags (of `rule` only, when given), spending at most
    /// `budget` HEADs; returns the rows and how many tags were left unasked.
    async fn drift_within(
        &self,
        local: &RepoName,
        rule: Option<&str>,
        budget: &mut usize,
    ) -> Result<(Vec<Drift>, usize), SyncError> {
        let snap = self.directory.snapshot();
        let mut records = Vec::new();
        for (tag, bytes) in self.registry.mirrored_tags(local).await? {
            let record: MirroredTag = decode("mirrored tag", &bytes)?;
            if rule.is_none_or(|r| r == record.rule) {
                records.push((tag, record));
            }
        }
        let asked = records.len().min(*budget);
        let skipped = records.len() - asked;
        *budget -= asked;
        let snap = &snap;
        let rows = futures_util::stream::iter(records.into_iter().take(asked))
            .map(|(tag, record)| async move { compare(snap, local, tag, record).await })
            .buffered(PARALLEL)
            .collect()
            .await;
        Ok((rows, skipped))
    }
}

/// One tag: HEAD upstream (GET when the HEAD names no digest) and compare.
async fn compare(snap: &Snapshot, local: &RepoName, tag: String, record: MirroredTag) -> Drift {
    let now = match snap.upstream(&record.upstream) {
        None => Err(format!(
            "upstream {:?} is no longer defined",
            record.upstream
        )),
        Some(u) => {
            let client = &u.client;
            match client
                .head_manifest(&record.repository, &tag, ACCEPT_ALL)
                .await
            {
                Ok(Some(head)) if head.digest.is_some() => Ok(head.digest),
                Ok(Some(_)) => match client
                    .get_manifest(&record.repository, &tag, Some(ACCEPT_ALL))
                    .await
                {
                    Ok(Some(m)) => Ok(Some(
                        m.digest_header
                            .unwrap_or_else(|| Digest::sha256_of(&m.body).to_string()),
                    )),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.to_string()),
                },
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let (upstream, state, error) = judge(now, &record.digest);
    Drift {
        repository: local.to_string(),
        tag,
        upstream_name: record.upstream,
        upstream_repository: record.repository,
        synced: record.digest,
        synced_at: record.synced_at,
        upstream,
        state,
        error,
    }
}

/// What the upstream answered (a digest, no such tag, or an error) against the synced digest.
fn judge(
    now: Result<Option<String>, String>,
    synced: &str,
) -> (Option<String>, DriftState, Option<String>) {
    match now {
        Ok(Some(d)) if d == synced => (Some(d), DriftState::Same, None),
        Ok(Some(d)) => (Some(d), DriftState::Moved, None),
        Ok(None) => (None, DriftState::Gone, None),
        Err(e) => (None, DriftState::Error, Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstreams_answer_is_judged_against_the_synced_digest() {
        let same = judge(Ok(Some("sha256:a".into())), "sha256:a");
        assert_eq!(same.1, DriftState::Same);
        let moved = judge(Ok(Some("sha256:b".into())), "sha256:a");
        assert_eq!(
            (moved.0.as_deref(), moved.1),
            (Some("sha256:b"), DriftState::Moved)
        );
        assert_eq!(judge(Ok(None), "sha256:a").1, DriftState::Gone);
        let failed = judge(Err("upstream unreachable".into()), "sha256:a");
        assert_eq!(
            (failed.1, failed.2.as_deref()),
            (DriftState::Error, Some("upstream unreachable"))
        );
    }
}
