//! What the console shows of the registry: figures, repositories with their tag counts and
//! last changes, a repository's tags with sizes and platforms, a tag's history, and a
//! manifest's layers, config and children. Reads only.

use super::{Registry, RegistryError};
use crate::oci::{Digest, Manifest, ManifestKind, RepoName};
use crate::store::{Counts, DiskSpace, Origin, TagEvent};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// Configs bigger than this are not read for display.
const CONFIG_LIMIT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub counts: Counts,
    pub disk: DiskSpace,
    pub uploads_bytes: u64,
    pub storage_reserve: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoSummary {
    pub name: String,
    pub tags: u64,
    /// Unix seconds of the last tag change (or the repository's creation).
    pub last_change: u64,
}

/// A tag as a repository's page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TagRow {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    /// `image`, `list` or `schema1`.
    pub kind: &'static str,
    /// Bytes a pull of it moves: config and layers of an image; for a list, of its stored
    /// children together.
    pub size: u64,
    /// `os/arch[/variant]` of a list's entries.
    pub platforms: Vec<String>,
    pub last_change: Option<u64>,
    /// The upstream it was mirrored from.
    pub upstream: Option<String>,
}

/// A descriptor as pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub platform: Option<String>,
}

/// A manifest as its page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestView {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub kind: &'static str,
    /// `pushed`, `synced from <upstream>`, or `derived from <digest> by <transform>`.
    pub origin: String,
    pub config: Option<Part>,
    pub layers: Vec<Part>,
    pub children: Vec<Part>,
    pub subject: Option<String>,
    pub annotations: Vec<(String, String)>,
    pub body: String,
}

/// Repository summaries, kept until the next write.
#[derive(Default)]
pub(super) struct SummaryCache {
    cached: Mutex<Option<(u64, Arc<Vec<RepoSummary>>)>>,
}

fn kind_of(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::Schema1 => "schema1",
        ManifestKind::DockerList | ManifestKind::OciIndex => "list",
        ManifestKind::Schema2 | ManifestKind::OciManifest => "image",
    }
}

fn platform_text(p: &crate::oci::Platform) -> String {
    p.to_string()
}

impl Registry {
    pub async fn overview(&self) -> Result<Overview, RegistryError> {
        let (counts, disk) = self
            .blocking(|s| Ok((s.meta.counts()?, s.disk_space()?)))
            .await?;
        Ok(Overview {
            counts,
            disk,
            uploads_bytes: self.upload_space.in_progress(),
            storage_reserve: self.upload_space.reserve(),
        })
    }

