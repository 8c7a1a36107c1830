//! Manifest parsing and validation: which of the five formats a body is, and which blobs,
//! child manifests and subject it references. The bytes themselves are never rewritten here.

use super::media_types::{self as mt, essence};
use super::{Digest, DigestError};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    Schema1,
    Schema2,
    DockerList,
    OciManifest,
    OciIndex,
}

impl ManifestKind {
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            mt::DOCKER_SCHEMA1_SIGNED | mt::DOCKER_SCHEMA1 => Some(ManifestKind::Schema1),
            mt::DOCKER_SCHEMA2 => Some(ManifestKind::Schema2),
            mt::DOCKER_LIST => Some(ManifestKind::DockerList),
            mt::OCI_MANIFEST => Some(ManifestKind::OciManifest),
            mt::OCI_INDEX => Some(ManifestKind::OciIndex),
            _ => None,
        }
    }

    pub fn is_index(self) -> bool {
        matches!(self, ManifestKind::DockerList | ManifestKind::OciIndex)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("unsupported manifest media type {0:?}")]
    UnknownMediaType(String),
    #[error("Content-Type {content_type:?} does not match the manifest's mediaType {field:?}")]
    MediaTypeMismatch { content_type: String, field: String },
    #[error("schemaVersion {0} is not supported for {1}")]
    SchemaVersion(i64, &'static str),
    #[error("{0} manifests must carry a mediaType field")]
    MediaTypeRequired(&'static str),
    #[error("manifest has no {0}")]
    Missing(&'static str),
    #[error("descriptor in {field} is invalid: {reason}")]
    BadDescriptor { field: &'static str, reason: String },
    #[error("could not tell the manifest format: no mediaType, no config and no manifests")]
    Unrecognised,
}

/// A content descriptor as it appears in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// For entries of a list or index.
    pub platform: Option<Platform>,
}

/// The platform of a list or index entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `os/arch[/variant]`, e.g. `linux/amd64` or `linux/arm64/v8`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?.to_owned();
        let architecture = parts.next().filter(|p| !p.is_empty())?.to_owned();
        let variant = parts.next().map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            architecture,
            os,
            variant,
        })
    }
}

/// `os/arch[/variant]`, the form [`Platform::parse`] reads.
impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What hoist needs to know of a manifest to store and index it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub kind: ManifestKind,
    /// The media type the manifest is stored and served under.
    pub media_type: String,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    artifact_type: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
    fs_layers: Option<Vec<RawFsLayer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    artifact_type: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFsLayer {
    blob_sum: String,
}

/// Media type given to schema1 fsLayers, which carry none of their own.
const SCHEMA1_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

impl Manifest {
    /// Parse `body`, sent with `content_type` (if any), and check its structure.
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let raw: RawManifest =
            serde_json::from_slice(body).map_err(|e| ManifestError::Json(e.to_string()))?;
        let header_type = content_type.map(essence).filter(|c| !c.is_empty());
        let (kind, media_type) = classify(&raw, header_type)?;
        check_schema_version(kind, raw.schema_version)?;
        if kind == ManifestKind::Schema1 {
            return schema1(raw, media_type);
        }
        let manifest = Manifest {
            kind,
            media_type,
            config: raw.config.map(|d| descriptor(d, "config")).transpose()?,
            layers: descriptors(raw.layers, "layers")?,
            manifests: descriptors(raw.manifests, "manifests")?,
            subject: raw.subject.map(|d| descriptor(d, "subject")).transpose()?,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations,
        };
        if kind.is_index() {
            // `manifests` may be empty, but must be present.
            if !manifest.manifests.is_empty() || body_has_key(body, "manifests") {
                return Ok(manifest);
            }
            return Err(ManifestError::Missing("manifests"));
        }
        if manifest.config.is_none() {
            return Err(ManifestError::Missing("config"));
        }
        Ok(manifest)
    }

    /// The artifact type the referrers API reports: `artifactType`, else the config's type.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or_else(|| self.config.as_ref().map(|c| c.media_type.as_str()))
    }

    /// The entry of a list or index for `wanted`: like distribution, the first whose os and
    /// architecture match; a variant counts only when `wanted` names one.
    pub fn platform_child(&self, wanted: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == wanted.os
                    && p.architecture == wanted.architecture
                    && (wanted.variant.is_none() || p.variant == wanted.variant)
            })
        })
    }

    /// Every blob the manifest needs in the repository (config and distributable layers).
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(
            self.layers
                .iter()
                .filter(|l| !mt::is_non_distributable(&l.media_type)),
        )
    }
}

