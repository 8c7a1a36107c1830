//! Before a rule is saved, what it would fetch: repositories, tags, platforms and bytes,
//! read from the upstream's manifests (tags/list and manifest GETs) without fetching a
//! blob. Drift, the other question asked of the upstream on a rule's behalf, is in
//! `drift.rs`.

use super::rules::{PlatformFilter, RepoPattern};
use super::run::ACCEPT_ALL;
use super::settings::{MirrorSettings, Mode};
use super::upstream::{UpstreamClient, UpstreamError};
use super::{SyncError, Syncer};
use crate::oci::{Digest, Manifest, Tag};
use serde::Serialize;
use std::collections::HashSet;

/// Repositories and tags a preview looks at, at most (each tag costs a GET or more).
pub const PREVIEW_REPOS: usize = 5;
pub const PREVIEW_TAGS: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub repositories: Vec<PreviewRepo>,
    /// Bytes of the blobs the previewed tags need, each blob once.
    pub total_bytes: u64,
    /// Of those, what the rule's mode fetches at sync time (configs only, on demand; the
    /// layers come on their first pull).
    pub now_bytes: u64,
    /// More repositories or tags exist than the preview looked at.
    pub truncated: bool,
    /// Repositories under a prefix rule that the preview did not look at.
    pub more_repositories: usize,
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
    /// Why the repository shows no tags (not found upstream, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PreviewTag {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    /// A list's platforms the rule keeps and leaves out (empty for an image).
    pub platforms_kept: Vec<String>,
    pub platforms_left_out: Vec<String>,
    /// Bytes of the config and layers it needs (a list: of its kept children), each once.
    pub bytes: u64,
    /// Schema1 manifests name no sizes: their bytes are not known before fetching.
    pub bytes_known: bool,
    /// The tag could not be read upstream; the rest of the preview still holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A blob a previewed tag needs: digest, size, whether it is a config.
type Need = (Digest, u64, bool);

impl Syncer {
    /// What `settings` would fetch, without saving it or fetching a blob. Errors reaching
    /// the upstream at all (unreachable, refused credentials, no catalog) are `Err`; a tag
    /// that cannot be read is a row with its error.
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
        let mut more_repositories = 0;
        let repos = match &rule.mapping.from {
            RepoPattern::Exact(name) => vec![name.clone()],
            RepoPattern::Prefix(_) => {
                let mut all: Vec<String> = client
                    .catalog()
                    .await?
                    .into_iter()
                    .filter(|r| rule.mapping.local_for(r).is_some())
                    .collect();
                all.sort();
                more_repositories = all.len().saturating_sub(PREVIEW_REPOS);
                all.truncate(PREVIEW_REPOS);
                all
            }
        };
        let mut truncated = more_repositories > 0;
        let mut seen: HashSet<Digest> = HashSet::new();
        let (mut total_bytes, mut now_bytes) = (0, 0);
        let mut out = Vec::new();
        for upstream_repo in repos {
            let local_repository = rule.mapping.local_for(&upstream_repo).unwrap_or_default();
            let tags = match client.list_tags(&upstream_repo).await {
                Ok(t) => t,
                Err(UpstreamError::NotFound) => {
                    out.push(PreviewRepo {
                        upstream_repository: upstream_repo,
                        local_repository,
                        tags: Vec::new(),
                        more_tags: 0,
                        left_out_tags: 0,
                        note: Some("not found upstream".into()),
                    });
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // As a run does: tags the rule keeps that hoist can hold.
            let kept: Vec<&String> = tags
                .iter()
                .filter(|t| rule.tags.keeps(t) && Tag::parse(t).is_ok())
                .collect();
            let mut rows = Vec::new();
            for tag in kept.iter().take(PREVIEW_TAGS) {
                let (row, needs) =
                    match preview_tag(&client, &upstream_repo, tag, &rule.platforms).await {
                        Ok(found) => found,
                        Err(e) => (
                            PreviewTag {
                                tag: tag.to_string(),
                                error: Some(e.to_string()),
                                ..PreviewTag::default()
                            },
                            Vec::new(),
                        ),
                    };
                for (digest, size, config) in needs {
                    if seen.insert(digest) {
                        total_bytes += size;
                        if config || rule.mode == Mode::Immediate {
                            now_bytes += size;
                        }
                    }
                }
                rows.push(row);
            }
            truncated |= kept.len() > PREVIEW_TAGS;
            out.push(PreviewRepo {
                upstream_repository: upstream_repo,
                local_repository,
                more_tags: kept.len().saturating_sub(PREVIEW_TAGS),
                left_out_tags: tags.len() - kept.len(),
                tags: rows,
                note: None,
            });
        }
        Ok(Preview {
            repositories: out,
            total_bytes,
            now_bytes,
            truncated,
            more_repositories,
        })
    }
}

/// One tag: its manifest (and a list's kept children) read upstream. Returns the row and
/// the blobs it needs.
async fn preview_tag(
    client: &UpstreamClient,
    repo: &str,
    tag: &str,
    platforms: &PlatformFilter,
) -> Result<(PreviewTag, Vec<Need>), SyncError> {
    let fetched = client
        .get_manifest(repo, tag, Some(ACCEPT_ALL))
        .await?
        .ok_or_else(|| SyncError::NotFound(format!("{repo}:{tag} is not found upstream")))?;
    let manifest = Manifest::parse(&fetched.body, fetched.media_type.as_deref())
        .map_err(|e| SyncError::Content(format!("{repo}:{tag}: {e}")))?;
    let digest = fetched
        .digest_header
        .clone()
        .unwrap_or_else(|| Digest::sha256_of(&fetched.body).to_string());
    let mut needs: Vec<Need> = Vec::new();
    let mut bytes_known = true;
    let (mut kept, mut left_out) = (Vec::new(), Vec::new());
    let mut add = |m: &Manifest, needs: &mut Vec<Need>| {
        if m.kind == crate::oci::ManifestKind::Schema1 {
            bytes_known = false;
        }
        for d in m.required_blobs() {
            let config = m.config.as_ref().is_some_and(|c| c.digest == d.digest);
            if !needs.iter().any(|(n, _, _)| *n == d.digest) {
                needs.push((d.digest.clone(), d.size, config));
            }
        }
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
            let child_manifest = client
                .get_manifest(repo, &child.digest.to_string(), Some(ACCEPT_ALL))
                .await?
                .ok_or_else(|| {
                    SyncError::NotFound(format!(
                        "{repo}@{} (a child of {tag}) is not found upstream",
                        child.digest
                    ))
                })?;
            let m = Manifest::parse(&child_manifest.body, child_manifest.media_type.as_deref())
                .map_err(|e| SyncError::Content(format!("{repo}@{}: {e}", child.digest)))?;
            add(&m, &mut needs);
        }
    } else {
        add(&manifest, &mut needs);
    }
    Ok((
        PreviewTag {
            tag: tag.to_owned(),
            digest,
            media_type: manifest.media_type,
            platforms_kept: kept,
            platforms_left_out: left_out,
            bytes: needs.iter().map(|(_, size, _)| size).sum(),
            bytes_known,
            error: None,
        },
        needs,
    ))
}
