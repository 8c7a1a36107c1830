//! One run of a mirror rule: list the upstream's repositories and tags, and bring each kept
//! tag here. A tag whose upstream digest is what hoist already has, complete for the
//! rule's mode, costs one HEAD and nothing else, so a re-sync that finds nothing new makes
//! one tags/list per repository and one HEAD per tag (Docker Hub counts GETs, not HEADs).
//! Each step is idempotent; a run stopped anywhere is simply run again.

use super::directory::{Backing, BackingKind, Upstream};
use super::fetch::FetchReport;
use super::progress::{Event, SharedSummary, TagOutcome};
use super::records::{decode, encode, MirroredTag, Summary};
use super::rules::{PlatformFilter, RepoPattern};
use super::settings::{DeletedUpstream, Mirror, Mode};
use super::upstream::UpstreamError;
use super::{now_unix, SyncError, Syncer};
use crate::oci::media_types as mt;
use crate::oci::{Digest, Manifest, ManifestKind, RepoName, Tag};
use crate::registry::Provenance;
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};

/// What a client that reads every format sends: the upstream answers what it stores.
pub(super) const ACCEPT_ALL: &[&str] = &[
    mt::OCI_INDEX,
    mt::OCI_MANIFEST,
    mt::DOCKER_LIST,
    mt::DOCKER_SCHEMA2,
    mt::DOCKER_SCHEMA1_SIGNED,
    mt::DOCKER_SCHEMA1,
];

/// How a run ended, short of stopping.
pub(super) struct RunOutcome {
    pub summary: Summary,
    pub failures: Vec<String>,
}

/// What to bring over of a tag.
pub(super) struct TagPlan<'a> {
    pub upstream: &'a Upstream,
    pub upstream_repo: &'a str,
    pub local: &'a RepoName,
    pub rule: String,
    /// `None`: only the top manifest (a pull-through prefix: the rest comes on pull).
    pub depth: Option<Depth<'a>>,
}

/// A mirror rule's part of a tag plan: which children and which blobs.
pub(super) struct Depth<'a> {
    pub platforms: &'a PlatformFilter,
    pub mode: Mode,
}

impl Syncer {
    /// Run mirror rule `rule` to its end. The summary says what happened to each tag, and
    /// the failures (a repository or tag that could not be synced) which went wrong; `Err`
    /// only when the run could not go on at all (or stopped for shutdown).
    pub(super) async fn execute(&self, run: u64, rule: &str) -> Result<RunOutcome, SyncError> {
        let snap = self.directory.snapshot();
        let entry = snap
            .mirror(rule)
            .ok_or_else(|| SyncError::NotFound(format!("mirror rule {rule:?} is not defined")))?;
        let mirror = entry.rule.clone();
        let upstream = snap
            .upstream(&mirror.upstream)
            .ok_or_else(|| SyncError::NotFound(format!("upstream {:?}", mirror.upstream)))?
            .clone();
        let summary: SharedSummary = Arc::new(Mutex::new(Summary::default()));
        let repos = match &mirror.mapping.from {
            RepoPattern::Exact(name) => vec![name.clone()],
            RepoPattern::Prefix(prefix) => {
                let all = upstream.client.catalog().await?;
                all.into_iter()
                    .filter(|r| {
                        mirror.mapping.local_for(r).is_some() && r.starts_with(prefix.as_str())
                    })
                    .collect()
            }
        };
        let mut failures = Vec::new();
        for upstream_repo in repos {
            if self.shutdown.is_cancelled() {
                return Err(SyncError::Stopped);
            }
            if let Ok(mut s) = summary.lock() {
                s.repositories += 1;
            }
            if let Err(e) = self
                .sync_repository(run, &upstream, &mirror, &upstream_repo, &summary)
                .await
            {
                if matches!(e, SyncError::Stopped) {
                    return Err(e);
                }
                failures.push(format!("{upstream_repo}: {e}"));
            }
        }
        let summary = summary.lock().map(|s| s.clone()).unwrap_or_default();
        Ok(RunOutcome { summary, failures })
    }

