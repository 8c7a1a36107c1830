//! Stored schema1 -> schema2 (docs/FORMATS.md section 5.2), the way containers/image (skopeo,
//! podman) does it, so the result has the digest `skopeo copy --format v2s2` gives. The
//! caller supplies, per layer to keep, its size and diff_id (sha256 of the uncompressed blob).

use super::from_schema2::EMPTY_LAYER_DIGEST;
use crate::oci::gojson::{self, GoTime};
use crate::oci::media_types as mt;
use crate::oci::Digest;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_GZIP_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpConvertError {
    #[error("schema1 manifest is not valid: {0}")]
    Invalid(String),
    #[error("schema1 history entry {index}: {reason}")]
    BadHistory { index: usize, reason: String },
    #[error("expected facts for {expected} layers, got {got}")]
    LayerCount { expected: usize, got: usize },
}

/// One history entry of a schema1 manifest, bottom-most first after parsing.
#[derive(Debug, Clone)]
struct Entry {
    blob_sum: Digest,
    id: String,
    parent: String,
    created: GoTime,
    created_by: String,
    author: String,
    comment: String,
    throwaway: bool,
}

/// A parsed schema1 manifest, with adjacent duplicate ids merged as Docker and skopeo do.
#[derive(Debug, Clone)]
pub struct Schema1Image {
    /// Bottom-most first.
    entries: Vec<Entry>,
    /// The top v1Compatibility exactly as stored: the base of the new config.
    top_compat: String,
}

/// Size and diff_id of one layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFacts {
    pub size: u64,
    pub diff_id: Digest,
}

/// The up-converted image: a config blob and the schema2 manifest that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpConverted {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Schema1Image {
    pub fn parse(canonical: &[u8]) -> Result<Self, UpConvertError> {
        let invalid = |s: String| UpConvertError::Invalid(s);
        let doc: Value = serde_json::from_slice(canonical).map_err(|e| invalid(e.to_string()))?;
        let fs_layers = doc["fsLayers"].as_array().cloned().unwrap_or_default();
        let history = doc["history"].as_array().cloned().unwrap_or_default();
        if fs_layers.is_empty() || fs_layers.len() != history.len() {
            return Err(invalid(format!(
                "{} fsLayers and {} history entries",
                fs_layers.len(),
                history.len()
            )));
        }
        let top_compat = history[0]["v1Compatibility"]
            .as_str()
            .ok_or_else(|| invalid("history[0] has no v1Compatibility".into()))?
            .to_owned();
        // Top-most first, as stored.
        let mut entries = Vec::with_capacity(history.len());
        for (index, (layer, h)) in fs_layers.iter().zip(&history).enumerate() {
            let bad = |reason: String| UpConvertError::BadHistory { index, reason };
            let blob_sum = layer["blobSum"]
                .as_str()
                .and_then(|s| Digest::parse(s).ok())
                .ok_or_else(|| bad("blobSum is not a digest".into()))?;
            let compat = h["v1Compatibility"]
                .as_str()
                .ok_or_else(|| bad("no v1Compatibility".into()))?;
            entries.push(parse_entry(blob_sum, compat).map_err(bad)?);
        }
        check_chain(&entries)?;
        entries.dedup_by(|upper, lower| upper.id == lower.id);
        entries.reverse();
        Ok(Schema1Image {
            entries,
            top_compat,
        })
    }

    /// The blobs that become layers (non-throwaway entries), bottom-most first. Each needs
    /// its size and diff_id for `to_schema2`.
    pub fn layer_blobs(&self) -> Vec<Digest> {
        self.entries
            .iter()
            .filter(|e| !e.throwaway)
            .map(|e| e.blob_sum.clone())
            .collect()
    }

    /// Build the schema2 config and manifest.
    pub fn to_schema2(&self, facts: &[LayerFacts]) -> Result<UpConverted, UpConvertError> {
        let blobs = self.layer_blobs();
        if facts.len() != blobs.len() {
            return Err(UpConvertError::LayerCount {
                expected: blobs.len(),
                got: facts.len(),
            });
        }
        let config = self.config(facts)?;
        let config_digest = Digest::sha256_of(config.as_bytes());
        let mut m = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"config\":{{\"mediaType\":\"{DOCKER_CONFIG}\",\"size\":{},\"digest\":\"{config_digest}\"}},\"layers\":[",
            mt::DOCKER_SCHEMA2,
            config.len(),
        );
        for (i, (blob, fact)) in blobs.iter().zip(facts).enumerate() {
            if i > 0 {
                m.push(',');
            }
            m.push_str(&format!(
                "{{\"mediaType\":\"{DOCKER_GZIP_LAYER}\",\"size\":{},\"digest\":\"{blob}\"}}",
                fact.size
            ));
        }
        m.push_str("]}");
        Ok(UpConverted {
            config: config.into_bytes(),
            // containers/image writes the manifest compact; so do we, for the same digest.
            manifest: m.into_bytes(),
        })
    }

    /// The top v1Compatibility as a map, minus the v1-only keys, plus rootfs and history.
    fn config(&self, facts: &[LayerFacts]) -> Result<String, UpConvertError> {
        let mut top: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&self.top_compat)
            .map_err(|e| UpConvertError::Invalid(format!("top v1Compatibility: {e}")))?;
        for key in ["id", "parent", "parent_id", "layer_id", "throwaway", "Size"] {
            top.remove(key);
        }
        let mut rootfs = String::from("{\"type\":\"layers\"");
        if !facts.is_empty() {
            rootfs.push_str(",\"diff_ids\":[");
            let ids: Vec<String> = facts
                .iter()
                .map(|f| gojson::string(&f.diff_id.to_string()))
                .collect();
            rootfs.push_str(&ids.join(","));
            rootfs.push(']');
        }
        rootfs.push('}');
        let history: Vec<String> = self.entries.iter().map(history_item).collect();
        let history = format!("[{}]", history.join(","));
        for (key, json) in [("rootfs", rootfs), ("history", history)] {
            let raw = RawValue::from_string(json)
                .map_err(|e| UpConvertError::Invalid(format!("building {key}: {e}")))?;
            top.insert(key.to_owned(), raw);
        }
        Ok(gojson::encode_raw_map(&top))
    }
}

