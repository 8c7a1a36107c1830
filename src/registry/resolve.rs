//! Serving a manifest to a client: follow the choice of `oci::negotiate` step by step
//! (platform child, family mapping, schema1 down- and up-conversion) until the client can
//! read the result. Every variant on the way is made once and stored (see `variants`).
//!
//! The walk over what is already stored runs in one blocking call: tag, manifest, each step's
//! stored variant or child, in one trip to the store. Only a variant that does not exist yet
//! leaves the walk, is made (async), and the walk resumes from it.

use super::{ManifestContent, Registry, RegistryError};
use crate::oci::accept::Accept;
use crate::oci::negotiate::{next_step, Addressed, Step};
use crate::oci::{family, Digest, Manifest, ManifestKind, Platform, Reference, RepoName, Tag};
use crate::store::{Store, StoreError};
use bytes::Bytes;

/// Conversions chain at most: child pick, map, up/down-convert, map; more means a loop.
const MAX_STEPS: usize = 6;

/// A stored manifest on the way to the client: what is finally served.
pub(super) type Current = ManifestContent;

impl ManifestContent {
    pub fn parsed(&self) -> Result<Manifest, RegistryError> {
        // Stored content parsed when it was pushed; if it no longer does, it is content
        // hoist cannot convert, not a server fault.
        Manifest::parse(&self.body, Some(&self.media_type)).map_err(|e| {
            RegistryError::Unconvertible(format!(
                "stored manifest {} cannot be read for conversion: {e}",
                self.digest
            ))
        })
    }

    fn kind(&self) -> Result<ManifestKind, RegistryError> {
        ManifestKind::from_media_type(&self.media_type)
            .ok_or_else(|| RegistryError::Internal(format!("stored type {}", self.media_type)))
    }
}

/// What a request asks for, owned so the walk can run on the blocking pool.
#[derive(Clone)]
struct Request {
    repo: String,
    reference: Reference,
    accept: Accept,
    addressed: Addressed,
    tag: Option<Tag>,
    platform: Platform,
}

impl Request {
    fn new(repo: &str, reference: &Reference, accept: &Accept, platform: &Platform) -> Request {
        Request {
            repo: repo.to_owned(),
            reference: reference.clone(),
            accept: *accept,
            addressed: match reference {
                Reference::Digest(_) => Addressed::ByDigest,
                Reference::Tag(_) => Addressed::ByTag,
            },
            tag: match reference {
                Reference::Tag(t) => Some(t.clone()),
                Reference::Digest(_) => None,
            },
            platform: platform.clone(),
        }
    }
}

/// Where a walk ended.
pub(super) enum Walked {
    Serve(Current),
    /// This step's variant does not exist yet.
    Make(Current, Step),
    Fail(RegistryError),
}

impl Registry {
    /// The manifest `reference` names, in a form the client's `accept` reads.
    pub async fn resolve_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        accept: &Accept,
    ) -> Result<ManifestContent, RegistryError> {
        self.refresh_from_origin(repo, reference).await?;
        let reference_key = reference.to_string();
        let cache = &self.manifest_cache;
        if let Some(answer) = cache.get(repo.as_str(), &reference_key, accept) {
            return Ok(answer);
        }
        let ticket = cache.ticket();
        let request = Request::new(
            repo.as_str(),
            reference,
            accept,
            &self.config.default_platform,
        );
        let mut from: Option<Current> = None;
        for _ in 0..MAX_STEPS {
            let req = request.clone();
            let walked = self.blocking(move |s| walk(s, &req, from.clone())).await?;
            let (current, step) = match walked {
                Walked::Serve(c) => {
                    cache.insert(ticket, repo.as_str(), &reference_key, accept, &c);
                    return Ok(c);
                }
                Walked::Fail(e) => return Err(e),
                Walked::Make(current, step) => (current, step),
            };
            from = Some(match step {
                Step::MapTo(target) => self.mapped_variant(repo, &current, target).await?,
                Step::ToSchema1 => {
                    let tag = request.tag.as_ref().ok_or_else(|| {
                        RegistryError::Internal("schema1 conversion without a tag".into())
                    })?;
                    self.schema1_variant(repo, &current, tag).await?
                }
                Step::UpConvert => self.upconverted_variant(repo, &current).await?,
                Step::Serve | Step::Unavailable | Step::PlatformChild => {
                    return Err(RegistryError::Internal(format!("walk stopped at {step:?}")))
                }
            });
        }
        Err(too_many_steps(reference, &[]))
    }

    /// A manifest stored in `repo` (pushed or derived).
    pub(super) async fn load_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<Current>, RegistryError> {
        let (r, d) = (repo.to_string(), digest.to_string());
        let found = self.blocking(move |s| load(s, &r, &d)).await?;
        Ok(found)
    }
}

/// The variant-index key of a conversion step.
pub(super) fn variant_kind(step: Step, tag: Option<&Tag>) -> Option<String> {
    match step {
        Step::MapTo(target) => Some(format!("map:{}", family_name(target))),
        Step::ToSchema1 => tag.map(|t| format!("schema1:{t}")),
        Step::UpConvert => Some("schema2".to_owned()),
        Step::Serve | Step::Unavailable | Step::PlatformChild => None,
    }
}

