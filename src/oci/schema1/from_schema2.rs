//! schema2 (or its OCI twin) -> the canonical schema1 payload, exactly as distribution 2.8
//! builds it (docs/FORMATS.md section 2): history paired with layers, chained v1 ids, Go JSON.
//! Unlike distribution, a config whose history names fewer layers than the manifest has is
//! refused rather than silently losing layers.

use crate::oci::gojson::{self, GoTime};
use crate::oci::Descriptor;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256, Sha384};
use std::collections::BTreeMap;

/// The gzipped empty tar distribution uses for history entries without a layer.
pub const EMPTY_LAYER_DIGEST: &str =
    "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    #[error("the image config is not a JSON object: {0}")]
    BadConfig(String),
    #[error("the image config has no history, so it has no schema 1 form")]
    NoHistory,
    #[error("the config lists {diff_ids} diff_ids but the manifest has {layers} layers")]
    DiffIdsMismatch { diff_ids: usize, layers: usize },
    #[error("the config history has {non_empty} non-empty entries for {layers} layers; schema 1 needs one per layer")]
    HistoryMismatch { non_empty: usize, layers: usize },
    #[error("history entry {index} has an invalid `created` time {value:?}")]
    BadTime { index: usize, value: String },
    #[error("history entry {index}: field {field} has the wrong type")]
    BadField { index: usize, field: &'static str },
}

/// One `history` item of the config, as Go's decoder reads it.
struct HistoryEntry {
    created: GoTime,
    author: String,
    created_by: String,
    comment: String,
    empty_layer: bool,
}

/// Build the canonical (unsigned) schema1 payload for `layers` + `config` under `name:tag`.
pub fn to_schema1(
    name: &str,
    tag: &str,
    layers: &[Descriptor],
    config: &[u8],
) -> Result<String, ConversionError> {
    let config_text =
        std::str::from_utf8(config).map_err(|e| ConversionError::BadConfig(e.to_string()))?;
    let top: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(config_text).map_err(|e| ConversionError::BadConfig(e.to_string()))?;
    let architecture: Option<String> = decode_field(&top, "architecture")?;
    let rootfs: Option<RootFs> = decode_field(&top, "rootfs")?;
    let rootfs = rootfs.unwrap_or_default();
    let history = parse_history(&top)?;
    if history.is_empty() {
        return Err(ConversionError::NoHistory);
    }
    let diff_ids = rootfs.diff_ids.unwrap_or_default().len();
    if diff_ids != layers.len() {
        return Err(ConversionError::DiffIdsMismatch {
            diff_ids,
            layers: layers.len(),
        });
    }
    let non_empty = history.iter().filter(|h| !h.empty_layer).count();
    if non_empty != layers.len() {
        return Err(ConversionError::HistoryMismatch {
            non_empty,
            layers: layers.len(),
        });
    }

    // Pairing was checked above: exactly one layer per non-empty entry.
    let mut next_layer = layers.iter().peekable();
    let blob_sums: Vec<String> = history
        .iter()
        .map(
            |h| match (h.empty_layer, next_layer.next_if(|_| !h.empty_layer)) {
                (false, Some(layer)) => layer.digest.to_string(),
                _ => EMPTY_LAYER_DIGEST.to_owned(),
            },
        )
        .collect();

    let mut v1_compat = Vec::with_capacity(history.len());
    let mut parent = String::new();
    let last = history.len() - 1;
    for (i, h) in history.iter().enumerate().take(last) {
        let hex = blob_sums[i].trim_start_matches("sha256:");
        let id = sha256_hex(format!("{hex} {parent}").as_bytes());
        if i == 0 {
            if let Some(base) = rootfs.base_layer.as_deref().filter(|b| !b.is_empty()) {
                parent = hex::encode(&Sha384::digest(base.as_bytes())[..32]);
            }
        }
        v1_compat.push(entry_compat(&id, &parent, h));
        parent = id;
    }
    let top_hex = blob_sums[last].trim_start_matches("sha256:");
    let mut top_input = format!("{top_hex} {parent} ").into_bytes();
    top_input.extend_from_slice(config);
    let top_id = sha256_hex(&top_input);
    v1_compat.push(top_compat(top, &top_id, &parent, history[last].empty_layer));

    Ok(document(
        name,
        tag,
        architecture.as_deref().unwrap_or(""),
        &blob_sums,
        &v1_compat,
    ))
}

#[derive(Default, serde::Deserialize)]
struct RootFs {
    diff_ids: Option<Vec<String>>,
    base_layer: Option<String>,
}

fn decode_field<T: serde::de::DeserializeOwned>(
    top: &BTreeMap<String, Box<RawValue>>,
    key: &str,
) -> Result<Option<T>, ConversionError> {
    match lookup(top, key) {
        None => Ok(None),
        Some(raw) => serde_json::from_str::<Option<T>>(raw.get())
            .map_err(|e| ConversionError::BadConfig(format!("{key}: {e}"))),
    }
}

