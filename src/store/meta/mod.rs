//! redb metadata: which blobs exist and where they are linked, manifests, tags, uploads and
//! referrers. One write transaction per domain operation; all calls block (run them on
//! `spawn_blocking`).

mod manifests;
mod records;
mod repos;
mod tables;
mod uploads;
mod variants;

pub use records::{
    ManifestRecord, Origin, Page, PutManifest, PutOutcome, PutVariant, ReferrerRecord, UploadRecord,
};

use super::StoreError;
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::Path;
use tables::*;

/// The schema this build reads and writes; bump it with a migration when a table changes.
const SCHEMA_VERSION: &str = "1";

pub struct Meta {
    db: Database,
}

impl Meta {
    pub fn open(path: &Path) -> Result<Meta, StoreError> {
        let warned = std::sync::Once::new();
        let db = Database::builder()
            .set_repair_callback(move |_| {
                // Seen after a crash or kill -9; the repair reads the whole file once.
                warned.call_once(|| {
                    tracing::warn!("the metadata file was not closed cleanly; repairing it")
                })
            })
            .create(path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get("schema_version")?.map(|v| v.value().to_owned());
            match found.as_deref() {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(StoreError::Corrupt {
                        table: "meta",
                        reason: format!(
                            "schema version {other} is not one this build knows ({SCHEMA_VERSION})"
                        ),
                    })
                }
            }
            // Create every table up front so read transactions never miss one.
            txn.open_table(BLOBS)?;
            txn.open_table(REPO_BLOBS)?;
            txn.open_table(REPOS)?;
            txn.open_table(MANIFESTS)?;
            txn.open_table(MANIFEST_BODIES)?;
            txn.open_table(TAGS)?;
            txn.open_table(UPLOADS)?;
            txn.open_table(REFERRERS)?;
            txn.open_table(VARIANTS)?;
            txn.open_table(DIFF_IDS)?;
        }
        txn.commit()?;
        Ok(Meta { db })
    }

    /// The size of a blob if its bytes are stored at all (in any repository).
    pub fn blob_size(&self, digest: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOBS)?;
        Ok(table.get(digest)?.map(|v| v.value()))
    }

    /// The size of a blob if it is linked into `repo`.
    pub fn repo_blob_size(&self, repo: &str, digest: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REPO_BLOBS)?;
        Ok(table.get((repo, digest))?.map(|v| v.value()))
    }

    /// Record a finished upload: the blob exists, is linked into `repo`, the upload is gone.
    pub fn commit_upload(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        upload_id: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(BLOBS)?.insert(digest, size)?;
            txn.open_table(REPO_BLOBS)?.insert((repo, digest), size)?;
            txn.open_table(UPLOADS)?.remove(upload_id)?;
            repos::ensure(&txn, repo, now)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Link an existing blob into `repo` (cross-repository mount). `None` if it is not stored.
    pub fn link_blob(&self, repo: &str, digest: &str, now: u64) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_write()?;
        let size = {
            let size = txn.open_table(BLOBS)?.get(digest)?.map(|v| v.value());
            if let Some(size) = size {
                txn.open_table(REPO_BLOBS)?.insert((repo, digest), size)?;
                repos::ensure(&txn, repo, now)?;
            }
            size
        };
        txn.commit()?;
        Ok(size)
    }

    /// Remove a blob's link from `repo`. The bytes stay for other repositories (and for GC).
    pub fn unlink_blob(&self, repo: &str, digest: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn
            .open_table(REPO_BLOBS)?
            .remove((repo, digest))?
            .is_some();
        txn.commit()?;
        Ok(removed)
    }
}
