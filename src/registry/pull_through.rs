//! Serving what an upstream backs: routing `ns=` and default-upstream requests, refreshing a
//! tag before it is served, and blobs fetched on their first pull, streamed to the client
//! while they are written and verified. The client gets the last bytes only once the
//! digest is verified; on a mismatch its stream fails (its connection is cut) and nothing is
//! stored. Concurrent pulls of one blob make one upstream request: the others wait for it.

use super::blobs::{BlobBody, BlobContent};
use super::origin::{Origin, Routed, UpstreamBlob};
use super::{IdleTimeout, Registry, RegistryError};
use crate::oci::{Digest, Hasher, Reference, RepoName};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// An upstream body that sends nothing for this long fails the fetch.
const UPSTREAM_IDLE: Duration = Duration::from_secs(60);
/// A client that takes nothing for this long is left behind; the blob is still stored.
const CLIENT_STALL: Duration = Duration::from_secs(60);
/// Chunks in flight between the upstream and the client, and the upstream and the disk.
const QUEUE: usize = 8;

/// Blob fetches in flight, so concurrent pulls of one blob make one upstream request.
#[derive(Default)]
pub(super) struct Fetches {
    inflight: Mutex<HashMap<(String, String), tokio::sync::watch::Receiver<bool>>>,
}

enum Turn {
    /// This caller fetches; it must call `done` when the blob is stored (or not).
    Lead(tokio::sync::watch::Sender<bool>),
    /// Another caller fetches; wait for it.
    Wait(tokio::sync::watch::Receiver<bool>),
}

