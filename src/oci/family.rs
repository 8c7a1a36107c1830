//! Mapping between the Docker and OCI families: the same content under the other family's
//! media types (schema2 <-> OCI manifest, Docker list <-> OCI index). Config and layer bytes
//! are untouched; only the manifest changes, and so its digest. Output is compact JSON in
//! each family's field order, so a source always maps to the same bytes.

use super::media_types as mt;
use super::{Descriptor, Manifest, ManifestKind};
use serde_json::Value;

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Layer media types that exist in both families: (Docker, OCI).
const LAYER_TYPES: &[(&str, &str)] = &[
    (
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.v1.tar",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {target} form: {reason}")]
pub struct MapError {
    pub target: &'static str,
    pub reason: String,
}

/// Which family a manifest kind belongs to.
pub fn counterpart(kind: ManifestKind) -> Option<ManifestKind> {
    match kind {
        ManifestKind::Schema2 => Some(ManifestKind::OciManifest),
        ManifestKind::OciManifest => Some(ManifestKind::Schema2),
        ManifestKind::DockerList => Some(ManifestKind::OciIndex),
        ManifestKind::OciIndex => Some(ManifestKind::DockerList),
        ManifestKind::Schema1 => None,
    }
}

fn target_name(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::Schema2 => "Docker schema 2",
        ManifestKind::OciManifest => "OCI manifest",
        ManifestKind::DockerList => "Docker manifest list",
        ManifestKind::OciIndex => "OCI index",
        ManifestKind::Schema1 => "Docker schema 1",
    }
}

/// The other family's name for a layer or config type, if it has one.
fn map_type(media_type: &str, to_docker: bool) -> Option<&'static str> {
    if to_docker {
        if media_type == OCI_CONFIG {
            return Some(DOCKER_CONFIG);
        }
        LAYER_TYPES
            .iter()
            .find(|(_, o)| *o == media_type)
            .map(|(d, _)| *d)
    } else {
        if media_type == DOCKER_CONFIG {
            return Some(OCI_CONFIG);
        }
        LAYER_TYPES
            .iter()
            .find(|(d, _)| *d == media_type)
            .map(|(_, o)| *o)
    }
}

/// Can this image manifest be expressed in the other family? Artifacts and zstd cannot.
pub fn image_maps(m: &Manifest) -> bool {
    map_image(m, b"").is_ok()
}

/// schema2 -> OCI manifest, or OCI manifest -> schema2. `raw` is the source body, read for
/// the descriptors' `urls`.
pub fn map_image(m: &Manifest, raw: &[u8]) -> Result<Vec<u8>, MapError> {
    let to_docker = m.kind == ManifestKind::OciManifest;
    let target = if to_docker {
        ManifestKind::Schema2
    } else {
        ManifestKind::OciManifest
    };
    let fail = |reason: String| MapError {
        target: target_name(target),
        reason,
    };
    if !matches!(m.kind, ManifestKind::Schema2 | ManifestKind::OciManifest) {
        return Err(fail("not an image manifest".into()));
    }
    if m.artifact_type.is_some() || m.subject.is_some() {
        return Err(fail("it is an artifact (artifactType or subject)".into()));
    }
    let config = m.config.as_ref().ok_or_else(|| fail("no config".into()))?;
    let config_type = map_type(&config.media_type, to_docker)
        .filter(|t| *t == DOCKER_CONFIG || *t == OCI_CONFIG)
        .ok_or_else(|| {
            fail(format!(
                "config type {} has no counterpart",
                config.media_type
            ))
        })?;
    let urls = layer_urls(raw);
    let mut layers = Vec::with_capacity(m.layers.len());
    for (i, layer) in m.layers.iter().enumerate() {
        let t = map_type(&layer.media_type, to_docker)
            .filter(|t| *t != DOCKER_CONFIG && *t != OCI_CONFIG)
            .ok_or_else(|| {
                fail(format!(
                    "layer type {} has no counterpart",
                    layer.media_type
                ))
            })?;
        layers.push(descriptor(
            layer,
            t,
            to_docker,
            urls.get(i).and_then(Option::as_ref),
            None,
        ));
    }
    let mut out = format!(
        "{{\"schemaVersion\":2,\"mediaType\":{},\"config\":{},\"layers\":[{}]",
        json_string(mt_of(target)),
        descriptor(config, config_type, to_docker, None, None),
        layers.join(","),
    );
    if !to_docker {
        if let Some(a) = &m.annotations {
            out.push_str(&format!(",\"annotations\":{}", to_json(a)));
        }
    }
    out.push('}');
    Ok(out.into_bytes())
}

