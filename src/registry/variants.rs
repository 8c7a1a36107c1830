//! Derived manifests: each is computed once from its source, stored as real content with
//! its origin (transform name and version) and indexed by (source, kind), so its digest
//! resolves forever while the source exists. Transforms are versioned: changing one's output
//! would change digests users may have pinned, so a change needs a new version.

use super::resolve::{load, variant_kind, Current};
use super::{now_unix, Registry, RegistryError};
use crate::oci::family::{self, MappedChild};
use crate::oci::media_types as mt;
use crate::oci::negotiate::Step;
use crate::oci::schema1::from_schema2::{to_schema1, EMPTY_LAYER_DIGEST};
use crate::oci::schema1::jws;
use crate::oci::schema1::to_schema2::{LayerFacts, Schema1Image};
use crate::oci::{Digest, Manifest, ManifestKind, RepoName, Tag};
use crate::store::{diff_id, ManifestRecord, Origin, PutVariant};
use std::collections::HashMap;

/// The diff_id of the 32-byte empty layer blob (sha256 of 1024 zero bytes).
const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
/// Marks a cached diff_id entry that records why a layer has none.
const UNREADABLE_LAYER: &str = "!";
/// Configs are small JSON; a bigger "config" is not one we convert.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// The `time` in the protected header of our schema1 signatures: fixed, so that the signed
/// bytes depend only on the payload and the key (nobody verifies it).
const SIGNATURE_TIME: &str = "2000-01-01T00:00:00Z";

/// Transform names and versions recorded in each derived manifest's origin.
const MAP_FAMILY: (&str, u32) = ("map-family", 1);
const TO_SCHEMA1: (&str, u32) = ("schema2-to-schema1", 1);
const TO_SCHEMA2: (&str, u32) = ("schema1-to-schema2", 1);

/// A variant about to be stored.
struct Made {
    media_type: String,
    digest: Digest,
    body: Vec<u8>,
    transform: (&'static str, u32),
    /// A blob the variant introduces (the config of an up-conversion).
    blob: Option<(Digest, Vec<u8>)>,
}

impl Registry {
    /// Look up the `kind` variant of `source`, or make and store it.
    async fn variant<F, Fut>(
        &self,
        repo: &RepoName,
        source: &Digest,
        kind: String,
        make: F,
    ) -> Result<Current, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Made, RegistryError>>,
    {
        // The common case, a variant made before: one trip to the store, no other work.
        let (r, s, k) = (repo.to_string(), source.to_string(), kind.clone());
        let found = self
            .blocking(move |st| match st.meta.variant(&r, &s, &k)? {
                Some(digest) => load(st, &r, &digest),
                None => Ok(None),
            })
            .await?;
        if let Some(variant) = found {
            return Ok(variant);
        }
        let made = make().await?;
        let digest = made.digest.clone();
        let (r, s) = (repo.to_string(), source.to_string());
        self.blocking(move |st| {
            if let Some((digest, bytes)) = &made.blob {
                st.write_blob(digest, bytes)?;
            }
            let record = ManifestRecord {
                media_type: made.media_type.clone(),
                size: made.body.len() as u64,
                subject: None,
                pushed_at: now_unix(),
                origin: Origin::Derived {
                    source: s.clone(),
                    transform: made.transform.0.to_owned(),
                    version: made.transform.1,
                },
            };
            let blob = made
                .blob
                .as_ref()
                .map(|(d, b)| (d.to_string(), b.len() as u64));
            st.meta.put_variant(
                &PutVariant {
                    repo: &r,
                    source: &s,
                    kind: &kind,
                    digest: &made.digest.to_string(),
                    record: &record,
                    body: &made.body,
                    blob: blob.as_ref().map(|(d, n)| (d.as_str(), *n)),
                },
                now_unix(),
            )
        })
        .await?;
        tracing::info!(repo.name = %repo, source = %source, variant = %digest, "stored variant");
        // Serve what the store holds: the same digest may already have been there (a pushed
        // schema1 with this canonical payload, signed by someone else), and every response
        // for a digest must carry the same bytes.
        self.load_manifest(repo, &digest)
            .await?
            .ok_or_else(|| RegistryError::Internal(format!("variant {digest} vanished")))
    }