/// Is `digest` the gzipped empty tar that schema1 uses for metadata-only steps?
pub fn is_empty_layer(digest: &Digest) -> bool {
    digest.to_string() == EMPTY_LAYER_DIGEST
}

fn parse_entry(blob_sum: Digest, compat: &str) -> Result<Entry, String> {
    let v: Value = serde_json::from_str(compat).map_err(|e| e.to_string())?;
    let text = |key: &str| -> Result<String, String> {
        match &v[key] {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            _ => Err(format!("{key} is not a string")),
        }
    };
    let id = text("id")?;
    let valid_id = id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid_id {
        return Err(format!(
            "image id {id:?} is not 64 lower-case hex characters"
        ));
    }
    let created = match &v["created"] {
        Value::Null => GoTime::zero(),
        Value::String(s) => {
            GoTime::parse(s).ok_or_else(|| format!("created {s:?} is not RFC 3339"))?
        }
        _ => return Err("created is not a string".into()),
    };
    let cmd = match &v["container_config"]["Cmd"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or("Cmd holds a non-string")
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("container_config.Cmd is not an array".into()),
    };
    let throwaway = match &v["throwaway"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return Err("throwaway is not a boolean".into()),
    };
    Ok(Entry {
        blob_sum,
        id,
        parent: text("parent")?,
        created,
        created_by: cmd.join(" "),
        author: text("author")?,
        comment: text("comment")?,
        throwaway,
    })
}

/// The parent chain must link each entry to the next lower one; adjacent repeats are
/// allowed (and merged later), other repeats are an error.
fn check_chain(top_first: &[Entry]) -> Result<(), UpConvertError> {
    let n = top_first.len();
    if !top_first[n - 1].parent.is_empty() {
        return Err(UpConvertError::Invalid(
            "the base layer has a parent".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut last = "";
    for e in top_first {
        if e.id != last && !seen.insert(e.id.as_str()) {
            return Err(UpConvertError::Invalid(format!(
                "id {} appears twice",
                e.id
            )));
        }
        last = &e.id;
    }
    for pair in top_first.windows(2) {
        if pair[0].id != pair[1].id && pair[0].parent != pair[1].id {
            return Err(UpConvertError::Invalid(format!(
                "parent of {} is {}, expected {}",
                pair[0].id, pair[0].parent, pair[1].id
            )));
        }
    }
    Ok(())
}

/// A config history item: created, author, created_by, comment, empty_layer.
fn history_item(e: &Entry) -> String {
    let mut out = String::from("{\"created\":");
    gojson::write_string(&mut out, e.created.as_str());
    for (key, value) in [
        ("author", &e.author),
        ("created_by", &e.created_by),
        ("comment", &e.comment),
    ] {
        if !value.is_empty() {
            out.push_str(&format!(",\"{key}\":"));
            gojson::write_string(&mut out, value);
        }
    }
    if e.throwaway {
        out.push_str(",\"empty_layer\":true");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::test_fixtures::fixture;

    fn simple_facts() -> Vec<LayerFacts> {
        let d = |s: &str| Digest::parse(s).expect("digest");
        vec![
            LayerFacts {
                size: 119,
                diff_id: d(
                    "sha256:2fba1940afcc10a091be02a070e7e7b0ad2bce89fa37e76123ea7d97b1f5fcfa",
                ),
            },
            LayerFacts {
                size: 148,
                diff_id: d(
                    "sha256:f1fceda12902950cc0f89360fbae7afa8dfe5910226f43d7698bd66a30201eca",
                ),
            },
        ]
    }

    #[test]
    fn distribution_converted_simple_up_converts_like_skopeo() {
        let s1 = fixture("canonical/distribution-converted__test_simple__v2s2.canonical.json");
        let image = Schema1Image::parse(&s1).expect("parses");
        assert_eq!(image.layer_blobs().len(), 2);
        let out = image.to_schema2(&simple_facts()).expect("converts");
        assert_eq!(out.config.len(), 920);
        // From skopeo 1.9.3 `copy --format v2s2` of this schema1 (docs/FORMATS.md section 5.2).
        assert_eq!(
            Digest::sha256_of(&out.config).to_string(),
            "sha256:eec536de3a98047a7bc9f6a146d78219caf1258c54ad78d3fc2e75c152ecd805"
        );
        assert_eq!(
            Digest::sha256_of(&out.manifest).to_string(),
            "sha256:4587d547d80a410b96a718d8a6d73f12511d6c8c06625623b5381f233385cf13"
        );
    }
}