    async fn sync_repository(
        &self,
        run: u64,
        upstream: &Upstream,
        mirror: &Mirror,
        upstream_repo: &str,
        summary: &SharedSummary,
    ) -> Result<(), SyncError> {
        let local = mirror
            .mapping
            .local_for(upstream_repo)
            .ok_or_else(|| SyncError::Settings(format!("{upstream_repo} is not under the rule")))?;
        let local = RepoName::parse(&local).map_err(|e| {
            SyncError::Settings(format!(
                "{upstream_repo} maps to {local:?}, not a repository name: {e}"
            ))
        })?;
        let upstream_tags = match upstream.client.list_tags(upstream_repo).await {
            Ok(tags) => tags,
            Err(UpstreamError::NotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let kept: Vec<&String> = upstream_tags
            .iter()
            .filter(|t| mirror.tags.keeps(t))
            .collect();
        let mut failed: Vec<String> = Vec::new();
        for tag in kept {
            if self.shutdown.is_cancelled() {
                return Err(SyncError::Stopped);
            }
            let Ok(tag) = Tag::parse(tag) else {
                continue; // not a tag hoist can hold
            };
            let plan = TagPlan {
                upstream,
                upstream_repo,
                local: &local,
                rule: mirror.name.clone(),
                depth: Some(Depth {
                    platforms: &mirror.platforms,
                    mode: mirror.mode,
                }),
            };
            let outcome = self.sync_tag(run, &plan, &tag, summary).await;
            let (outcome, digest, error) = match outcome {
                Ok((o, d)) => (o, Some(d.to_string()), None),
                Err(SyncError::Stopped) => return Err(SyncError::Stopped),
                Err(e) => {
                    failed.push(format!("{tag}: {e}"));
                    (TagOutcome::Failed, None, Some(e.to_string()))
                }
            };
            if let Ok(mut s) = summary.lock() {
                match outcome {
                    TagOutcome::New => s.tags_new += 1,
                    TagOutcome::Updated => s.tags_updated += 1,
                    TagOutcome::Unchanged => s.tags_unchanged += 1,
                    TagOutcome::Failed => s.tags_failed += 1,
                    TagOutcome::Removed => s.tags_removed += 1,
                }
            }
            self.report(Event::Tag {
                run,
                repository: local.to_string(),
                tag: tag.to_string(),
                outcome,
                digest,
                error,
            })
            .await;
        }
        if mirror.deleted_upstream == DeletedUpstream::Remove {
            self.remove_deleted(run, mirror, &local, &upstream_tags, summary)
                .await?;
        }
        if !failed.is_empty() {
            // The first few in full; the run's events have every one.
            let shown: Vec<&str> = failed.iter().take(3).map(String::as_str).collect();
            let more = failed.len() - shown.len();
            let tail = if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            };
            return Err(SyncError::Content(format!(
                "{} tag(s) failed: {}{tail}",
                failed.len(),
                shown.join("; ")
            )));
        }
        Ok(())
    }

    /// Tags this rule mirrored that the upstream no longer has (or the rule no longer keeps).
    async fn remove_deleted(
        &self,
        run: u64,
        mirror: &Mirror,
        local: &RepoName,
        upstream_tags: &[String],
        summary: &SharedSummary,
    ) -> Result<(), SyncError> {
        for (tag, bytes) in self.registry.mirrored_tags(local).await? {
            let record: MirroredTag = decode("mirrored tag", &bytes)?;
            if record.rule != mirror.name
                || (upstream_tags.contains(&tag) && mirror.tags.keeps(&tag))
            {
                continue;
            }
            if self
                .registry
                .untag_synced(local, &tag, &record.digest)
                .await?
            {
                if let Ok(mut s) = summary.lock() {
                    s.tags_removed += 1;
                }
                self.report(Event::Tag {
                    run,
                    repository: local.to_string(),
                    tag,
                    outcome: TagOutcome::Removed,
                    digest: Some(record.digest),
                    error: None,
                })
                .await;
            }
        }
        Ok(())
    }

    /// Bring one tag over (or see that nothing changed). Returns what happened and the
    /// digest the tag points at.
    pub(super) async fn sync_tag(
        &self,
        run: u64,
        plan: &TagPlan<'_>,
        tag: &Tag,
        summary: &SharedSummary,
    ) -> Result<(TagOutcome, Digest), SyncError> {
        let client = &plan.upstream.client;
        let head = client
            .head_manifest(plan.upstream_repo, tag.as_str(), ACCEPT_ALL)
            .await?
            .ok_or_else(|| SyncError::NotFound(format!("{}:{tag} upstream", plan.upstream_repo)))?;
        let known: Option<MirroredTag> =
            match self.registry.mirrored_tag(plan.local, tag.as_str()).await? {
                Some(bytes) => Some(decode("mirrored tag", &bytes)?),
                None => None,
            };
        let here = self.registry.tag_digest(plan.local, tag).await?;
        let upstream_digest = match head.digest.as_deref().map(Digest::parse) {
            Some(Ok(d)) => Some(d),
            _ => None, // no digest on HEAD: the GET below tells
        };
        if let (Some(known), Some(d), Some(here)) = (&known, &upstream_digest, &here) {
            let complete = match &plan.depth {
                Some(depth) => depth.mode == Mode::OnDemand || known.blobs_complete,
                None => true,
            };
            if known.digest == d.to_string() && here == d && complete {
                return Ok((TagOutcome::Unchanged, d.clone()));
            }
        }
        let reference = upstream_digest
            .as_ref()
            .map_or_else(|| tag.to_string(), Digest::to_string);
        let from = Provenance {
            upstream: plan.upstream.settings.name.clone(),
            repository: plan.upstream_repo.to_owned(),
        };
        let top = self
            .fetch_manifest(plan, &reference, upstream_digest.as_ref(), &from)
            .await?;
        let mut children = Vec::new();
        let mut images = Vec::new();
        let mut blobs_complete = plan.depth.is_none();
        if let Some(depth) = &plan.depth {
            if top.manifest.kind.is_index() {
                for child in top
                    .manifest
                    .manifests
                    .iter()
                    .filter(|c| depth.platforms.keeps(c.platform.as_ref()))
                {
                    let stored = self
                        .fetch_manifest(plan, &child.digest.to_string(), Some(&child.digest), &from)
                        .await?;
                    children.push(stored.digest.to_string());
                    if !stored.manifest.kind.is_index() {
                        images.push(stored.manifest);
                    }
                }
            } else {
                images.push(top.manifest.clone());
            }
            let wanted = blobs_of(&images, depth.mode);
            let report = FetchReport { run, summary };
            let concurrency = plan.upstream.settings.max_concurrency.max(1);
            let report = &report;
            let results: Vec<Result<u64, SyncError>> = futures_util::stream::iter(wanted)
                .map(|d| async move {
                    self.fetch_blob(client, plan.upstream_repo, plan.local, &d, report)
                        .await
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for r in results {
                r?;
            }
            blobs_complete = depth.mode == Mode::Immediate;
        }
        let required: Vec<String> = match &plan.depth {
            Some(depth) => blobs_of(&images, depth.mode)
                .iter()
                .map(Digest::to_string)
                .collect(),
            None => Vec::new(),
        };
        let schema1 = if top.manifest.kind == ManifestKind::Schema2 {
            self.upstream_schema1(plan, tag, &top.digest, &from).await
        } else {
            None
        };
        let record = MirroredTag {
            upstream: from.upstream.clone(),
            repository: from.repository.clone(),
            rule: plan.rule.clone(),
            digest: top.digest.to_string(),
            media_type: top.manifest.media_type.clone(),
            schema1: schema1.map(|d| d.to_string()),
            children: children.clone(),
            blobs_complete,
            synced_at: now_unix(),
        };
        self.registry
            .tag_synced(
                plan.local,
                tag,
                &top.digest,
                required,
                children,
                encode(&record)?,
            )
            .await?;
        let outcome = if here.is_none() && known.is_none() {
            TagOutcome::New
        } else {
            TagOutcome::Updated
        };
        Ok((outcome, top.digest))
    }

    /// GET a manifest (by digest when known) and store it as it came.
    pub(super) async fn fetch_manifest(
        &self,
        plan: &TagPlan<'_>,
        reference: &str,
        expected: Option<&Digest>,
        from: &Provenance,
    ) -> Result<crate::registry::SyncedManifest, SyncError> {
        if let Some(d) = expected {
            if let Some(found) = self.registry.stored_manifest(plan.local, d).await? {
                return Ok(found);
            }
        }
        let fetched = plan
            .upstream
            .client
            .get_manifest(plan.upstream_repo, reference, Some(ACCEPT_ALL))
            .await?
            .ok_or_else(|| {
                SyncError::NotFound(format!("{}@{reference} upstream", plan.upstream_repo))
            })?;
        let header = fetched
            .digest_header
            .as_deref()
            .and_then(|d| Digest::parse(d).ok());
        let expected = expected.cloned().or(header);
        let stored = self
            .registry
            .store_synced_manifest(
                plan.local,
                expected.as_ref(),
                fetched.media_type.as_deref(),
                fetched.body,
                from,
            )
            .await
            .map_err(|e| match e {
                crate::registry::RegistryError::DigestMismatch { expected, actual } => {
                    SyncError::Content(format!(
                        "the upstream's manifest hashes to {actual}, not {expected}; not stored"
                    ))
                }
                other => other.into(),
            })?;
        Ok(stored)
    }

    /// The upstream's own schema1 of a schema2 tag (what Docker 1.9 got from it), kept so
    /// its digest resolves here. Docker 1.9 sent no Accept; the HTTP client cannot send
    /// none (it adds `*/*`), so this asks for schema1 alone, which distribution 2.8 answers
    /// the same way. Upstreams that no longer make one (distribution 3, Docker Hub) answer
    /// the schema2 or an error; then there is nothing to keep.
    async fn upstream_schema1(
        &self,
        plan: &TagPlan<'_>,
        tag: &Tag,
        source: &Digest,
        from: &Provenance,
    ) -> Option<Digest> {
        let fetched = plan
            .upstream
            .client
            .get_manifest(
                plan.upstream_repo,
                tag.as_str(),
                Some(&[mt::DOCKER_SCHEMA1_SIGNED, mt::DOCKER_SCHEMA1]),
            )
            .await;
        let fetched = match fetched {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => {
                tracing::info!(repo = plan.upstream_repo, tag = %tag, error = %e, "no schema1 rendering from the upstream");
                return None;
            }
        };
        let is_schema1 = fetched.media_type.as_deref().is_some_and(|m| {
            m.starts_with(mt::DOCKER_SCHEMA1_SIGNED) || m.starts_with(mt::DOCKER_SCHEMA1)
        });
        if !is_schema1 {
            return None;
        }
        match self
            .registry
            .store_upstream_schema1(plan.local, source, tag, fetched.body, from)
            .await
        {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(repo = plan.upstream_repo, tag = %tag, error = %e, "upstream schema1 not kept");
                None
            }
        }
    }
}

/// The blobs a mode fetches now: every config and layer (immediate) or configs only
/// (on-demand: layers come on their first pull; configs are small and every other form of
/// the image needs them). Non-distributable layers are never fetched.
fn blobs_of(images: &[Manifest], mode: Mode) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for image in images {
        for d in image.required_blobs() {
            let is_config = image.config.as_ref().is_some_and(|c| c.digest == d.digest);
            let wanted = mode == Mode::Immediate || is_config;
            if wanted
                && d.digest.to_string() != crate::oci::schema1::from_schema2::EMPTY_LAYER_DIGEST
                && !out.contains(&d.digest)
            {
                out.push(d.digest.clone());
            }
        }
    }
    out
}

impl Backing {
    /// The plan that brings one tag of this backing over.
    pub(super) fn plan<'a>(&'a self, local: &'a RepoName) -> TagPlan<'a> {
        TagPlan {
            upstream: &self.upstream,
            upstream_repo: &self.repository,
            local,
            rule: self.kind.rule(),
            depth: match &self.kind {
                BackingKind::Proxy { .. } => None,
                BackingKind::Mirror {
                    mode, platforms, ..
                } => Some(Depth {
                    platforms,
                    mode: *mode,
                }),
            },
        }
    }
}
