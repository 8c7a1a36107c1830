//! Blob uploads: start, append chunks (streamed to disk and hashed as they arrive), report
//! progress, finish with digest verification, cancel, and expire the abandoned.

use super::{now_unix, Registry, RegistryError};
use crate::oci::{Algorithm, Digest, Hasher, RepoName};
use crate::store::UploadRecord;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// How many chunks may wait between the network and the disk writer.
const CHUNK_QUEUE: usize = 16;

/// Where an upload stands: bytes on disk, and the sha256 state over exactly those bytes
/// (`None` after a restart or a failed write; the file is hashed again at the end then).
struct Cursor {
    offset: u64,
    hasher: Option<Hasher>,
}

impl Cursor {
    /// A chunk that says where it starts must start where the upload ends.
    fn check_start(&self, start: Option<u64>) -> Result<(), RegistryError> {
        match start {
            Some(start) if start != self.offset => Err(RegistryError::ChunkOutOfOrder {
                start,
                offset: self.offset,
            }),
            _ => Ok(()),
        }
    }
}

/// In-memory cursors of active uploads. Each has its own lock so that chunks of one upload
/// are applied one at a time.
#[derive(Default)]
pub struct UploadCursors {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Cursor>>>>,
}

impl UploadCursors {
    fn get(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Cursor>>> {
        self.map.lock().ok()?.get(id).cloned()
    }

    fn insert(&self, id: &str, cursor: Cursor) -> Arc<tokio::sync::Mutex<Cursor>> {
        let entry = Arc::new(tokio::sync::Mutex::new(cursor));
        if let Ok(mut map) = self.map.lock() {
            return Arc::clone(map.entry(id.to_owned()).or_insert(entry));
        }
        entry
    }

    fn remove(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
    }
}

/// The client's body as the domain sees it.
pub trait ByteStream: Stream<Item = Result<Bytes, std::io::Error>> + Unpin {}
impl<S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin> ByteStream for S {}

impl Registry {
    /// Open a new upload session in `repo`; returns its id.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<String, RegistryError> {
        let id = uuid::Uuid::new_v4().to_string();
        let record = UploadRecord {
            repo: repo.to_string(),
            started: now_unix(),
        };
        let i = id.clone();
        self.blocking(move |s| {
            s.meta.create_upload(&i, &record)?;
            Ok(s.uploads.create(&i)?)
        })
        .await?;
        self.uploads.insert(
            &id,
            Cursor {
                offset: 0,
                hasher: Some(Hasher::new(Algorithm::Sha256)),
            },
        );
        Ok(id)
    }

