//! Before a rule is saved, what it would fetch: repositories, tags, platforms and bytes,
//! read from the upstream's manifests without fetching a blob. And for mirrored tags,
//! whether the upstream has moved since the last sync (drift), one HEAD each.

use super::records::{decode, MirroredTag};
use super::rules::RepoPattern;
use super::run::ACCEPT_ALL;
use super::settings::{MirrorSettings, Mode};
use super::upstream::UpstreamClient;
use super::{SyncError, Syncer};
use crate::oci::{Manifest, RepoName};
use serde::Serialize;

/// Repositories and tags a preview looks at, at most (each tag costs a GET or more).
const PREVIEW_REPOS: usize = 5;
const PREVIEW_TAGS: usize = 20;
/// Mirrored tags a drift check asks about, at most.
const DRIFT_TAGS: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub repositories: Vec<PreviewRepo>,
    /// Bytes of every blob the previewed tags need (shared ones once per tag).
    pub total_bytes: u64,
    /// Bytes the rule's mode fetches at sync time (configs only, on demand).
    pub now_bytes: u64,
    /// More repositories or tags exist than the preview looked at.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewRepo {
    pub upstream_repository: String,
    pub local_repository: String,
    pub tags: Vec<PreviewTag>,
    /// Tags the rule keeps that the preview did not look at.
    pub more_tags: usize,
    /// Tags the upstream has that the rule leaves out.
    pub left_out_tags: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewTag {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub platforms_kept: Vec<String>,
    pub platforms_left_out: Vec<String>,
    pub bytes: u64,
}

/// A mirrored tag compared with its upstream now.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub tag: String,
    pub synced: String,
    /// The upstream's digest now; `None` when it could not be asked or the tag is gone.
    pub upstream: Option<String>,
    pub moved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Syncer {
    /// What `settings` would fetch, without saving it or fetching a blob.
    pub async fn preview(&self, settings: &MirrorSettings) -> Result<Preview, SyncError> {
        let rule = settings.compile().map_err(SyncError::Settings)?;
        let client = self
            .directory
            .snapshot()
            .upstream(&rule.upstream)
            .map(|u| u.client.clone())
            .ok_or_else(|| {
                SyncError::Settings(format!("upstream {:?} is not defined", rule.upstream))
            })?;
        let mut truncated = false;
        let repos = match &rule.mapping.from {
            RepoPattern::Exact(name) => vec![name.clone()],
            RepoPattern::Prefix(_) => {
                let all: Vec<String> = client
                    .catalog()
                    .await?
                    .into_iter()
                    .filter(|r| rule.mapping.local_for(r).is_some())
                    .collect();
                truncated |= all.len() > PREVIEW_REPOS;
                all.into_iter().take(PREVIEW_REPOS).collect()
            }
        };
        let (mut total_bytes, mut now_bytes) = (0, 0);
        let mut out = Vec::new();
        for upstream_repo in repos {
            let tags = match client.list_tags(&upstream_repo).await {
                Ok(t) => t,
                Err(super::upstream::UpstreamError::NotFound) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            let kept: Vec<&String> = tags.iter().filter(|t| rule.tags.keeps(t)).collect();
            let mut rows = Vec::new();
            for tag in kept.iter().take(PREVIEW_TAGS) {
                let row = preview_tag(&client, &upstream_repo, tag, &rule.platforms).await?;
                total_bytes += row.0.bytes;
                now_bytes += if rule.mode == Mode::OnDemand {
                    row.1
                } else {
                    row.0.bytes
                };
                rows.push(row.0);
            }
            truncated |= kept.len() > PREVIEW_TAGS;
            out.push(PreviewRepo {
                local_repository: rule.mapping.local_for(&upstream_repo).unwrap_or_default(),
                upstream_repository: upstream_repo,
                more_tags: kept.len().saturating_sub(PREVIEW_TAGS),
                left_out_tags: tags.len() - kept.len(),
                tags: rows,
            });
        }
        Ok(Preview {
            repositories: out,
            total_bytes,
            now_bytes,
            truncated,
        })
    }

    /// Each mirrored tag of `local` against its upstream now (a HEAD per tag, at most
    /// [`DRIFT_TAGS`]).
    pub async fn drift(&self, local: &RepoName) -> Result<Vec<Drift>, SyncError> {
        let snap = self.directory.snapshot();
        let mut out = Vec::new();
        for (tag, bytes) in self
            .registry
            .mirrored_tags(local)
            .await?
            .into_iter()
            .take(DRIFT_TAGS)
        {
            let record: MirroredTag = decode("mirrored tag", &bytes)?;
            let Some(upstream) = snap.upstream(&record.upstream) else {
                continue;
            };
            let head = upstream
                .client
                .head_manifest(&record.repository, &tag, ACCEPT_ALL)
                .await;
            let (now, error) = match head {
                Ok(Some(h)) => (h.digest, None),
                Ok(None) => (None, Some("gone upstream".to_owned())),
                Err(e) => (None, Some(e.to_string())),
            };
            out.push(Drift {
                moved: now.as_ref().is_some_and(|d| *d != record.digest)
                    || error.as_deref() == Some("gone upstream"),
                synced: record.digest,
                upstream: now,
                tag,
                error,
            });
        }
        Ok(out)
    }
}

/// One tag: its manifest (and a list's kept children) read upstream. Returns the row and
/// the bytes of its configs alone.
async fn preview_tag(
    client: &UpstreamClient,
    repo: &str,
    tag: &str,
    platforms: &super::rules::PlatformFilter,
) -> Result<(PreviewTag, u64), SyncError> {
    let fetched = client
        .get_manifest(repo, tag, Some(ACCEPT_ALL))
        .await?
        .ok_or_else(|| SyncError::NotFound(format!("{repo}:{tag} upstream")))?;
    let manifest = Manifest::parse(&fetched.body, fetched.media_type.as_deref())
        .map_err(|e| SyncError::Content(format!("{repo}:{tag}: {e}")))?;
    let digest = fetched
        .digest_header
        .clone()
        .unwrap_or_else(|| crate::oci::Digest::sha256_of(&fetched.body).to_string());
    let (mut bytes, mut configs) = (0, 0);
    let (mut kept, mut left_out) = (Vec::new(), Vec::new());
    let sizes = |m: &Manifest| {
        let config = m.config.as_ref().map_or(0, |c| c.size);
        (
            config + m.layers.iter().map(|l| l.size).sum::<u64>(),
            config,
        )
    };
    if manifest.kind.is_index() {
        for child in &manifest.manifests {
            let name = child
                .platform
                .as_ref()
                .map_or_else(|| "(no platform)".to_owned(), |p| p.to_string());
            if !platforms.keeps(child.platform.as_ref()) {
                left_out.push(name);
                continue;
            }
            kept.push(name);
            if let Some(c) = client
                .get_manifest(repo, &child.digest.to_string(), Some(ACCEPT_ALL))
                .await?
            {
                if let Ok(m) = Manifest::parse(&c.body, c.media_type.as_deref()) {
                    let (all, config) = sizes(&m);
                    bytes += all;
                    configs += config;
                }
            }
        }
    } else {
        (bytes, configs) = sizes(&manifest);
    }
    Ok((
        PreviewTag {
            tag: tag.to_owned(),
            digest,
            media_type: manifest.media_type,
            platforms_kept: kept,
            platforms_left_out: left_out,
            bytes,
        },
        configs,
    ))
}