fn classify(
    raw: &RawManifest,
    header_type: Option<&str>,
) -> Result<(ManifestKind, String), ManifestError> {
    let header_kind = header_type.and_then(ManifestKind::from_media_type);
    if let Some(field) = &raw.media_type {
        let kind = ManifestKind::from_media_type(field)
            .ok_or_else(|| ManifestError::UnknownMediaType(field.clone()))?;
        if let (Some(ct), Some(ck)) = (header_type, header_kind) {
            if ct != field && ck != kind {
                return Err(ManifestError::MediaTypeMismatch {
                    content_type: ct.to_owned(),
                    field: field.clone(),
                });
            }
        }
        return Ok((kind, field.clone()));
    }
    if raw.schema_version == Some(1) || raw.fs_layers.is_some() {
        return Ok((ManifestKind::Schema1, mt::DOCKER_SCHEMA1_SIGNED.to_owned()));
    }
    match header_kind {
        Some(ManifestKind::Schema2) => Err(ManifestError::MediaTypeRequired("Docker schema 2")),
        Some(ManifestKind::DockerList) => {
            Err(ManifestError::MediaTypeRequired("Docker manifest list"))
        }
        Some(kind @ (ManifestKind::OciManifest | ManifestKind::OciIndex)) => {
            Ok((kind, header_type.unwrap_or_default().to_owned()))
        }
        _ if raw.manifests.is_some() => Ok((ManifestKind::OciIndex, mt::OCI_INDEX.to_owned())),
        _ if raw.config.is_some() => Ok((ManifestKind::OciManifest, mt::OCI_MANIFEST.to_owned())),
        _ => match header_type {
            Some(ct) if header_kind.is_none() && ct != "application/json" => {
                Err(ManifestError::UnknownMediaType(ct.to_owned()))
            }
            _ => Err(ManifestError::Unrecognised),
        },
    }
}

fn check_schema_version(kind: ManifestKind, version: Option<i64>) -> Result<(), ManifestError> {
    let (want, name) = match kind {
        ManifestKind::Schema1 => (1, "Docker schema 1"),
        ManifestKind::Schema2 => (2, "Docker schema 2"),
        ManifestKind::DockerList => (2, "Docker manifest lists"),
        ManifestKind::OciManifest => (2, "OCI manifests"),
        ManifestKind::OciIndex => (2, "OCI indexes"),
    };
    match version {
        Some(v) if v == want => Ok(()),
        Some(v) => Err(ManifestError::SchemaVersion(v, name)),
        None => Err(ManifestError::Missing("schemaVersion")),
    }
}

fn schema1(raw: RawManifest, media_type: String) -> Result<Manifest, ManifestError> {
    let fs_layers = raw.fs_layers.ok_or(ManifestError::Missing("fsLayers"))?;
    let layers = fs_layers
        .into_iter()
        .map(|l| {
            let digest = Digest::parse(&l.blob_sum).map_err(|e| bad("fsLayers", e))?;
            Ok(Descriptor {
                media_type: SCHEMA1_LAYER.to_owned(),
                digest,
                size: 0,
                artifact_type: None,
                annotations: None,
                platform: None,
            })
        })
        .collect::<Result<_, ManifestError>>()?;
    Ok(Manifest {
        kind: ManifestKind::Schema1,
        media_type,
        config: None,
        layers,
        manifests: Vec::new(),
        subject: None,
        artifact_type: None,
        annotations: None,
    })
}

fn bad(field: &'static str, e: DigestError) -> ManifestError {
    ManifestError::BadDescriptor {
        field,
        reason: e.to_string(),
    }
}