/// Go matches struct fields exactly first, then case-insensitively.
fn lookup<'a, V>(map: &'a BTreeMap<String, V>, key: &str) -> Option<&'a V> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn parse_history(
    top: &BTreeMap<String, Box<RawValue>>,
) -> Result<Vec<HistoryEntry>, ConversionError> {
    let items: Option<Vec<Map<String, Value>>> = decode_field(top, "history")?;
    items
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let item: BTreeMap<String, Value> = item.into_iter().collect();
            let text = |field: &'static str| -> Result<String, ConversionError> {
                match lookup(&item, field) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err(ConversionError::BadField { index, field }),
                }
            };
            let created = match lookup(&item, "created") {
                None | Some(Value::Null) => GoTime::zero(),
                Some(Value::String(s)) => {
                    GoTime::parse(s).ok_or_else(|| ConversionError::BadTime {
                        index,
                        value: s.clone(),
                    })?
                }
                Some(_) => {
                    return Err(ConversionError::BadField {
                        index,
                        field: "created",
                    })
                }
            };
            let empty_layer = match lookup(&item, "empty_layer") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(ConversionError::BadField {
                        index,
                        field: "empty_layer",
                    })
                }
            };
            Ok(HistoryEntry {
                created,
                author: text("author")?,
                created_by: text("created_by")?,
                comment: text("comment")?,
                empty_layer,
            })
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// v1Compatibility of a non-top entry, fields in distribution's struct order.
fn entry_compat(id: &str, parent: &str, h: &HistoryEntry) -> String {
    let mut out = String::from("{\"id\":");
    gojson::write_string(&mut out, id);
    if !parent.is_empty() {
        out.push_str(",\"parent\":");
        gojson::write_string(&mut out, parent);
    }
    if !h.comment.is_empty() {
        out.push_str(",\"comment\":");
        gojson::write_string(&mut out, &h.comment);
    }
    out.push_str(",\"created\":");
    gojson::write_string(&mut out, h.created.as_str());
    out.push_str(",\"container_config\":{\"Cmd\":[");
    gojson::write_string(&mut out, &h.created_by);
    out.push_str("]}");
    if !h.author.is_empty() {
        out.push_str(",\"author\":");
        gojson::write_string(&mut out, &h.author);
    }
    if h.empty_layer {
        out.push_str(",\"throwaway\":true");
    }
    out.push('}');
    out
}

/// v1Compatibility of the top entry: the config map without rootfs and history, with id
/// (and parent, throwaway) set, keys sorted, raw values compacted.
fn top_compat(
    mut top: BTreeMap<String, Box<RawValue>>,
    id: &str,
    parent: &str,
    throwaway: bool,
) -> String {
    top.remove("rootfs");
    top.remove("history");
    let mut set = |key: &str, json: String| {
        if let Ok(raw) = RawValue::from_string(json) {
            top.insert(key.to_owned(), raw);
        }
    };
    set("id", gojson::string(id));
    if !parent.is_empty() {
        set("parent", gojson::string(parent));
    }
    if throwaway {
        set("throwaway", "true".to_owned());
    }
    gojson::encode_raw_map(&top)
}

/// The manifest document, as Go's `MarshalIndent(m, "", "   ")` writes it.
fn document(name: &str, tag: &str, arch: &str, blob_sums: &[String], compat: &[String]) -> String {
    let mut out = String::from("{\n   \"schemaVersion\": 1,\n   \"name\": ");
    gojson::write_string(&mut out, name);
    out.push_str(",\n   \"tag\": ");
    gojson::write_string(&mut out, tag);
    out.push_str(",\n   \"architecture\": ");
    gojson::write_string(&mut out, arch);
    out.push_str(",\n   \"fsLayers\": [");
    for (i, sum) in blob_sums.iter().rev().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str("      {\n         \"blobSum\": ");
        gojson::write_string(&mut out, sum);
        out.push_str("\n      }");
    }
    out.push_str("\n   ],\n   \"history\": [");
    for (i, c) in compat.iter().rev().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str("      {\n         \"v1Compatibility\": ");
        gojson::write_string(&mut out, c);
        out.push_str("\n      }");
    }
    out.push_str("\n   ]\n}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::test_fixtures::fixture;
    use crate::oci::Manifest;

    fn convert(image: &str, name: &str, tag: &str) -> Result<String, ConversionError> {
        let manifest = fixture(&format!("pushed/{image}.v2s2.manifest.json"));
        let m = Manifest::parse(&manifest, None).expect("manifest");
        let config_digest = m.config.as_ref().expect("config").digest.hex().to_owned();
        let config = fixture(&format!("layout/{image}/blobs/sha256/{config_digest}"));
        to_schema1(name, tag, &m.layers, &config)
    }

    #[test]
    fn simple_converts_byte_exact_with_distribution() {
        let got = convert("simple", "test/simple", "v2s2").expect("converts");
        let want = fixture("canonical/distribution-converted__test_simple__v2s2.canonical.json");
        assert_eq!(got, String::from_utf8(want).expect("utf8"));
        assert_eq!(
            crate::oci::Digest::sha256_of(got.as_bytes()).to_string(),
            "sha256:8401d58922c1920b919b1a3cf33111dc8d80d62602c52c7ca8e16a66d59d80cc"
        );
    }

    #[test]
    fn name_and_tag_change_the_digest() {
        let a = convert("simple", "test/simple", "v2s2").expect("converts");
        let b = convert("simple", "other/name", "list").expect("converts");
        assert_ne!(a, b);
        assert!(b.contains("\"name\": \"other/name\""));
    }

    #[test]
    fn unpairable_histories_are_refused() {
        assert_eq!(
            convert("nohist", "test/nohist", "v2s2"),
            Err(ConversionError::NoHistory)
        );
        assert!(matches!(
            convert("toomanyhist", "t", "v"),
            Err(ConversionError::HistoryMismatch {
                non_empty: 2,
                layers: 1
            })
        ));
        // distribution silently drops a layer here; we refuse.
        assert!(matches!(
            convert("fewhist", "t", "v"),
            Err(ConversionError::HistoryMismatch {
                non_empty: 1,
                layers: 2
            })
        ));
    }
}