    /// Every repository with its tag count and last change, from one pass over the store,
    /// kept until the next write.
    pub async fn repo_summaries(&self) -> Result<Arc<Vec<RepoSummary>>, RegistryError> {
        let generation = self.manifest_cache.generation();
        if let Some((g, list)) = self
            .summaries
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if *g == generation {
                return Ok(Arc::clone(list));
            }
        }
        let rows = self.blocking(|s| s.meta.repo_summaries()).await?;
        let list: Arc<Vec<RepoSummary>> = Arc::new(
            rows.into_iter()
                .map(|(name, tags, last_change)| RepoSummary {
                    name,
                    tags,
                    last_change,
                })
                .collect(),
        );
        *self
            .summaries
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((generation, Arc::clone(&list)));
        Ok(list)
    }

    /// The tags of `repo`, each with its size, platforms and last change.
    pub async fn tag_rows(&self, repo: &RepoName) -> Result<Vec<TagRow>, RegistryError> {
        let r = repo.to_string();
        self.blocking(move |s| {
            let mut rows = Vec::new();
            for (tag, digest) in s.meta.tag_digests(&r)? {
                let Some((record, body)) = s.meta.manifest(&r, &digest)? else {
                    continue;
                };
                let parsed = Manifest::parse(&body, Some(&record.media_type)).ok();
                let (kind, size, platforms) = match &parsed {
                    Some(m) if m.kind.is_index() => {
                        let mut size = 0;
                        for child in &m.manifests {
                            if let Some((_, cbody)) =
                                s.meta.manifest(&r, &child.digest.to_string())?
                            {
                                if let Ok(c) = Manifest::parse(&cbody, Some(&child.media_type)) {
                                    size += c
                                        .config
                                        .iter()
                                        .chain(&c.layers)
                                        .map(|d| d.size)
                                        .sum::<u64>();
                                }
                            }
                        }
                        let platforms = m
                            .manifests
                            .iter()
                            .filter_map(|c| c.platform.as_ref().map(platform_text))
                            .collect();
                        ("list", size, platforms)
                    }
                    Some(m) => (
                        kind_of(m.kind),
                        m.config.iter().chain(&m.layers).map(|d| d.size).sum(),
                        Vec::new(),
                    ),
                    None => ("image", record.size, Vec::new()),
                };
                let last_change = s.meta.tag_history(&r, &tag, 1)?.first().map(|e| e.at);
                let upstream = match &record.origin {
                    Origin::Synced { upstream, .. } => Some(upstream.clone()),
                    _ => None,
                };
                rows.push(TagRow {
                    tag,
                    digest,
                    media_type: record.media_type,
                    kind,
                    size,
                    platforms,
                    last_change,
                    upstream,
                });
            }
            Ok(rows)
        })
        .await
    }

    /// A tag's changes, newest first.
    pub async fn tag_history(
        &self,
        repo: &RepoName,
        tag: &str,
        n: usize,
    ) -> Result<Vec<TagEvent>, RegistryError> {
        let (r, t) = (repo.to_string(), tag.to_owned());
        self.blocking(move |s| s.meta.tag_history(&r, &t, n)).await
    }

    /// A manifest of `repo` as its page shows it.
    pub async fn manifest_view(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<ManifestView>, RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let found = self.blocking(move |s| s.meta.manifest(&r, &d)).await?;
        let Some((record, body)) = found else {
            return Ok(None);
        };
        let parsed = Manifest::parse(&body, Some(&record.media_type)).ok();
        let part = |d: &crate::oci::Descriptor| Part {
            digest: d.digest.to_string(),
            media_type: d.media_type.clone(),
            size: d.size,
            platform: d.platform.as_ref().map(platform_text),
        };
        let origin = match &record.origin {
            Origin::Pushed => "pushed".to_owned(),
            Origin::Synced {
                upstream,
                repository,
            } => format!("synced from {upstream} ({repository})"),
            Origin::Derived {
                source,
                transform,
                version,
            } => format!("derived from {source} by {transform} v{version}"),
        };
        Ok(Some(ManifestView {
            digest: digest.to_string(),
            media_type: record.media_type.clone(),
            size: record.size,
            kind: parsed.as_ref().map_or("image", |m| kind_of(m.kind)),
            origin,
            config: parsed.as_ref().and_then(|m| m.config.as_ref().map(part)),
            layers: parsed
                .as_ref()
                .map(|m| m.layers.iter().map(part).collect())
                .unwrap_or_default(),
            children: parsed
                .as_ref()
                .map(|m| m.manifests.iter().map(part).collect())
                .unwrap_or_default(),
            subject: record.subject.clone(),
            annotations: parsed
                .and_then(|m| m.annotations)
                .map(|a| a.into_iter().collect())
                .unwrap_or_default(),
            body: String::from_utf8_lossy(&body).into_owned(),
        }))
    }

    /// An image's config, parsed, when it is stored and small enough.
    pub async fn image_config(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<serde_json::Value>, RegistryError> {
        let Ok(size) = self.local_blob_size(repo, digest).await else {
            return Ok(None);
        };
        if size > CONFIG_LIMIT {
            return Ok(None);
        }
        let d = digest.clone();
        let bytes = self
            .blocking(move |s| Ok(std::fs::read(s.blobs.path(&d))?))
            .await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }
}
