//! The history of each tag: every digest it pointed at, and when it went, written in the
//! same transaction as the tag itself so it never disagrees with it.

use super::records::{decode, encode};
use super::tables::*;
use super::{Meta, StoreError};
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

/// One change of a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagEvent {
    /// Unix seconds.
    pub at: u64,
    /// What the tag points at from then on; `None` when it was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A tag change, as the recent changes across repositories list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagChange {
    pub at: u64,
    pub repo: String,
    pub tag: String,
    /// `None` when the tag was deleted.
    pub digest: Option<String>,
}

/// Note that `tag` of `repo` now points at `digest` (or went, for `None`). A write that
/// changes nothing (the same digest again) is not noted.
pub(super) fn note(
    txn: &WriteTransaction,
    repo: &str,
    tag: &str,
    digest: Option<&str>,
    now: u64,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(TAG_HISTORY)?;
    let last = table
        .range((repo, tag, 0)..=(repo, tag, u64::MAX))?
        .next_back()
        .transpose()?
        .map(|(k, v)| (k.value().2, v.value().to_vec()));
    let seq = match &last {
        Some((seq, bytes)) => {
            let previous: TagEvent = decode("tag_history", bytes)?;
            if previous.digest.as_deref() == digest {
                return Ok(());
            }
            seq + 1
        }
        None => 0,
    };
    let event = TagEvent {
        at: now,
        digest: digest.map(str::to_owned),
    };
    table.insert((repo, tag, seq), encode(&event)?.as_slice())?;
    txn.open_table(TAG_CHANGES)?
        .insert((now, repo, tag), digest.unwrap_or(""))?;
    Ok(())
}

impl Meta {
    /// A tag's changes, newest first, at most `n`.
    pub fn tag_history(
        &self,
        repo: &str,
        tag: &str,
        n: usize,
    ) -> Result<Vec<TagEvent>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(TAG_HISTORY)?;
        let mut out = Vec::new();
        for entry in table.range((repo, tag, 0)..=(repo, tag, u64::MAX))?.rev() {
            if out.len() == n {
                break;
            }
            out.push(decode("tag_history", entry?.1.value())?);
        }
        Ok(out)
    }

    /// The latest `n` tag changes across all repositories, newest first.
    pub fn recent_tag_changes(&self, n: usize) -> Result<Vec<TagChange>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(TAG_CHANGES)?;
        let mut out = Vec::with_capacity(n);
        for entry in table.iter()?.rev().take(n) {
            let (key, digest) = entry?;
            let (at, repo, tag) = key.value();
            let digest = digest.value();
            out.push(TagChange {
                at,
                repo: repo.to_owned(),
                tag: tag.to_owned(),
                digest: (!digest.is_empty()).then(|| digest.to_owned()),
            });
        }
        Ok(out)
    }
}
