//! Persistence only: redb metadata (`meta`), content-addressed blob files (`blobs`) and the
//! temp files of uploads in progress (`uploads`). Knows formats only through `oci` types.

pub mod blobs;
pub mod diff_id;
pub mod error;
pub mod keys;
pub mod meta;
pub mod space;
pub mod uploads;

pub use blobs::BlobStore;
pub use error::StoreError;
pub use meta::{
    AuthTable, Counts, ManifestRecord, Meta, Origin, Page, PutManifest, PutOutcome, PutSyncedTag,
    PutVariant, ReferrerRecord, SettingsKind, TagChange, TagEvent, UploadRecord,
};
pub use space::DiskSpace;
pub use uploads::{UploadFile, UploadFiles};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The metadata database's file in the data directory.
pub const META_FILE: &str = "hoist.redb";
/// The blob files' directory in the data directory.
pub const BLOBS_DIR: &str = "blobs";
/// The directory of uploads in progress in the data directory.
pub const UPLOADS_DIR: &str = "uploads";

/// Everything hoist keeps on disk, under one data directory.
pub struct Store {
    pub meta: Meta,
    pub blobs: BlobStore,
    pub uploads: UploadFiles,
    /// The key schema1 variants are signed with.
    pub signing_key: crate::oci::schema1::jws::SchemaKey,
    /// The key bearer tokens are signed with.
    pub token_key: crate::oci::schema1::jws::SchemaKey,
    root: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store in `data_dir` and clear what a crash left behind.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let store = Store {
            meta: Meta::open(&data_dir.join(META_FILE))?,
            blobs: BlobStore::new(data_dir.join(BLOBS_DIR))?,
            uploads: UploadFiles::new(data_dir.join(UPLOADS_DIR))?,
            signing_key: keys::load_or_create(data_dir)?,
            token_key: keys::load_or_create_named(data_dir, keys::TOKEN_KEY_FILE)?,
            root: data_dir.to_owned(),
        };
        store.remove_orphan_uploads()?;
        Ok(store)
    }

    /// Store a small blob hoist made itself (an up-converted config): written to a temp file
    /// beside the uploads (so a crash leaves only an orphan that start-up removes), then
    /// installed like any upload.
    pub fn write_blob(&self, digest: &crate::oci::Digest, bytes: &[u8]) -> Result<(), StoreError> {
        if self.blobs.exists(digest) {
            return Ok(());
        }
        let temp = format!("made-{}", uuid::Uuid::new_v4());
        let written = std::fs::write(self.uploads.path(&temp), bytes)
            .and_then(|()| self.uploads.sync(&temp))
            .and_then(|()| self.blobs.install(&self.uploads.path(&temp), digest));
        if written.is_err() {
            // A full disk, say: what was written of the temp file goes now, not at restart.
            let _ = self.uploads.remove(&temp);
        }
        Ok(written?)
    }

    /// Run a store operation on the blocking pool (redb and file calls block). If the
    /// metadata database failed under it, it is re-opened, and an operation that never
    /// reached a working handle is tried once more: reads keep working through a recovery.
    pub async fn call<T, F>(store: &Arc<Store>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || match f(&store) {
            Err(e) if store.recover(&e) && e.is_stale_handle() => f(&store),
            result => result,
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(format!("blocking task failed: {e}"))))?
    }

    /// [`Store::call`] for an operation that can run only once (it owns what it works
    /// on); it is not retried after a recovery.
    pub async fn call_once<T, F>(store: &Arc<Store>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || {
            let result = f(&store);
            if let Err(e) = &result {
                store.recover(e);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(format!("blocking task failed: {e}"))))?
    }

    /// Re-open the metadata database if `e` left it unusable; whether it was re-opened.
    fn recover(&self, e: &StoreError) -> bool {
        match self.meta.recover_after(e) {
            Ok(reopened) => reopened,
            Err(again) => {
                tracing::error!(error = %again, "the metadata database could not be re-opened yet");
                false
            }
        }
    }

    /// The data directory everything above lives in.
    pub fn data_dir(&self) -> &Path {
        &self.root
    }

    /// Room on the file system that holds the data directory.
    pub fn disk_space(&self) -> std::io::Result<DiskSpace> {
        space::disk_space(&self.root)
    }

    /// Upload files without a record, and records without a file, are what a crash between
    /// the two writes leaves; neither can be resumed, so both go.
    fn remove_orphan_uploads(&self) -> Result<(), StoreError> {
        let records: HashSet<String> = self.meta.upload_ids()?.into_iter().collect();
        let files: HashSet<String> = self
            .uploads
            .list()?
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        for id in &files {
            if !records.contains(id) {
                tracing::info!(upload.id = %id, "removing orphan upload file");
                self.uploads.remove(id)?;
            }
        }
        for id in records {
            if !files.contains(&id) {
                tracing::info!(upload.id = %id, "removing upload record without a file");
                self.meta.delete_upload(&id)?;
            }
        }
        Ok(())
    }
}