/// The mapped form of one child of a list or index: its new type, digest and size.
pub struct MappedChild {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// Docker list -> OCI index, or OCI index -> Docker list. `child` maps each entry (the
/// registry maps and stores the child manifests first); entries it returns `None` for are
/// left out (attestations and other artifacts have no Docker form). No entries left: error.
pub fn map_index(
    m: &Manifest,
    raw: &[u8],
    mut child: impl FnMut(&Descriptor) -> Option<MappedChild>,
) -> Result<Vec<u8>, MapError> {
    let to_docker = m.kind == ManifestKind::OciIndex;
    let target = if to_docker {
        ManifestKind::DockerList
    } else {
        ManifestKind::OciIndex
    };
    let fail = |reason: String| MapError {
        target: target_name(target),
        reason,
    };
    if !m.kind.is_index() {
        return Err(fail("not a list or index".into()));
    }
    if to_docker && (m.artifact_type.is_some() || m.subject.is_some()) {
        return Err(fail("it is an artifact (artifactType or subject)".into()));
    }
    let platforms = entry_field(raw, "manifests", "platform");
    let mut entries = Vec::new();
    for (i, d) in m.manifests.iter().enumerate() {
        if let Some(mapped) = child(d) {
            let mapped_desc = Descriptor {
                media_type: mapped.media_type.clone(),
                digest: super::Digest::parse(&mapped.digest).map_err(|e| fail(e.to_string()))?,
                size: mapped.size,
                artifact_type: None,
                annotations: if to_docker {
                    None
                } else {
                    d.annotations.clone()
                },
                platform: None,
            };
            let platform = platforms.get(i).and_then(Option::as_ref);
            entries.push(descriptor(
                &mapped_desc,
                &mapped.media_type,
                to_docker,
                None,
                platform,
            ));
        }
    }
    if entries.is_empty() {
        return Err(fail("no entry has a form in that family".into()));
    }
    let mut out = format!(
        "{{\"schemaVersion\":2,\"mediaType\":{},\"manifests\":[{}]",
        json_string(mt_of(target)),
        entries.join(","),
    );
    if !to_docker {
        if let Some(a) = &m.annotations {
            out.push_str(&format!(",\"annotations\":{}", to_json(a)));
        }
    }
    out.push('}');
    Ok(out.into_bytes())
}

fn mt_of(kind: ManifestKind) -> &'static str {
    match kind {
        ManifestKind::Schema2 => mt::DOCKER_SCHEMA2,
        ManifestKind::OciManifest => mt::OCI_MANIFEST,
        ManifestKind::DockerList => mt::DOCKER_LIST,
        ManifestKind::OciIndex => mt::OCI_INDEX,
        ManifestKind::Schema1 => mt::DOCKER_SCHEMA1_SIGNED,
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// One descriptor in the target family's field order: Docker `mediaType, size, digest`,
/// OCI `mediaType, digest, size`; then urls, annotations (OCI) and platform.
fn descriptor(
    d: &Descriptor,
    media_type: &str,
    to_docker: bool,
    urls: Option<&Value>,
    platform: Option<&Value>,
) -> String {
    let mut out = format!("{{\"mediaType\":{}", json_string(media_type));
    if to_docker {
        out.push_str(&format!(",\"size\":{},\"digest\":\"{}\"", d.size, d.digest));
    } else {
        out.push_str(&format!(",\"digest\":\"{}\",\"size\":{}", d.digest, d.size));
    }
    if let Some(urls) = urls {
        out.push_str(&format!(",\"urls\":{urls}"));
    }
    if !to_docker {
        if let Some(a) = &d.annotations {
            out.push_str(&format!(",\"annotations\":{}", to_json(a)));
        }
    }
    if let Some(p) = platform {
        out.push_str(&format!(",\"platform\":{p}"));
    }
    out.push('}');
    out
}

fn layer_urls(raw: &[u8]) -> Vec<Option<Value>> {
    entry_field(raw, "layers", "urls")
}

/// `raw[list][i][field]` for each entry, as parsed JSON (keys sorted, so output is stable).
fn entry_field(raw: &[u8], list: &str, field: &str) -> Vec<Option<Value>> {
    let Ok(doc) = serde_json::from_slice::<Value>(raw) else {
        return Vec::new();
    };
    doc[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i.get(field).filter(|v| !v.is_null()).cloned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::test_fixtures::fixture;
    use crate::oci::Digest;

    #[test]
    fn schema2_and_oci_map_onto_each_other() {
        let s2 = fixture("pushed/simple.v2s2.manifest.json");
        let m = Manifest::parse(&s2, None).expect("parse");
        let oci = map_image(&m, &s2).expect("maps");
        let back = Manifest::parse(&oci, None).expect("parse");
        assert_eq!(back.kind, ManifestKind::OciManifest);
        assert_eq!(
            back.config.as_ref().map(|c| c.digest.clone()),
            m.config.map(|c| c.digest)
        );
        assert_eq!(back.layers.len(), 2);
        assert_eq!(
            back.layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let again = map_image(&back, &oci).expect("maps back");
        let docker = Manifest::parse(&again, None).expect("parse");
        assert_eq!(docker.kind, ManifestKind::Schema2);
        assert_eq!(
            map_image(&back, &oci),
            map_image(&back, &oci),
            "deterministic"
        );
    }

    #[test]
    fn zstd_and_artifacts_do_not_map_to_docker() {
        let zstd = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}"#;
        let m = Manifest::parse(zstd, None).expect("parse");
        assert!(!image_maps(&m));
        let artifact = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let m = Manifest::parse(artifact, None).expect("parse");
        assert!(!image_maps(&m));
    }

    #[test]
    fn list_maps_to_index_with_mapped_children_and_platforms() {
        let list = fixture("pushed/list-simple.json");
        let m = Manifest::parse(&list, None).expect("parse");
        let fake = Digest::sha256_of(b"child").to_string();
        let index = map_index(&m, &list, |d| {
            Some(MappedChild {
                media_type: mt::OCI_MANIFEST.into(),
                digest: if d.media_type == mt::DOCKER_SCHEMA2 {
                    fake.clone()
                } else {
                    d.digest.to_string()
                },
                size: 7,
            })
        })
        .expect("maps");
        let parsed: Value = serde_json::from_slice(&index).expect("json");
        assert_eq!(parsed["mediaType"], mt::OCI_INDEX);
        assert_eq!(parsed["manifests"][0]["digest"], fake.as_str());
        assert_eq!(parsed["manifests"][0]["platform"]["architecture"], "arm64");
        assert_eq!(parsed["manifests"][1]["platform"]["architecture"], "amd64");
        assert!(map_index(&m, &list, |_| None).is_err());
    }
}