pub(super) fn family_name(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::Schema2 | ManifestKind::DockerList => "docker",
        ManifestKind::OciManifest | ManifestKind::OciIndex => "oci",
        ManifestKind::Schema1 => "schema1",
    }
}

pub(super) fn load(s: &Store, repo: &str, digest: &str) -> Result<Option<Current>, StoreError> {
    let Some((record, body)) = s.meta.manifest(repo, digest)? else {
        return Ok(None);
    };
    let digest = Digest::parse(digest).map_err(|e| StoreError::Corrupt {
        table: "manifests",
        reason: format!("{digest}: {e}"),
    })?;
    Ok(Some(Current {
        digest,
        media_type: record.media_type,
        body: Bytes::from(body),
    }))
}

/// Where a pull of `reference` with `accept` gets to over what is stored, making nothing:
/// the console's table of which client gets which form uses this walk, the one pulls take.
pub(super) fn walk_stored(
    s: &Store,
    repo: &str,
    reference: &Reference,
    accept: &Accept,
    platform: &Platform,
) -> Result<Walked, StoreError> {
    walk(s, &Request::new(repo, reference, accept, platform), None)
}

/// Follow the steps over what is stored, from the request's reference or from `from`.
fn walk(s: &Store, req: &Request, from: Option<Current>) -> Result<Walked, StoreError> {
    let mut current = match from {
        Some(c) => c,
        None => {
            let digest = match &req.reference {
                Reference::Digest(d) => Some(d.to_string()),
                Reference::Tag(t) => s.meta.tag(&req.repo, t.as_str())?,
            };
            match digest
                .map(|d| load(s, &req.repo, &d))
                .transpose()?
                .flatten()
            {
                Some(c) => c,
                None if !s.meta.repo_exists(&req.repo)? => {
                    return Ok(Walked::Fail(RegistryError::NameUnknown(req.repo.clone())))
                }
                None => {
                    return Ok(Walked::Fail(RegistryError::ManifestUnknown(
                        req.reference.to_string(),
                    )))
                }
            }
        }
    };
    let mut seen = Vec::new();
    for _ in 0..MAX_STEPS {
        let kind = match current.kind() {
            Ok(k) => k,
            Err(e) => return Ok(Walked::Fail(e)),
        };
        // The stored media type names the kind; the body is parsed only when a step needs
        // its content, so serving a stored form costs no JSON parsing. Whether an OCI
        // manifest has a Docker form matters only when that is the step.
        let mut step = next_step(kind, &req.accept, req.addressed, true);
        if step == Step::MapTo(ManifestKind::Schema2)
            && !current.parsed().is_ok_and(|m| family::image_maps(&m))
        {
            step = next_step(kind, &req.accept, req.addressed, false);
        }
        seen.push(current.media_type.clone());
        current = match step {
            Step::Serve => return Ok(Walked::Serve(current)),
            Step::Unavailable => return Ok(Walked::Fail(unreadable(&req.reference, &seen))),
            Step::PlatformChild => {
                let parsed = match current.parsed() {
                    Ok(p) => p,
                    Err(e) => return Ok(Walked::Fail(e)),
                };
                let Some(child) = parsed.platform_child(&req.platform) else {
                    return Ok(Walked::Fail(RegistryError::Unconvertible(format!(
                        "{}: the list has no {}/{} entry for a client that reads no lists",
                        req.reference, req.platform.os, req.platform.architecture
                    ))));
                };
                match load(s, &req.repo, &child.digest.to_string())? {
                    Some(c) => c,
                    // Deleted by digest after the list was pushed, or left out of a sparse
                    // (platform-filtered) copy on purpose.
                    None => {
                        return Ok(Walked::Fail(RegistryError::Unconvertible(format!(
                            "{}: the list's {} manifest {} is not in this repository \
                             (deleted, or not mirrored), so a client that reads no lists \
                             cannot be served",
                            req.reference, req.platform, child.digest
                        ))))
                    }
                }
            }
            _ => {
                let Some(key) = variant_kind(step, req.tag.as_ref()) else {
                    return Ok(Walked::Make(current, step));
                };
                let stored = s
                    .meta
                    .variant(&req.repo, &current.digest.to_string(), &key)?;
                match stored
                    .map(|d| load(s, &req.repo, &d))
                    .transpose()?
                    .flatten()
                {
                    Some(variant) => variant,
                    None => return Ok(Walked::Make(current, step)),
                }
            }
        };
    }
    Ok(Walked::Fail(too_many_steps(&req.reference, &seen)))
}

/// Lists nested deeper than any client needs: refused as content hoist cannot serve.
fn too_many_steps(reference: &Reference, seen: &[String]) -> RegistryError {
    RegistryError::Unconvertible(format!(
        "{reference}: no readable form after {MAX_STEPS} conversion steps ({})",
        seen.join(" -> ")
    ))
}

/// 404 naming the formats that exist, so a user sees why their client got nothing.
fn unreadable(reference: &Reference, seen: &[String]) -> RegistryError {
    RegistryError::Unconvertible(format!(
        "{reference} exists as {}, which this client's Accept header does not include and hoist cannot convert for it",
        seen.join(" -> ")
    ))
}
