//! The domain: push, pull, uploads, tags, listings, referrers and deletes, over the store.
//! Knows nothing of HTTP; may import `store` and `oci`. Every store call that can wait runs on
//! the blocking pool, since redb and file-system calls block. Two paths never wait and stay on
//! the calling thread: answers from the manifest cache, and blob chunks already in the page
//! cache (read with RWF_NOWAIT).

mod activity;
mod blob_stream;
mod blobs;
mod error;
mod idle_timeout;
mod inspect;
mod listing;
mod manifest_cache;
mod manifests;
mod mirror;
mod origin;
mod overview;
mod pull_through;
mod resolve;
mod settings_view;
mod space;
mod upload_body;
mod upload_session;
mod uploads;
mod variants;

pub use activity::RecentChange;
pub use blobs::{BlobBody, BlobContent};
pub use error::RegistryError;
pub use idle_timeout::IdleTimeout;
pub use inspect::{parse_repo_tag, VariantInfo};
pub use manifests::{ManifestContent, PushedManifest};
pub use mirror::{Provenance, SyncedManifest};
pub use origin::{Origin, Routed, UpstreamBlob};
pub use overview::{
    ClientForm, Counts, DiskSpace, HistoryEntry, ManifestView, Overview, Part, RepoSummary,
    TagPage, TagRow,
};
pub use settings_view::SettingsView;
pub use space::SizeLimit;
pub use upload_body::ByteStream;
pub use upload_session::UploadSessions;
pub use uploads::{ChunkHeaders, ChunkRange, UploadsReport};
// Listing shapes the edges render as they are.
pub use crate::store::{Page, ReferrerRecord};

use crate::oci::Platform;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Limits and policies the domain enforces.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Largest manifest accepted, in bytes.
    pub manifest_max_bytes: usize,
    /// Uploads idle for longer than this are removed.
    pub upload_max_idle: Duration,
    /// The list entry given to clients that read no lists (distribution: linux/amd64).
    pub default_platform: Platform,
    /// Free space kept on the data disk: upload bytes that would eat into it are refused.
    pub storage_reserve: SizeLimit,
    /// What uploads in progress may hold on disk together.
    pub uploads_max_bytes: SizeLimit,
    /// Refuse a manifest whose blobs or child manifests are not in the repository
    /// (MANIFEST_BLOB_UNKNOWN). Off by default: sparse manifests (a platform-filtered index,
    /// an image whose layers live elsewhere) are stored and served, as OCI allows.
    pub reject_missing_references: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            manifest_max_bytes: 4 * 1024 * 1024,
            upload_max_idle: Duration::from_secs(24 * 3600),
            default_platform: Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            },
            storage_reserve: SizeLimit::Bytes(256 * 1024 * 1024),
            uploads_max_bytes: SizeLimit::PercentOfDisk(50.0),
            reject_missing_references: false,
        }
    }
}

/// Upload batches written at once. The blocking pool has hundreds of threads; uploads get
/// this few of them, so reads never queue behind a flood of writes.
const UPLOAD_IO_PERMITS: usize = 8;

pub struct Registry {
    store: Arc<Store>,
    /// Where missing content of covered repositories comes from (the sync layer).
    origin: std::sync::OnceLock<std::sync::Weak<dyn Origin>>,
    /// This registry, for tasks that outlive a request (a pull-through fetch).
    this: std::sync::OnceLock<std::sync::Weak<Registry>>,
    fetches: pull_through::Fetches,
    upload_sessions: Arc<UploadSessions>,
    upload_space: Arc<space::UploadSpace>,
    upload_io: Arc<tokio::sync::Semaphore>,
    read_budget: blob_stream::ReadBudget,
    manifest_cache: manifest_cache::ManifestCache,
    summaries: overview::SummaryCache,
    config: RegistryConfig,
}

impl Registry {
    /// The registry over `store`. Reads the disk's size (for limits given as a share of it)
    /// and what uploads already hold, so it blocks briefly; call it at start-up.
    pub fn new(store: Arc<Store>, config: RegistryConfig) -> Result<Arc<Self>, StoreError> {
        let total = store.disk_space()?.total;
        let in_progress: u64 = store.uploads.list()?.iter().map(|(_, size, _)| size).sum();
        let upload_space = space::UploadSpace::new(
            config.storage_reserve.resolve(total),
            config.uploads_max_bytes.resolve(total),
            in_progress,
        );
        let registry = Arc::new(Registry {
            store,
            origin: std::sync::OnceLock::new(),
            this: std::sync::OnceLock::new(),
            fetches: pull_through::Fetches::default(),
            upload_sessions: Arc::default(),
            upload_space: Arc::new(upload_space),
            upload_io: Arc::new(tokio::sync::Semaphore::new(UPLOAD_IO_PERMITS)),
            read_budget: blob_stream::ReadBudget::default(),
            manifest_cache: manifest_cache::ManifestCache::default(),
            summaries: overview::SummaryCache::default(),
            config,
        });
        let _ = registry.this.set(Arc::downgrade(&registry));
        Ok(registry)
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Run a blocking store operation off the async workers (see [`Store::call`]).
    async fn blocking<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        Ok(Store::call(&self.store, f).await?)
    }

    /// [`Registry::blocking`] for an operation that can run only once (it owns what it
    /// works on); it is not retried after a recovery.
    async fn blocking_once<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        Ok(Store::call_once(&self.store, f).await?)
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
