//! Serving a manifest to a client: follow the choice of `oci::negotiate` step by step
//! (platform child, family mapping, schema1 down- and up-conversion) until the client can
//! read the result. Every variant on the way is made once and stored (see `variants`).

use super::{ManifestContent, Registry, RegistryError};
use crate::oci::accept::Accept;
use crate::oci::negotiate::{next_step, Addressed, Step};
use crate::oci::{family, Digest, Manifest, ManifestKind, Reference, RepoName};
use bytes::Bytes;

/// Conversions chain at most: child pick, map, up/down-convert, map; more means a loop.
const MAX_STEPS: usize = 6;

/// A stored manifest on the way to the client.
pub(super) struct Current {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
}

impl Current {
    pub fn parsed(&self) -> Result<Manifest, RegistryError> {
        Manifest::parse(&self.body, Some(&self.media_type)).map_err(|e| {
            RegistryError::Internal(format!(
                "stored manifest {} does not parse: {e}",
                self.digest
            ))
        })
    }
}

impl Registry {
    /// The manifest `reference` names, in a form the client's `accept` reads.
    pub async fn resolve_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        accept: &Accept,
    ) -> Result<ManifestContent, RegistryError> {
        let (digest, addressed, tag) = match reference {
            Reference::Digest(d) => (d.clone(), Addressed::ByDigest, None),
            Reference::Tag(t) => (
                self.resolve_digest(repo, reference).await?,
                Addressed::ByTag,
                Some(t.clone()),
            ),
        };
        let mut current = self
            .load_manifest(repo, &digest)
            .await?
            .ok_or_else(|| RegistryError::ManifestUnknown(reference.to_string()))?;
        let mut seen = Vec::new();
        for _ in 0..MAX_STEPS {
            // The stored media type names the kind; the body is parsed only when a step
            // needs its content, so serving a stored form costs no JSON parsing.
            let kind = ManifestKind::from_media_type(&current.media_type).ok_or_else(|| {
                RegistryError::Internal(format!("stored type {}", current.media_type))
            })?;
            let maps = kind != ManifestKind::OciManifest || family::image_maps(&current.parsed()?);
            let step = next_step(kind, accept, addressed, maps);
            seen.push(current.media_type.clone());
            current = match step {
                Step::Serve => {
                    return Ok(ManifestContent {
                        media_type: current.media_type,
                        digest: current.digest,
                        body: current.body,
                    })
                }
                Step::Unavailable => return Err(unreadable(reference, &seen)),
                Step::PlatformChild => {
                    let parsed = current.parsed()?;
                    let wanted = &self.config.default_platform;
                    let child = parsed.platform_child(wanted).ok_or_else(|| {
                        RegistryError::ManifestUnknown(format!(
                            "{reference}: the list has no {}/{} entry for a client that reads no lists",
                            wanted.os, wanted.architecture
                        ))
                    })?;
                    self.load_manifest(repo, &child.digest)
                        .await?
                        .ok_or_else(|| {
                            RegistryError::Internal(format!(
                                "list child {} is missing",
                                child.digest
                            ))
                        })?
                }
                Step::MapTo(target) => {
                    let parsed = current.parsed()?;
                    self.mapped_variant(repo, &current, &parsed, target).await?
                }
                Step::ToSchema1 => {
                    let tag = tag.as_ref().ok_or_else(|| {
                        RegistryError::Internal("schema1 conversion without a tag".into())
                    })?;
                    let parsed = current.parsed()?;
                    self.schema1_variant(repo, &current, &parsed, tag).await?
                }
                Step::UpConvert => self.upconverted_variant(repo, &current).await?,
            };
        }
        Err(RegistryError::Internal(format!(
            "no form of {reference} after {MAX_STEPS} steps: {seen:?}"
        )))
    }

    /// A manifest stored in `repo` (pushed or derived).
    pub(super) async fn load_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<Current>, RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let found = self.blocking(move |s| s.meta.manifest(&r, &d)).await?;
        Ok(found.map(|(record, body)| Current {
            digest: digest.clone(),
            media_type: record.media_type,
            body: Bytes::from(body),
        }))
    }
}

/// 404 naming the formats that exist, so a user sees why their client got nothing.
fn unreadable(reference: &Reference, seen: &[String]) -> RegistryError {
    RegistryError::ManifestUnknown(format!(
        "{reference} exists as {}, which this client's Accept header does not include and hoist cannot convert for it",
        seen.join(" -> ")
    ))
}