    /// The same content under the other family's media types.
    pub(super) async fn mapped_variant(
        &self,
        repo: &RepoName,
        source: &Current,
        target: ManifestKind,
    ) -> Result<Current, RegistryError> {
        let kind = variant_kind(Step::MapTo(target), None).unwrap_or_default();
        self.variant(repo, &source.digest, kind, || async move {
            let parsed = source.parsed()?;
            let bytes = if parsed.kind.is_index() {
                let children = self.mapped_children(repo, &parsed, target).await?;
                family::map_index(&parsed, &source.body, |d| {
                    children.get(&d.digest.to_string()).map(|c| MappedChild {
                        media_type: c.media_type.clone(),
                        digest: c.digest.to_string(),
                        size: c.body.len() as u64,
                    })
                })
            } else {
                family::map_image(&parsed, &source.body)
            }
            .map_err(|e| RegistryError::Unconvertible(e.to_string()))?;
            Ok(made(target, bytes, MAP_FAMILY))
        })
        .await
    }

    /// Each child of a list or index in the target family (kept as is when it already is),
    /// keyed by the child's own digest. Children with no form there are left out.
    async fn mapped_children(
        &self,
        repo: &RepoName,
        index: &Manifest,
        target: ManifestKind,
    ) -> Result<HashMap<String, Current>, RegistryError> {
        let to_docker = target == ManifestKind::DockerList;
        let mut out = HashMap::new();
        for d in &index.manifests {
            let Some(child) = self.load_manifest(repo, &d.digest).await? else {
                continue;
            };
            let parsed = child.parsed()?;
            let in_target = match parsed.kind {
                ManifestKind::Schema2 | ManifestKind::DockerList => to_docker,
                ManifestKind::OciManifest | ManifestKind::OciIndex => !to_docker,
                ManifestKind::Schema1 => false,
            };
            let mapped = if in_target {
                Some(child)
            } else if parsed.kind == ManifestKind::Schema1 {
                None
            } else {
                let child_target = family::counterpart(parsed.kind).unwrap_or(parsed.kind);
                // Boxed: an index may hold an index.
                Box::pin(self.mapped_variant(repo, &child, child_target))
                    .await
                    .ok()
            };
            if let Some(m) = mapped {
                out.insert(d.digest.to_string(), m);
            }
        }
        Ok(out)
    }

    /// Docker schema2 -> signed schema1 for `repo:tag` (name and tag are in the payload).
    pub(super) async fn schema1_variant(
        &self,
        repo: &RepoName,
        source: &Current,
        tag: &Tag,
    ) -> Result<Current, RegistryError> {
        self.variant(
            repo,
            &source.digest,
            format!("schema1:{tag}"),
            || async move {
                let parsed = source.parsed()?;
                // Failures here are 400 MANIFEST_INVALID, as distribution 2.8 answers them.
                let config = parsed.config.as_ref().ok_or_else(|| {
                    RegistryError::ManifestInvalid("schema2 manifest without config".into())
                })?;
                let config_bytes = self.read_small_blob(repo, &config.digest).await?;
                let canonical =
                    to_schema1(repo.as_str(), tag.as_str(), &parsed.layers, &config_bytes)
                        .map_err(|e| {
                            RegistryError::ManifestInvalid(format!(
                                "cannot make schema 1 for {repo}:{tag}: {e}"
                            ))
                        })?;
                let digest = Digest::sha256_of(canonical.as_bytes());
                let signed = self.store.signing_key.sign(&canonical, SIGNATURE_TIME);
                Ok(Made {
                    media_type: mt::DOCKER_SCHEMA1_SIGNED.to_owned(),
                    digest,
                    body: signed.into_bytes(),
                    transform: TO_SCHEMA1,
                    blob: None,
                })
            },
        )
        .await
    }

