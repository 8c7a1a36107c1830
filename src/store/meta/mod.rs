//! redb metadata: which blobs exist and where they are linked, manifests, tags, uploads and
//! referrers. One write transaction per domain operation; all calls block (run them on
//! `spawn_blocking`).

mod auth;
mod history;
mod manifests;
mod records;
mod repos;
mod stats;
mod sync;
mod tables;
mod uploads;
mod variants;

pub use auth::AuthTable;
pub use history::{TagChange, TagEvent};
pub use records::{
    ManifestRecord, Origin, Page, PutManifest, PutOutcome, PutSyncedTag, PutVariant,
    ReferrerRecord, UploadRecord,
};
pub use stats::Counts;
pub use sync::SettingsKind;

use super::StoreError;
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tables::*;

/// The schema this build reads and writes; bump it with a migration when a table changes.
const SCHEMA_VERSION: &str = "1";

pub struct Meta {
    /// Replaced by a freshly opened handle when redb reports an I/O failure: redb refuses
    /// every later write of a handle that saw one ("close and re-open the database").
    /// `None` while a re-open has failed (no space left even for the repair); the next
    /// operation tries again.
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    /// Serialises re-opens.
    reopening: Mutex<()>,
}

/// How long a recovery waits for operations still holding the failed handle.
const RECOVERY_WAIT: Duration = Duration::from_secs(10);

impl Meta {
    pub fn open(path: &Path) -> Result<Meta, StoreError> {
        let db = open_db(path)?;
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
            txn.open_table(UPSTREAMS)?;
            txn.open_table(MIRRORS)?;
            txn.open_table(PROXIES)?;
            txn.open_table(SYNC_RUNS)?;
            txn.open_table(SYNC_EVENTS)?;
            txn.open_table(MIRRORED_TAGS)?;
            txn.open_table(SYNC_PARTIALS)?;
            txn.open_table(USERS)?;
            txn.open_table(ACCESS_TOKENS)?;
            txn.open_table(AUTH_RULES)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(AUDIT)?;
            txn.open_table(TAG_HISTORY)?;
            txn.open_table(TAG_CHANGES)?;
        }
        txn.commit()?;
        Ok(Meta {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_owned(),
            reopening: Mutex::new(()),
        })
    }

    /// The current database handle, re-opened first if an earlier re-open failed. Callers
    /// hold it for one operation only.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.db.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(Arc::clone(db));
        }
        let _one = self.reopening.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(Arc::new(open_db(&self.path)?));
            tracing::warn!("metadata database re-opened");
        }
        slot.as_ref()
            .map(Arc::clone)
            .ok_or_else(|| StoreError::Corrupt {
                table: "meta",
                reason: "no database handle".into(),
            })
    }

    /// Called after an operation failed with `failed` (and has let go of its handle): if
    /// the error left the handle unusable, close it and open the file again, which repairs
    /// it. Returns whether the database was re-opened.
    pub fn recover_after(&self, failed: &StoreError) -> Result<bool, StoreError> {
        if !failed.is_db_io() {
            return Ok(false);
        }
        let _one = self.reopening.lock().unwrap_or_else(|p| p.into_inner());
        let Some(current) = self.db.read().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(false); // closed by a failed re-open; the next operation re-opens it
        };
        // A write transaction that cannot begin is the sign; one that can means the handle
        // was replaced already, or the error did not poison it.
        let broken = current.begin_write().is_err();
        drop(current);
        if !broken {
            return Ok(false);
        }
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            // redb locks the file per handle: the old one must be closed before the new one
            // opens, so wait for the operations still using it.
            let deadline = Instant::now() + RECOVERY_WAIT;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            match Arc::try_unwrap(old) {
                Ok(old) => {
                    if let Err(e) = old.close() {
                        tracing::debug!(error = %e, "closing the failed metadata database");
                    }
                }
                Err(old) => {
                    tracing::error!("metadata database still in use; its recovery waits");
                    *slot = Some(old);
                    return Ok(false);
                }
            }
        }
        let db = open_db(&self.path)?;
        *slot = Some(Arc::new(db));
        tracing::warn!("metadata database re-opened after an I/O error");
        Ok(true)
    }

    /// The size of a blob if its bytes are stored at all (in any repository).
    pub fn blob_size(&self, digest: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(BLOBS)?;
        Ok(table.get(digest)?.map(|v| v.value()))
    }

    /// The size of a blob if it is linked into `repo`.
    pub fn repo_blob_size(&self, repo: &str, digest: &str) -> Result<Option<u64>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(REPO_BLOBS)?;
        Ok(table.get((repo, digest))?.map(|v| v.value()))
    }

    /// Record a finished upload: the blob exists, is linked into `repo`, and the upload's
    /// record (if it had one) is gone.
    pub fn commit_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        upload_id: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            txn.open_table(BLOBS)?.insert(digest, size)?;
            txn.open_table(REPO_BLOBS)?.insert((repo, digest), size)?;
            if let Some(id) = upload_id {
                txn.open_table(UPLOADS)?.remove(id)?;
            }
            repos::ensure(&txn, repo, now)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Link an existing blob into `repo` (cross-repository mount). `None` if it is not stored.
    pub fn link_blob(&self, repo: &str, digest: &str, now: u64) -> Result<Option<u64>, StoreError> {
        let txn = self.db()?.begin_write()?;
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
        let txn = self.db()?.begin_write()?;
        let removed = txn
            .open_table(REPO_BLOBS)?
            .remove((repo, digest))?
            .is_some();
        txn.commit()?;
        Ok(removed)
    }
}

/// Open (or create) the database file, repairing it if it was not closed cleanly.
fn open_db(path: &Path) -> Result<Database, StoreError> {
    let warned = std::sync::Once::new();
    let db = Database::builder()
        .set_repair_callback(move |_| {
            // Seen after a crash, kill -9 or an I/O error; the repair reads the whole file.
            warned.call_once(|| {
                tracing::warn!("the metadata file was not closed cleanly; repairing it")
            })
        })
        .create(path)?;
    Ok(db)
}
