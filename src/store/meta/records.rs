//! The values kept in the tables, and the shapes of multi-table operations.

use super::StoreError;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub media_type: String,
    pub size: u64,
    /// The digest of the manifest this one refers to (`subject`), for the referrers index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub pushed_at: u64,
    #[serde(default)]
    pub origin: Origin,
}

/// Where a manifest came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    #[default]
    Pushed,
    /// Computed by hoist from `source` (another manifest in the same repository).
    Derived {
        source: String,
        transform: String,
        version: u32,
    },
    /// Fetched byte for byte from an upstream registry.
    Synced {
        upstream: String,
        /// The upstream's name of the repository.
        repository: String,
    },
}

/// A derived manifest and what it needs stored with it, written in one transaction.
pub struct PutVariant<'a> {
    pub repo: &'a str,
    pub source: &'a str,
    /// What the variant is of its source, e.g. `schema1:latest` or `oci`.
    pub kind: &'a str,
    pub digest: &'a str,
    pub record: &'a ManifestRecord,
    pub body: &'a [u8],
    /// A blob the variant introduced (an up-converted config), already in the blob store.
    pub blob: Option<(&'a str, u64)>,
}

/// A referrer as the referrers API lists it: an OCI descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerRecord {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub repo: String,
    pub started: u64,
}

/// One page of a sorted listing, and whether more follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    pub more: bool,
}

/// Everything a manifest push writes, in one transaction.
pub struct PutManifest<'a> {
    pub repo: &'a str,
    pub digest: &'a str,
    pub record: &'a ManifestRecord,
    pub body: &'a [u8],
    /// Tags to point at the manifest.
    pub tags: &'a [String],
    /// Blobs that must be linked in the repository.
    pub required_blobs: &'a [String],
    /// Child manifests that must exist in the repository.
    pub required_manifests: &'a [String],
    pub referrer: Option<&'a ReferrerRecord>,
}

/// A mirrored tag and the content it needs present, written in one transaction.
pub struct PutSyncedTag<'a> {
    pub repo: &'a str,
    pub tag: &'a str,
    pub digest: &'a str,
    /// Blobs that must be in the store (linked into the repository by the same write).
    pub required_blobs: &'a [String],
    /// Manifests that must be in the repository.
    pub required_manifests: &'a [String],
    /// The sync's record of the tag (opaque to the store).
    pub record: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    MissingBlob(String),
    MissingManifest(String),
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        table: "encode",
        reason: e.to_string(),
    })
}

pub(super) fn decode<T: DeserializeOwned>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table,
        reason: e.to_string(),
    })
}