    /// Stored (signed) schema1 -> schema2 the way containers/image converts it.
    pub(super) async fn upconverted_variant(
        &self,
        repo: &RepoName,
        source: &Current,
    ) -> Result<Current, RegistryError> {
        let kind = variant_kind(Step::UpConvert, None).unwrap_or_default();
        self.variant(repo, &source.digest, kind, || async move {
            let verified = jws::verify(&source.body).map_err(|e| {
                RegistryError::Internal(format!("stored schema1 no longer verifies: {e}"))
            })?;
            let image = Schema1Image::parse(&verified.canonical)
                .map_err(|e| RegistryError::Unconvertible(e.to_string()))?;
            let mut facts = Vec::new();
            for blob in image.layer_blobs() {
                facts.push(self.layer_facts(repo, &blob).await?);
            }
            let out = image.to_schema2(&facts).map_err(|e| {
                RegistryError::Unconvertible(format!(
                    "cannot make schema 2 of {}: {e}",
                    source.digest
                ))
            })?;
            let config_digest = Digest::sha256_of(&out.config);
            Ok(Made {
                media_type: mt::DOCKER_SCHEMA2.to_owned(),
                digest: Digest::sha256_of(&out.manifest),
                body: out.manifest,
                transform: TO_SCHEMA2,
                blob: Some((config_digest, out.config)),
            })
        })
        .await
    }

    /// Size and diff_id of a layer blob; the diff_id (or why there is none: a layer that is
    /// not the gzip it looks like) is computed once and cached.
    async fn layer_facts(
        &self,
        repo: &RepoName,
        blob: &Digest,
    ) -> Result<LayerFacts, RegistryError> {
        let size = self.local_blob_size(repo, blob).await.map_err(|_| {
            RegistryError::Unconvertible(format!(
                "layer {blob} of this schema 1 manifest is not in {repo}; schema 2 needs its diff_id"
            ))
        })?;
        if blob.to_string() == EMPTY_LAYER_DIGEST {
            return Ok(LayerFacts {
                size,
                diff_id: parse_digest(EMPTY_LAYER_DIFF_ID)?,
            });
        }
        let b = blob.clone();
        let diff_id = self
            .blocking(move |s| {
                let key = b.to_string();
                if let Some(cached) = s.meta.diff_id(&key)? {
                    return Ok(cached);
                }
                let file = s.blobs.open(&b)?;
                let found = match crate::store::diff_id::of_layer(file) {
                    Ok(d) => d.to_string(),
                    Err(e) if diff_id::is_content_error(&e) => {
                        format!("{UNREADABLE_LAYER}{e}")
                    }
                    Err(e) => return Err(e.into()),
                };
                s.meta.set_diff_id(&key, &found)?;
                Ok(found)
            })
            .await?;
        if let Some(why) = diff_id.strip_prefix(UNREADABLE_LAYER) {
            return Err(RegistryError::Unconvertible(format!(
                "layer {blob} cannot be decompressed ({why}), so hoist cannot compute the \
                 diff_id a schema 2 form of this schema 1 manifest needs"
            )));
        }
        Ok(LayerFacts {
            size,
            diff_id: parse_digest(&diff_id)?,
        })
    }

    /// A whole small blob (a config) linked in `repo`.
    async fn read_small_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Vec<u8>, RegistryError> {
        let size = self.local_blob_size(repo, digest).await.map_err(|_| {
            RegistryError::ManifestInvalid(format!("config blob {digest} is not in {repo}"))
        })?;
        if size > MAX_CONFIG_BYTES {
            return Err(RegistryError::ManifestInvalid(format!(
                "config blob {digest} is {size} bytes; configs over {MAX_CONFIG_BYTES} are not converted"
            )));
        }
        let d = digest.clone();
        self.blocking(move |s| Ok(std::fs::read(s.blobs.path(&d))?))
            .await
    }
}

fn made(target: ManifestKind, bytes: Vec<u8>, transform: (&'static str, u32)) -> Made {
    let media_type = match target {
        ManifestKind::Schema2 => mt::DOCKER_SCHEMA2,
        ManifestKind::OciManifest => mt::OCI_MANIFEST,
        ManifestKind::DockerList => mt::DOCKER_LIST,
        ManifestKind::OciIndex => mt::OCI_INDEX,
        ManifestKind::Schema1 => mt::DOCKER_SCHEMA1_SIGNED,
    };
    Made {
        media_type: media_type.to_owned(),
        digest: Digest::sha256_of(&bytes),
        body: bytes,
        transform,
        blob: None,
    }
}

fn parse_digest(s: &str) -> Result<Digest, RegistryError> {
    Digest::parse(s).map_err(|e| RegistryError::Internal(format!("stored digest {s}: {e}")))
}