    /// The cursor of an upload that belongs to `repo`, rebuilt from disk after a restart.
    async fn cursor(
        &self,
        repo: &RepoName,
        id: &str,
    ) -> Result<Arc<tokio::sync::Mutex<Cursor>>, RegistryError> {
        let unknown = || RegistryError::BlobUploadUnknown(id.to_owned());
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(unknown());
        }
        let i = id.to_owned();
        let found = self
            .blocking(move |s| {
                let Some(record) = s.meta.upload(&i)? else {
                    return Ok(None);
                };
                Ok(Some((record, s.uploads.len(&i)?)))
            })
            .await?;
        let Some((record, len)) = found else {
            return Err(unknown());
        };
        if record.repo != repo.as_str() {
            return Err(unknown());
        }
        if let Some(cursor) = self.uploads.get(id) {
            return Ok(cursor);
        }
        let hasher = (len == 0).then(|| Hasher::new(Algorithm::Sha256));
        Ok(self.uploads.insert(
            id,
            Cursor {
                offset: len,
                hasher,
            },
        ))
    }

    /// Bytes received so far.
    pub async fn upload_offset(&self, repo: &RepoName, id: &str) -> Result<u64, RegistryError> {
        let cursor = self.cursor(repo, id).await?;
        let offset = cursor.lock().await.offset;
        Ok(offset)
    }

    /// Append a chunk. `start`, when the client sent a Content-Range, must be the current end.
    /// Returns the new offset.
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        id: &str,
        start: Option<u64>,
        body: impl ByteStream,
    ) -> Result<u64, RegistryError> {
        let cursor = self.cursor(repo, id).await?;
        let mut cursor = cursor.lock().await;
        cursor.check_start(start)?;
        self.write_chunks(id, &mut cursor, body).await?;
        Ok(cursor.offset)
    }

    /// Stream `body` to the upload file on a blocking thread, hashing as it goes.
    async fn write_chunks(
        &self,
        id: &str,
        cursor: &mut Cursor,
        mut body: impl ByteStream,
    ) -> Result<(), RegistryError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHUNK_QUEUE);
        let store = Arc::clone(&self.store);
        let i = id.to_owned();
        let hasher = cursor.hasher.take();
        let writer = tokio::task::spawn_blocking(move || {
            let chunks = std::iter::from_fn(|| rx.blocking_recv());
            store.uploads.append(&i, chunks, hasher)
        });
        let mut read_error = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    if tx.send(bytes).await.is_err() {
                        break; // the writer stopped; its error is reported below
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let appended = writer
            .await
            .map_err(|e| RegistryError::Internal(format!("upload writer failed: {e}")))?;
        cursor.offset += appended.written;
        cursor.hasher = appended.hasher;
        if let Some(e) = appended.error {
            return Err(RegistryError::Store(e.into()));
        }
        if let Some(e) = read_error {
            return Err(RegistryError::BlobUploadInvalid(format!(
                "reading the request body failed after {} bytes: {e}",
                cursor.offset
            )));
        }
        Ok(())
    }

    /// Append the last chunk (possibly empty), verify the digest and commit the blob.
    /// On a mismatch the upload is discarded and nothing is stored.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        start: Option<u64>,
        expected: &Digest,
        body: impl ByteStream,
    ) -> Result<u64, RegistryError> {
        let cursor = self.cursor(repo, id).await?;
        let mut cursor = cursor.lock().await;
        // A last chunk out of order is refused before anything is written or discarded.
        cursor.check_start(start)?;
        self.write_chunks(id, &mut cursor, body).await?;
        let actual = match (&cursor.hasher, expected.algorithm()) {
            (Some(h), alg) if h.algorithm() == alg => h.clone().finish(),
            (_, alg) => {
                let i = id.to_owned();
                self.blocking(move |s| Ok(s.uploads.digest(&i, alg)?))
                    .await?
            }
        };
        if &actual != expected {
            self.discard_upload(id).await?;
            return Err(RegistryError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        let size = cursor.offset;
        let (r, i, d) = (repo.to_string(), id.to_owned(), expected.clone());
        self.blocking(move |s| {
            s.uploads.sync(&i)?;
            s.blobs.install(&s.uploads.path(&i), &d)?;
            s.meta
                .commit_upload(&r, &d.to_string(), size, &i, now_unix())
        })
        .await?;
        self.uploads.remove(id);
        Ok(size)
    }

    /// Upload a whole blob in one request (POST with `?digest=`).
    pub async fn put_blob(
        &self,
        repo: &RepoName,
        expected: &Digest,
        body: impl ByteStream,
    ) -> Result<u64, RegistryError> {
        let id = self.start_upload(repo).await?;
        let result = self.finish_upload(repo, &id, None, expected, body).await;
        if result.is_err() {
            // A broken monolithic upload cannot be resumed: its id was never handed out.
            self.discard_upload(&id).await?;
        }
        result
    }

    /// Cancel an upload of `repo`.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<(), RegistryError> {
        let cursor = self.cursor(repo, id).await?;
        let _held = cursor.lock().await;
        self.discard_upload(id).await
    }

    async fn discard_upload(&self, id: &str) -> Result<(), RegistryError> {
        self.uploads.remove(id);
        let i = id.to_owned();
        self.blocking(move |s| {
            s.meta.delete_upload(&i)?;
            Ok(s.uploads.remove(&i)?)
        })
        .await
    }

    /// Remove uploads whose file has not changed for longer than the configured idle time.
    /// Uploads with a request in flight are left alone. Returns how many were removed.
    pub async fn expire_uploads(&self) -> Result<usize, RegistryError> {
        let max_idle = self.config.upload_max_idle;
        let files = self.blocking(|s| Ok(s.uploads.list()?)).await?;
        let now = SystemTime::now();
        let mut removed = 0;
        for (id, modified) in files {
            let idle = now.duration_since(modified).unwrap_or_default();
            if idle <= max_idle {
                continue;
            }
            let busy = self.uploads.get(&id).is_some_and(|c| c.try_lock().is_err());
            if busy {
                continue;
            }
            tracing::info!(upload.id = %id, idle_s = idle.as_secs(), "expiring abandoned upload");
            self.discard_upload(&id).await?;
            removed += 1;
        }
        Ok(removed)
    }
}
