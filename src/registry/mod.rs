//! The domain: push, pull, uploads, tags, listings, referrers and deletes, over the store.
//! Knows nothing of HTTP; may import `store` and `oci`. Every store call that can wait runs on
//! the blocking pool, since redb and file-system calls block. Two paths never wait and stay on
//! the calling thread: answers from the manifest cache, and blob chunks already in the page
//! cache (read with RWF_NOWAIT).

mod blob_stream;
mod blobs;
mod error;
mod inspect;
mod listing;
mod manifest_cache;
mod manifests;
mod resolve;
mod uploads;
mod variants;

pub use blobs::{BlobBody, BlobContent};
pub use error::RegistryError;
pub use inspect::{parse_repo_tag, VariantInfo};
pub use manifests::{ManifestContent, PushedManifest};
pub use uploads::UploadCursors;
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
        }
    }
}

pub struct Registry {
    store: Arc<Store>,
    uploads: UploadCursors,
    read_budget: blob_stream::ReadBudget,
    manifest_cache: manifest_cache::ManifestCache,
    config: RegistryConfig,
}

impl Registry {
    pub fn new(store: Store, config: RegistryConfig) -> Self {
        Registry {
            store: Arc::new(store),
            uploads: UploadCursors::default(),
            read_budget: blob_stream::ReadBudget::default(),
            manifest_cache: manifest_cache::ManifestCache::default(),
            config,
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Run a blocking store operation off the async workers.
    async fn blocking<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| RegistryError::Internal(format!("blocking task failed: {e}")))?
            .map_err(RegistryError::from)
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
