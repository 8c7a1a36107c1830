//! Mirroring upstream registries: the upstream client, mirror rules, the sync worker and
//! pull-through. Stores content through `registry` (so mirrored content gets variants,
//! links and caches like pushed content) and plugs into it as its `Origin`; keeps its own
//! records (settings made through the API, runs, events, mirrored tags) in `store`. May
//! import `registry`, `store` and `oci`; never `http`.

mod activity;
mod directory;
mod drift;
mod fetch;
mod manage;
mod preview;
mod progress;
mod pull;
mod records;
pub mod rules;
mod run;
pub mod settings;
mod stats;
pub mod upstream;
mod worker;

pub use activity::{Activity, LiveBlob, LiveRun, UpstreamStatus};
pub use directory::{Backing, BackingKind, Source};
pub use drift::{Drift, DriftState, RuleDrift, DRIFT_TAGS};
pub use manage::{MirrorView, ProxyView, UpstreamView};
pub use preview::{Preview, PreviewRepo, PreviewTag, PREVIEW_REPOS, PREVIEW_TAGS};
pub use progress::{Event, TagOutcome};
pub use records::{MirroredTag, RunRecord, RunState, Summary, Trigger};
pub use stats::{DayRuns, RunStats, UpstreamBytes, GONE_RULE};

use crate::registry::{Registry, RegistryError};
use crate::store::{Store, StoreError};
use directory::Directory;
use settings::{MirrorSettings, ProxySettings, UpstreamSettings};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Settings that cannot work (a bad pattern, an unknown upstream, a missing secret).
    #[error("{0}")]
    Settings(String),
    #[error("{0}")]
    NotFound(String),
    /// A change the API cannot make (a setting from the config file, a name in use).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Content the upstream sent that is not what it claims (a digest mismatch, say).
    #[error("{0}")]
    Content(String),
    #[error("stopped for shutdown; the run continues at the next start")]
    Stopped,
}

/// The sync service: settings in force, the worker's runs, pull-through.
pub struct Syncer {
    store: Arc<Store>,
    registry: Arc<Registry>,
    directory: Directory,
    progress: progress::Progress,
    /// Live figures of the runs in progress (for the console).
    live: activity::Live,
    worker: worker::WorkerState,
    pull: pull::PullState,
    shutdown: CancellationToken,
}

/// The config file's `[[upstreams]]`, `[[mirrors]]` and `[[proxies]]`.
#[derive(Debug, Clone, Default)]
pub struct SyncConfig {
    pub upstreams: Vec<UpstreamSettings>,
    pub mirrors: Vec<MirrorSettings>,
    pub proxies: Vec<ProxySettings>,
}

impl Syncer {
    /// The service over `store` and `registry`, with the config file's settings and those
    /// the API made before (read from the store). Does not start the worker.
    pub async fn new(
        store: Arc<Store>,
        registry: Arc<Registry>,
        config: SyncConfig,
        shutdown: CancellationToken,
    ) -> Result<Arc<Syncer>, SyncError> {
        let api = manage::load_api_settings(&store).await?;
        let directory = Directory::new((config.upstreams, config.mirrors, config.proxies), api)?;
        Ok(Arc::new(Syncer {
            store,
            registry,
            directory,
            progress: progress::Progress::default(),
            live: activity::Live::default(),
            worker: worker::WorkerState::default(),
            pull: pull::PullState::default(),
            shutdown,
        }))
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Per-key async locks, so concurrent requests for one thing make one upstream request;
/// an entry goes when nobody holds or waits for it.
#[derive(Default)]
struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    async fn lock(&self, key: &str) -> KeyedGuard<'_> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(key.to_owned()).or_default())
        };
        let guard = Arc::clone(&lock).lock_owned().await;
        KeyedGuard {
            owner: self,
            key: key.to_owned(),
            lock,
            _guard: Some(guard),
        }
    }
}

struct KeyedGuard<'a> {
    owner: &'a KeyedLocks,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        self._guard = None;
        let mut map = self.owner.locks.lock().unwrap_or_else(|p| p.into_inner());
        // The map's Arc and ours: nobody else waits for this key.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.key);
        }
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