fn descriptor(d: RawDescriptor, field: &'static str) -> Result<Descriptor, ManifestError> {
    let missing = |what: &str| ManifestError::BadDescriptor {
        field,
        reason: format!("{what} is missing"),
    };
    let media_type = d.media_type.ok_or_else(|| missing("mediaType"))?;
    let digest =
        Digest::parse(&d.digest.ok_or_else(|| missing("digest"))?).map_err(|e| bad(field, e))?;
    let size = d.size.ok_or_else(|| missing("size"))?;
    let size = u64::try_from(size).map_err(|_| ManifestError::BadDescriptor {
        field,
        reason: format!("size {size} is negative"),
    })?;
    Ok(Descriptor {
        media_type,
        digest,
        size,
        artifact_type: d.artifact_type,
        annotations: d.annotations,
        platform: d.platform,
    })
}

fn descriptors(
    list: Option<Vec<RawDescriptor>>,
    field: &'static str,
) -> Result<Vec<Descriptor>, ManifestError> {
    list.unwrap_or_default()
        .into_iter()
        .map(|d| descriptor(d, field))
        .collect()
}

fn body_has_key(body: &[u8], key: &str) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .is_ok_and(|m| m.contains_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE_V2S2: &[u8] =
        include_bytes!("../../tests/fixtures/pushed/simple.v2s2.manifest.json");
    const SIMPLE_OCI: &[u8] =
        include_bytes!("../../tests/fixtures/pushed/simple.oci.manifest.json");
    const LIST: &[u8] = include_bytes!("../../tests/fixtures/pushed/list-simple.json");
    const INDEX_NO_MT: &[u8] =
        include_bytes!("../../tests/fixtures/pushed/index-simple-nomediatype.json");

    #[test]
    fn parses_schema2_with_its_blobs() {
        let m = Manifest::parse(SIMPLE_V2S2, Some(mt::DOCKER_SCHEMA2)).expect("valid");
        assert_eq!(m.kind, ManifestKind::Schema2);
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.required_blobs().count(), 3);
    }

    #[test]
    fn parses_oci_without_content_type() {
        let m = Manifest::parse(SIMPLE_OCI, None).expect("valid");
        assert_eq!(m.kind, ManifestKind::OciManifest);
        assert_eq!(
            m.effective_artifact_type(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn parses_list_children() {
        let m = Manifest::parse(LIST, Some(mt::DOCKER_LIST)).expect("valid");
        assert_eq!(m.kind, ManifestKind::DockerList);
        assert_eq!(m.manifests.len(), 2);
    }

    #[test]
    fn picks_the_first_matching_platform() {
        let m = Manifest::parse(LIST, Some(mt::DOCKER_LIST)).expect("valid");
        let amd64 = Platform::parse("linux/amd64").expect("platform");
        let child = m.platform_child(&amd64).expect("amd64 child");
        assert_eq!(
            child.platform.as_ref().map(|p| p.architecture.as_str()),
            Some("amd64")
        );
        let arm = Platform::parse("linux/arm64/v8").expect("platform");
        assert_eq!(
            m.platform_child(&arm).map(|d| d.digest.clone()),
            Some(m.manifests[0].digest.clone())
        );
        assert!(m
            .platform_child(&Platform::parse("windows/amd64").expect("p"))
            .is_none());
        assert!(Platform::parse("linux").is_none());
    }

    #[test]
    fn sniffs_index_without_media_type() {
        let m = Manifest::parse(INDEX_NO_MT, Some(mt::OCI_INDEX)).expect("valid");
        assert_eq!(m.kind, ManifestKind::OciIndex);
        let m = Manifest::parse(INDEX_NO_MT, None).expect("valid");
        assert_eq!(m.media_type, mt::OCI_INDEX);
    }

    #[test]
    fn rejects_mismatched_content_type() {
        let e = Manifest::parse(SIMPLE_V2S2, Some(mt::OCI_INDEX)).unwrap_err();
        assert!(matches!(e, ManifestError::MediaTypeMismatch { .. }));
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cases: &[&[u8]] = &[
            b"",
            b"{",
            b"[]",
            b"null",
            br#"{"schemaVersion":2}"#,
            br#"{"schemaVersion":3,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"md5:00","size":0},"layers":[]}"#,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-1},"layers":[]}"#,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
            br#"{"schemaVersion":2,"mediaType":"text/plain"}"#,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
        ];
        for body in cases {
            assert!(
                Manifest::parse(body, Some(mt::OCI_MANIFEST)).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
