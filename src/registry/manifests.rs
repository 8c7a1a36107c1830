//! Pushing, pulling and deleting manifests. Bytes are stored and served exactly as pushed.

use super::{now_unix, Registry, RegistryError};
use crate::oci::schema1::from_schema2::EMPTY_LAYER_DIGEST;
use crate::oci::schema1::{jws, to_schema2::Schema1Image};
use crate::oci::{Digest, Manifest, ManifestKind, Reference, RepoName, Tag};
use crate::store::{ManifestRecord, Origin, PutManifest, PutOutcome, ReferrerRecord};
use bytes::Bytes;

/// A manifest as served.
#[derive(Clone)]
pub struct ManifestContent {
    pub media_type: String,
    pub digest: Digest,
    pub body: Bytes,
}

/// The result of a push.
pub struct PushedManifest {
    pub digest: Digest,
    /// The `subject` the manifest refers to, echoed in the `OCI-Subject` header.
    pub subject: Option<Digest>,
}

impl Registry {
    /// Validate and store a manifest under `reference` (a tag, or the digest it must have),
    /// and point `extra_tags` at it too (the `?tag=` parameters of a push by digest).
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<PushedManifest, RegistryError> {
        let limit = self.config.manifest_max_bytes;
        if body.len() > limit {
            return Err(RegistryError::ManifestTooLarge { limit });
        }
        let manifest = Manifest::parse(&body, content_type)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        // A schema1 digest covers the canonical payload, not the signed bytes.
        let canonical_digest = match manifest.kind {
            ManifestKind::Schema1 => Some(check_schema1(&body)?),
            _ => None,
        };
        let digest = match (reference, canonical_digest) {
            (Reference::Digest(expected), canonical) => {
                let actual = canonical.unwrap_or_else(|| Digest::of(expected.algorithm(), &body));
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        expected: expected.to_string(),
                        actual: actual.to_string(),
                    });
                }
                actual
            }
            (Reference::Tag(_), Some(canonical)) => canonical,
            (Reference::Tag(_), None) => Digest::sha256_of(&body),
        };
        let mut tags: Vec<String> = extra_tags.iter().map(Tag::to_string).collect();
        if let Reference::Tag(t) = reference {
            tags.push(t.to_string());
        }
        tags.sort();
        tags.dedup();
        // The empty layer is served in every repository, so it need not be pushed.
        let strict = self.config.reject_missing_references;
        let mut required_blobs: Vec<String> = manifest
            .required_blobs()
            .map(|d| d.digest.to_string())
            .filter(|d| strict && d != EMPTY_LAYER_DIGEST)
            .collect();
        required_blobs.sort();
        required_blobs.dedup();
        let required_manifests: Vec<String> = manifest
            .manifests
            .iter()
            .filter(|_| strict)
            .map(|d| d.digest.to_string())
            .collect();
        let record = ManifestRecord {
            media_type: manifest.media_type.clone(),
            size: body.len() as u64,
            subject: manifest.subject.as_ref().map(|s| s.digest.to_string()),
            pushed_at: now_unix(),
            origin: Origin::Pushed,
        };
        let referrer = manifest.subject.as_ref().map(|_| ReferrerRecord {
            media_type: manifest.media_type.clone(),
            digest: digest.to_string(),
            size: body.len() as u64,
            artifact_type: manifest.effective_artifact_type().map(str::to_owned),
            annotations: manifest.annotations.clone(),
        });
        let (r, d) = (repo.to_string(), digest.to_string());
        let outcome = self
            .blocking(move |s| {
                let put = PutManifest {
                    repo: &r,
                    digest: &d,
                    record: &record,
                    body: &body,
                    tags: &tags,
                    required_blobs: &required_blobs,
                    required_manifests: &required_manifests,
                    referrer: referrer.as_ref(),
                };
                s.meta.put_manifest(&put, now_unix())
            })
            .await?;
        match outcome {
            PutOutcome::Stored => {
                self.manifest_cache.invalidate(repo.as_str());
                Ok(PushedManifest {
                    digest,
                    subject: manifest.subject.map(|s| s.digest),
                })
            }
            PutOutcome::MissingBlob(d) | PutOutcome::MissingManifest(d) => {
                Err(RegistryError::ManifestBlobUnknown(d))
            }
        }
    }

    /// The digest a reference points at in `repo`.
    pub(super) async fn resolve_digest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Digest, RegistryError> {
        match reference {
            Reference::Digest(d) => Ok(d.clone()),
            Reference::Tag(tag) => {
                let (r, t) = (repo.to_string(), tag.to_string());
                let found = self.blocking(move |s| s.meta.tag(&r, &t)).await?;
                match found {
                    Some(d) => Digest::parse(&d).map_err(|e| {
                        RegistryError::Internal(format!("stored tag {repo}:{tag} -> {d}: {e}"))
                    }),
                    None => Err(self.manifest_unknown(repo, reference).await),
                }
            }
        }
    }

    /// MANIFEST_UNKNOWN, or NAME_UNKNOWN when the repository itself does not exist.
    pub(super) async fn manifest_unknown(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> RegistryError {
        let r = repo.to_string();
        match self.blocking(move |s| s.meta.repo_exists(&r)).await {
            Ok(false) => RegistryError::NameUnknown(repo.to_string()),
            Ok(true) => RegistryError::ManifestUnknown(reference.to_string()),
            Err(e) => e,
        }
    }

    /// Delete by digest: the manifest and every tag on it. Delete by tag: only the tag.
    pub async fn delete_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let r = repo.to_string();
        let removed = match reference {
            Reference::Digest(d) => {
                let d = d.to_string();
                self.blocking(move |s| s.meta.delete_manifest(&r, &d, now_unix()))
                    .await?
            }
            Reference::Tag(t) => {
                let t = t.to_string();
                self.blocking(move |s| s.meta.delete_tag(&r, &t, now_unix()))
                    .await?
            }
        };
        // Also when nothing was removed: cheap, and it cannot keep a stale answer.
        self.manifest_cache.invalidate(repo.as_str());
        if removed {
            Ok(())
        } else {
            Err(self.manifest_unknown(repo, reference).await)
        }
    }
}

/// A pushed schema1 must be signed, its signatures must verify (any key: they prove
/// integrity, not trust) and its history must form a chain. Returns its canonical digest.
pub(super) fn check_schema1(body: &[u8]) -> Result<Digest, RegistryError> {
    let verified = jws::verify(body).map_err(|e| match e {
        jws::JwsError::Unverified { .. } | jws::JwsError::Inconsistent => {
            RegistryError::ManifestUnverified(e.to_string())
        }
        other => RegistryError::ManifestInvalid(format!("schema 1: {other}")),
    })?;
    Schema1Image::parse(&verified.canonical)
        .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
    Ok(Digest::sha256_of(&verified.canonical))
}
