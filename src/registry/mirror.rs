//! What the sync layer stores through the registry: manifests fetched from an upstream
//! (byte for byte, under the upstream's digests), the upstream's own schema1 rendering of a
//! tag, and mirrored tags, written only when the content they need is present.

use super::manifests::check_schema1;
use super::{now_unix, Registry, RegistryError};
use crate::oci::{Digest, Manifest, ManifestKind, RepoName, Tag};
use crate::store::{ManifestRecord, Origin, PutManifest, PutOutcome, PutSyncedTag, PutVariant};
use bytes::Bytes;

/// A manifest as stored from an upstream.
pub struct SyncedManifest {
    pub digest: Digest,
    pub manifest: Manifest,
}

/// Where mirrored content came from.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub upstream: String,
    /// The upstream's name of the repository.
    pub repository: String,
}

impl Registry {
    /// Store a manifest fetched from an upstream, exactly as it came. Its digest is computed
    /// from the bytes (the canonical payload for schema1) and must equal `expected` when
    /// the upstream named one; nothing it references needs to be present yet.
    pub async fn store_synced_manifest(
        &self,
        repo: &RepoName,
        expected: Option<&Digest>,
        media_type: Option<&str>,
        body: Bytes,
        from: &Provenance,
    ) -> Result<SyncedManifest, RegistryError> {
        let manifest = Manifest::parse(&body, media_type)
            .map_err(|e| RegistryError::ManifestInvalid(format!("upstream manifest: {e}")))?;
        let digest = match manifest.kind {
            ManifestKind::Schema1 => check_schema1(&body)?,
            _ => Digest::of(
                expected.map_or(crate::oci::Algorithm::Sha256, Digest::algorithm),
                &body,
            ),
        };
        if let Some(expected) = expected.filter(|e| *e != &digest) {
            return Err(RegistryError::DigestMismatch {
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        let record = ManifestRecord {
            media_type: manifest.media_type.clone(),
            size: body.len() as u64,
            subject: manifest.subject.as_ref().map(|s| s.digest.to_string()),
            pushed_at: now_unix(),
            origin: Origin::Synced {
                upstream: from.upstream.clone(),
                repository: from.repository.clone(),
            },
        };
        let (r, d) = (repo.to_string(), digest.to_string());
        let outcome = self
            .blocking(move |s| {
                if s.meta.manifest_record(&r, &d)?.is_some() {
                    return Ok(PutOutcome::Stored); // already here, pushed or synced
                }
                let put = PutManifest {
                    repo: &r,
                    digest: &d,
                    record: &record,
                    body: &body,
                    tags: &[],
                    required_blobs: &[],
                    required_manifests: &[],
                    referrer: None,
                };
                s.meta.put_manifest(&put, now_unix())
            })
            .await?;
        debug_assert_eq!(outcome, PutOutcome::Stored);
        self.manifest_cache.invalidate(repo.as_str());
        Ok(SyncedManifest { digest, manifest })
    }

    /// Keep the upstream's own signed schema1 of `tag` (what it answers a client that sends
    /// no Accept) as the schema1 form of `source`, so its digest resolves here and old
    /// clients get the same bytes from hoist as from the upstream. Returns its digest.
    pub async fn store_upstream_schema1(
        &self,
        repo: &RepoName,
        source: &Digest,
        tag: &Tag,
        body: Bytes,
        from: &Provenance,
    ) -> Result<Digest, RegistryError> {
        let digest = check_schema1(&body)?;
        let record = ManifestRecord {
            media_type: crate::oci::media_types::DOCKER_SCHEMA1_SIGNED.to_owned(),
            size: body.len() as u64,
            subject: None,
            pushed_at: now_unix(),
            origin: Origin::Synced {
                upstream: from.upstream.clone(),
                repository: from.repository.clone(),
            },
        };
        let (r, src, d) = (repo.to_string(), source.to_string(), digest.to_string());
        let kind = format!("schema1:{tag}");
        self.blocking(move |s| {
            s.meta.put_variant(
                &PutVariant {
                    repo: &r,
                    source: &src,
                    kind: &kind,
                    digest: &d,
                    record: &record,
                    body: &body,
                    blob: None,
                },
                now_unix(),
            )
        })
        .await?;
        self.manifest_cache.invalidate(repo.as_str());
        Ok(digest)
    }

    /// Point a mirrored `tag` at `digest` together with the sync's `record` of it, in one
    /// transaction, if the manifests and blobs the rule's mode needs are all present.
    pub async fn tag_synced(
        &self,
        repo: &RepoName,
        tag: &Tag,
        digest: &Digest,
        blobs: Vec<String>,
        manifests: Vec<String>,
        record: Vec<u8>,
    ) -> Result<(), RegistryError> {
        let (r, t, d) = (repo.to_string(), tag.to_string(), digest.to_string());
        let outcome = self
            .blocking(move |s| {
                s.meta.put_synced_tag(
                    &PutSyncedTag {
                        repo: &r,
                        tag: &t,
                        digest: &d,
                        required_blobs: &blobs,
                        required_manifests: &manifests,
                        record: &record,
                    },
                    now_unix(),
                )
            })
            .await?;
        self.manifest_cache.invalidate(repo.as_str());
        match outcome {
            PutOutcome::Stored => Ok(()),
            PutOutcome::MissingBlob(d) => Err(RegistryError::BlobUnknown(d)),
            PutOutcome::MissingManifest(d) => Err(RegistryError::ManifestUnknown(d)),
        }
    }

    /// Remove a mirrored tag (gone upstream), if it still points where the sync put it.
    pub async fn untag_synced(
        &self,
        repo: &RepoName,
        tag: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let (r, t, d) = (repo.to_string(), tag.to_owned(), digest.to_owned());
        let removed = self
            .blocking(move |s| s.meta.remove_synced_tag(&r, &t, &d, now_unix()))
            .await?;
        self.manifest_cache.invalidate(repo.as_str());
        Ok(removed)
    }

    /// The sync's record of a mirrored tag.
    pub async fn mirrored_tag(
        &self,
        repo: &RepoName,
        tag: &str,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let (r, t) = (repo.to_string(), tag.to_owned());
        self.blocking(move |s| s.meta.mirrored_tag(&r, &t)).await
    }

    /// Every mirrored tag of `repo` with the sync's record of it.
    pub async fn mirrored_tags(
        &self,
        repo: &RepoName,
    ) -> Result<Vec<(String, Vec<u8>)>, RegistryError> {
        let r = repo.to_string();
        self.blocking(move |s| s.meta.mirrored_tags(&r)).await
    }

    /// A manifest `repo` holds, parsed.
    pub async fn stored_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<SyncedManifest>, RegistryError> {
        let Some(found) = self.load_manifest(repo, digest).await? else {
            return Ok(None);
        };
        let manifest = found.parsed()?;
        Ok(Some(SyncedManifest {
            digest: found.digest,
            manifest,
        }))
    }

    /// Whether `repo` holds manifest `digest`.
    pub async fn has_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        self.blocking(move |s| Ok(s.meta.manifest_record(&r, &d)?.is_some()))
            .await
    }

    /// Whether blob `digest` is linked in `repo` (never asks an upstream).
    pub async fn has_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool, RegistryError> {
        match self.local_blob_size(repo, digest).await {
            Ok(_) => Ok(true),
            Err(RegistryError::BlobUnknown(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether hoist holds blob `digest` in any repository (its size if so).
    pub async fn stored_blob_size(&self, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let d = digest.to_string();
        self.blocking(move |s| s.meta.blob_size(&d)).await
    }

    /// Whether `repo` exists (has been pushed to or mirrored into).
    pub async fn repo_exists(&self, repo: &RepoName) -> Result<bool, RegistryError> {
        let r = repo.to_string();
        self.blocking(move |s| s.meta.repo_exists(&r)).await
    }

    /// The digest `tag` points at in `repo`, if it exists.
    pub async fn tag_digest(
        &self,
        repo: &RepoName,
        tag: &Tag,
    ) -> Result<Option<Digest>, RegistryError> {
        let (r, t) = (repo.to_string(), tag.to_string());
        let found = self.blocking(move |s| s.meta.tag(&r, &t)).await?;
        found
            .map(|d| {
                Digest::parse(&d)
                    .map_err(|e| RegistryError::Internal(format!("stored tag {repo}:{tag}: {e}")))
            })
            .transpose()
    }
}
