//! What the sync keeps in the store, as JSON: runs, and the record of each mirrored tag
//! (where it came from, what it pointed at upstream, which forms it has).

use super::SyncError;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl RunState {
    pub fn finished(self) -> bool {
        matches!(self, RunState::Succeeded | RunState::Failed)
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub repositories: u64,
    pub tags_new: u64,
    pub tags_updated: u64,
    pub tags_unchanged: u64,
    pub tags_failed: u64,
    pub tags_removed: u64,
    pub blobs_fetched: u64,
    pub bytes_fetched: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(default)]
    pub id: u64,
    pub rule: String,
    pub trigger: Trigger,
    pub state: RunState,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Times the run was interrupted by a shutdown and resumed.
    #[serde(default)]
    pub resumed: u32,
    #[serde(default)]
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A tag the sync (or a pull through a prefix) put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirroredTag {
    pub upstream: String,
    /// The upstream's name of the repository.
    pub repository: String,
    /// The mirror rule, or `proxy:<prefix>`.
    pub rule: String,
    /// What the tag pointed at upstream when it was synced (and so points at here).
    pub digest: String,
    pub media_type: String,
    /// The upstream's own schema1 rendering of the tag, when it offered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema1: Option<String>,
    /// The list's children that were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    /// Every blob the tag needs is here (an immediate rule); else they come on pull.
    pub blobs_complete: bool,
    pub synced_at: u64,
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, SyncError> {
    serde_json::to_vec(value).map_err(|e| SyncError::Content(format!("encoding a record: {e}")))
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, SyncError> {
    serde_json::from_slice(bytes)
        .map_err(|e| SyncError::Content(format!("stored {what} does not decode: {e}")))
}