impl Fetches {
    fn turn(&self, key: (String, String)) -> Turn {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = map.get(&key) {
            if !*rx.borrow() {
                return Turn::Wait(rx.clone());
            }
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        map.insert(key, rx);
        Turn::Lead(tx)
    }

    fn done(&self, key: &(String, String), tx: &tokio::sync::watch::Sender<bool>) {
        let _ = tx.send(true);
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

impl Registry {
    /// Plug in where missing content comes from (the sync layer). Held weakly: the origin
    /// holds the registry.
    pub fn set_origin(&self, origin: Weak<dyn Origin>) {
        let _ = self.origin.set(origin);
    }

    pub(super) fn origin(&self) -> Option<Arc<dyn Origin>> {
        self.origin.get().and_then(Weak::upgrade)
    }

    /// The local repository a pull of `repo` is answered from (see [`Origin::route`]).
    pub async fn route(&self, repo: RepoName, ns: Option<&str>) -> Result<RepoName, RegistryError> {
        let Some(origin) = self.origin() else {
            return Ok(repo);
        };
        if ns.is_none() && (origin.covers(&repo) || !origin.has_default()) {
            return Ok(repo);
        }
        let held = ns.is_none() && self.repo_exists(&repo).await?;
        Ok(match origin.route(&repo, ns, held)? {
            Routed::AsNamed => repo,
            Routed::Local(local) => local,
        })
    }

    /// Let the upstream backing `repo`, if any, bring `reference` up to date.
    pub(super) async fn refresh_from_origin(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        match self.origin() {
            Some(origin) if origin.covers(repo) => origin.refresh(repo, reference).await,
            _ => Ok(()),
        }
    }

    /// The size of a blob hoist does not hold in `repo` but its upstream has.
    pub(super) async fn upstream_blob_size(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        match self.origin() {
            Some(origin) if origin.covers(repo) => origin.blob_size(repo, digest).await,
            _ => Ok(None),
        }
    }

    /// A blob `repo` lacks, from the upstream backing it: linked if hoist holds the bytes
    /// already (and the upstream confirms it has them), else streamed while it is stored.
    /// `None` when no upstream backs `repo` or it does not have the blob.
    pub(super) async fn fetch_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<BlobContent>, RegistryError> {
        let Some(origin) = self.origin().filter(|o| o.covers(repo)) else {
            return Ok(None);
        };
        let key = (repo.to_string(), digest.to_string());
        loop {
            match self.fetches.turn(key.clone()) {
                Turn::Wait(mut rx) => {
                    let _ = rx.wait_for(|done| *done).await;
                    if let Ok(found) = self.open_local_blob(repo, digest).await {
                        return Ok(Some(found));
                    }
                    // The other fetch failed: try again, perhaps leading this time.
                }
                Turn::Lead(tx) => {
                    let fetched = self
                        .lead_fetch(origin.as_ref(), repo, digest, &key, &tx)
                        .await;
                    if !matches!(
                        fetched,
                        Ok(Some(BlobContent {
                            body: BlobBody::Stream { .. },
                            ..
                        }))
                    ) {
                        self.fetches.done(&key, &tx);
                    }
                    return fetched;
                }
            }
        }
    }

    async fn lead_fetch(
        &self,
        origin: &dyn Origin,
        repo: &RepoName,
        digest: &Digest,
        key: &(String, String),
        done: &tokio::sync::watch::Sender<bool>,
    ) -> Result<Option<BlobContent>, RegistryError> {
        if let Ok(found) = self.open_local_blob(repo, digest).await {
            return Ok(Some(found)); // stored while this caller waited its turn
        }
        if self.stored_blob_size(digest).await?.is_some() {
            // The bytes are here for another repository; link them only if the upstream
            // has this blob in this repository, so no pull reaches content it should not.
            if origin.blob_size(repo, digest).await?.is_none() {
                return Ok(None);
            }
            self.mount_blob(repo, digest, None).await?;
            return self.open_local_blob(repo, digest).await.map(Some);
        }
        let Some(upstream) = origin.open_blob(repo, digest).await? else {
            return Ok(None);
        };
        let this = self.this()?;
        let size = upstream.size;
        let body = tee(
            this,
            repo.clone(),
            digest.clone(),
            upstream,
            key.clone(),
            done.clone(),
        );
        Ok(Some(BlobContent {
            digest: digest.clone(),
            size: size.unwrap_or(0),
            body: BlobBody::Stream { size, body },
        }))
    }

    fn this(&self) -> Result<Arc<Registry>, RegistryError> {
        self.this
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| RegistryError::Internal("the registry is not shared".into()))
    }
}

/// Send the upstream's blob to the client and to the store at once. The client's last
/// chunk waits until the whole blob is verified against `digest`.
fn tee(
    registry: Arc<Registry>,
    repo: RepoName,
    digest: Digest,
    upstream: UpstreamBlob,
    key: (String, String),
    done: tokio::sync::watch::Sender<bool>,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    let (client_tx, client_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUE);
    let (store_tx, store_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUE);
    let size = upstream.size;
    let storing = {
        let (registry, repo, digest) = (Arc::clone(&registry), repo.clone(), digest.clone());
        tokio::spawn(async move {
            let body = futures_util::stream::unfold(store_rx, |mut rx| async move {
                rx.recv().await.map(|c| (c, rx))
            });
            let stored = registry
                .put_blob(&repo, &digest, size, Box::pin(body))
                .await;
            if let Err(e) = &stored {
                tracing::warn!(repo.name = %repo, blob.digest = %digest, error = %e, "pull-through blob not stored");
            }
            stored.is_ok()
        })
    };
    tokio::spawn(async move {
        let mut body = IdleTimeout::new(upstream.body, UPSTREAM_IDLE);
        let mut hasher = Hasher::new(digest.algorithm());
        let mut client = Some(client_tx);
        let mut store = Some(store_tx);
        let mut held: Option<Bytes> = None;
        let mut seen = 0u64;
        let failure = loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    seen += chunk.len() as u64;
                    forward(&mut store, Ok(chunk.clone()), None).await;
                    if let Some(previous) = held.replace(chunk) {
                        forward(&mut client, Ok(previous), Some(CLIENT_STALL)).await;
                    }
                }
                Some(Err(e)) => break Some(e.to_string()),
                None => break None,
            }
        };
        let actual = hasher.finish();
        let failure = failure.or_else(|| {
            if actual != digest {
                Some(format!("the upstream sent {actual}, not {digest}"))
            } else if size.is_some_and(|s| s != seen) {
                Some(format!(
                    "the upstream sent {seen} bytes of {}",
                    size.unwrap_or(0)
                ))
            } else {
                None
            }
        });
        match failure {
            None => {
                drop(store); // the whole blob went to the store: let it finish
                if let Some(last) = held {
                    forward(&mut client, Ok(last), Some(CLIENT_STALL)).await;
                }
            }
            Some(why) => {
                tracing::warn!(repo.name = %repo, blob.digest = %digest, error = %why, "pull-through fetch failed");
                let err =
                    || std::io::Error::other(format!("fetching {digest} from upstream: {why}"));
                forward(&mut store, Err(err()), None).await;
                forward(&mut client, Err(err()), None).await;
            }
        }
        drop(client);
        let _ = storing.await;
        registry.fetches.done(&key, &done);
    });
    futures_util::stream::unfold(client_rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    })
    .boxed()
}

/// Send to a consumer that may be gone (or, with `stall`, too slow: then it is dropped).
async fn forward(
    to: &mut Option<tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>>,
    item: Result<Bytes, std::io::Error>,
    stall: Option<Duration>,
) {
    let Some(tx) = to.as_ref() else {
        return;
    };
    let sent = match stall {
        Some(limit) => matches!(tokio::time::timeout(limit, tx.send(item)).await, Ok(Ok(()))),
        None => tx.send(item).await.is_ok(),
    };
    if !sent {
        *to = None;
    }
}
