//! Blob uploads: start, append chunks (streamed to disk and hashed as they arrive), report
//! progress, finish with digest verification, cancel, and expire the abandoned.
//!
//! A session upload (POST, then PATCH and PUT) has a record in the store and can be resumed,
//! also after a restart. A monolithic upload (POST with `?digest=`) has none: its temp file
//! goes as soon as its request ends without a blob, and start-up removes any a crash left.

use super::upload_body::ByteStream;
use super::upload_session::{Closed, Cursor, Guard, Session};
use super::{now_unix, Registry, RegistryError};
use crate::oci::{Algorithm, Digest, Hasher, RepoName};
use crate::store::{Store, StoreError, UploadRecord};
use serde::Serialize;
use std::sync::Arc;
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// Temp files of monolithic uploads start with this; they have no record.
const MONOLITHIC_PREFIX: &str = "mono-";

/// Where a chunk says it goes (`Content-Range: <start>-<end>`, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

impl ChunkRange {
    /// Bytes the range covers (never zero: the end is inclusive).
    pub fn bytes(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// What a chunk request says about its body before it is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkHeaders {
    pub range: Option<ChunkRange>,
    /// `Content-Length`, when the body is not chunked.
    pub length: Option<u64>,
}

/// Uploads in progress, for the JSON API.
#[derive(Debug, Clone, Serialize)]
pub struct UploadsReport {
    /// Upload sessions with a record (resumable).
    pub sessions: usize,
    /// Of those, the ones requests have touched since start-up.
    pub active_sessions: usize,
    /// Bytes all uploads in progress hold on disk, monolithic ones included.
    pub bytes: u64,
    /// The most they may hold together (`uploads_max_bytes`).
    pub max_bytes: u64,
    /// Free space kept on the data disk (`storage_reserve`).
    pub reserve_bytes: u64,
    /// Free space on the data disk now.
    pub disk_available_bytes: u64,
    pub disk_total_bytes: u64,
}

impl Registry {
    /// Open a new upload session in `repo`; returns its id.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<String, RegistryError> {
        let id = uuid::Uuid::new_v4().to_string();
        let record = UploadRecord {
            repo: repo.to_string(),
            started: now_unix(),
        };
        let i = id.clone();
        self.blocking_once(move |s| {
            s.uploads.create(&i)?;
            if let Err(e) = s.meta.create_upload(&i, &record) {
                let _ = s.uploads.remove(&i);
                return Err(e);
            }
            Ok(())
        })
        .await?;
        let cursor = Cursor::new(id.clone(), 0, Some(Hasher::new(Algorithm::Sha256)));
        self.upload_sessions
            .adopt(&id, Session::new(repo.to_string(), cursor));
        Ok(id)
    }

    /// The session of an upload that belongs to `repo`, rebuilt from the store after a
    /// restart.
    async fn session(&self, repo: &RepoName, id: &str) -> Result<Arc<Session>, RegistryError> {
        let unknown = || RegistryError::BlobUploadUnknown(id.to_owned());
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(unknown());
        }
        let session = match self.upload_sessions.get(id) {
            Some(s) => s,
            None => {
                let i = id.to_owned();
                let found = self
                    .blocking(move |s| {
                        let Some(record) = s.meta.upload(&i)? else {
                            return Ok(None);
                        };
                        match s.uploads.len(&i) {
                            Ok(len) => Ok(Some((record, len))),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                            Err(e) => Err(e.into()),
                        }
                    })
                    .await?;
                let Some((record, len)) = found else {
                    return Err(unknown());
                };
                // The hash state did not survive; a fresh upload needs none rebuilt.
                let hasher = (len == 0).then(|| Hasher::new(Algorithm::Sha256));
                let cursor = Cursor::new(id.to_owned(), len, hasher);
                self.upload_sessions
                    .adopt(id, Session::new(record.repo, cursor))
                    .ok_or_else(unknown)?
            }
        };
        if session.repo != repo.as_str() || session.has_ended() {
            return Err(unknown());
        }
        Ok(session)
    }

    /// Take the session's writing lock, or give up when the upload is cancelled meanwhile.
    async fn lock(&self, session: &Session, id: &str) -> Result<Guard, RegistryError> {
        let guard = tokio::select! {
            biased;
            _ = session.cancel.cancelled() => None,
            guard = Arc::clone(&session.cursor).lock_owned() => Some(guard),
        };
        guard.ok_or_else(|| RegistryError::BlobUploadUnknown(id.to_owned()))
    }

    /// Bytes received so far. Answers at once, also while a chunk is being written.
    pub async fn upload_offset(&self, repo: &RepoName, id: &str) -> Result<u64, RegistryError> {
        Ok(self.session(repo, id).await?.offset())
    }

    /// Append a chunk, whole or not at all. Its `Content-Range`, when sent, must start at the
    /// current end and match the body's length. Returns the new offset.
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        id: &str,
        chunk: ChunkHeaders,
        body: impl ByteStream,
    ) -> Result<u64, RegistryError> {
        let session = self.session(repo, id).await?;
        let guard = self.lock(&session, id).await?;
        if guard.closed.is_some() {
            return Err(RegistryError::BlobUploadUnknown(id.to_owned()));
        }
        let guard = self.receive_chunk(&session, guard, chunk, body).await?;
        Ok(guard.offset())
    }

    /// Check a chunk's headers, write its body, and undo it if it did not match its range.
    async fn receive_chunk(
        &self,
        session: &Session,
        guard: Guard,
        chunk: ChunkHeaders,
        body: impl ByteStream,
    ) -> Result<Guard, RegistryError> {
        let guard = self.drop_leftovers(session, guard).await?;
        let start = guard.offset();
        if let Some(range) = chunk.range {
            if range.start != start {
                return Err(RegistryError::ChunkOutOfOrder {
                    start: range.start,
                    offset: start,
                });
            }
            if let Some(length) = chunk.length.filter(|&n| n != range.bytes()) {
                return Err(RegistryError::ChunkLengthMismatch {
                    declared: range.bytes(),
                    received: length,
                });
            }
        }
        if let Some(needed) = chunk.range.map(|r| r.bytes()).or(chunk.length) {
            self.check_room(needed).await?;
        }
        let hasher_before = guard.hasher.clone();
        let (guard, result) = self
            .receive(&session.cursor, guard, body, &session.cancel)
            .await;
        match result {
            Ok(()) => {}
            // Cancelled or gone: nothing left to take back.
            Err(e @ RegistryError::BlobUploadUnknown(_)) => return Err(e),
            // A chunk is kept whole or not at all. A request whose connection died may be
            // read by the server after its client has asked for the Range and resumed; if
            // half of it were kept then, it would land after the resumed bytes.
            Err(e) => {
                self.rewind(guard, start, hasher_before).await?;
                return Err(not_kept(e, start));
            }
        }
        let received = guard.offset() - start;
        match chunk.range {
            Some(range) if range.bytes() != received => {
                self.rewind(guard, start, hasher_before).await?;
                Err(RegistryError::ChunkLengthMismatch {
                    declared: range.bytes(),
                    received,
                })
            }
            _ => {
                guard.publish();
                Ok(guard)
            }
        }
    }

    /// Cut an upload back to `offset`: a chunk that failed, or broke its promise, is not kept.
    async fn rewind(
        &self,
        mut guard: Guard,
        offset: u64,
        hasher: Option<Hasher>,
    ) -> Result<Guard, RegistryError> {
        let space = Arc::clone(&self.upload_space);
        self.blocking_once(move |s| {
            s.uploads.open(&guard.id)?.truncate(offset)?;
            space.release(guard.offset().saturating_sub(offset));
            guard.set_offset(offset);
            guard.publish();
            guard.hasher = hasher;
            Ok(guard)
        })
        .await
    }

    /// Take back what a request dropped mid-chunk left after the last kept chunk: its bytes
    /// were never kept (status never showed them), so they must not become part of the blob.
    async fn drop_leftovers(
        &self,
        session: &Session,
        guard: Guard,
    ) -> Result<Guard, RegistryError> {
        let kept = session.offset();
        if guard.offset() == kept {
            return Ok(guard);
        }
        tracing::info!(upload.id = %guard.id, kept, file = guard.offset(), "taking back a chunk its request dropped");
        // The hash state covered the dropped bytes too: the end hashes the file again.
        self.rewind(guard, kept, None).await
    }

    /// Fail early when the disk or the uploads' share of it cannot take `needed` bytes.
    async fn check_room(&self, needed: u64) -> Result<(), RegistryError> {
        let space = Arc::clone(&self.upload_space);
        self.blocking_once(move |s| Ok(s.disk_space()?.available))
            .await
            .and_then(|available| {
                space
                    .check(needed, available)
                    .map_err(|s| RegistryError::InsufficientStorage(s.to_string()))
            })
    }

    /// Append the last chunk (possibly empty), verify the digest and commit the blob.
    /// On a mismatch the upload is discarded and nothing is stored. A retried PUT of an
    /// upload that just completed with the same digest succeeds again.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        chunk: ChunkHeaders,
        expected: &Digest,
        body: impl ByteStream,
    ) -> Result<u64, RegistryError> {
        let session = self.session(repo, id).await?;
        let guard = self.lock(&session, id).await?;
        match &guard.closed {
            Some(Closed::Completed(done)) if done == expected => return Ok(guard.offset()),
            Some(_) => return Err(RegistryError::BlobUploadUnknown(id.to_owned())),
            None => {}
        }
        let guard = self.receive_chunk(&session, guard, chunk, body).await?;
        self.commit(repo, guard, expected, true).await
    }

    /// Verify and install what `guard`'s upload holds as blob `expected` of `repo`, all in
    /// one blocking call that owns the lock, so a client that goes away cannot leave it half
    /// done. `session` says whether the upload has a record to remove.
    async fn commit(
        &self,
        repo: &RepoName,
        mut guard: Guard,
        expected: &Digest,
        session: bool,
    ) -> Result<u64, RegistryError> {
        let (r, d) = (repo.to_string(), expected.clone());
        let space = Arc::clone(&self.upload_space);
        let sessions = Arc::clone(&self.upload_sessions);
        let permit = Arc::clone(&self.upload_io).acquire_owned().await;
        self.blocking_once(move |s| {
            let _held = permit;
            let id = guard.id.clone();
            let size = guard.offset();
            let actual = match (&guard.hasher, d.algorithm()) {
                (Some(h), alg) if h.algorithm() == alg => h.clone().finish(),
                (_, alg) => s.uploads.digest(&id, alg)?,
            };
            if actual != d {
                remove_upload(s, &space, &id, size)?;
                guard.closed = Some(Closed::Cancelled);
                sessions.end(&id);
                return Ok(Err(RegistryError::DigestMismatch {
                    expected: d.to_string(),
                    actual: actual.to_string(),
                }));
            }
            s.uploads.sync(&id)?;
            s.blobs.install(&s.uploads.path(&id), &d)?;
            space.release(size);
            let record = session.then_some(id.as_str());
            s.meta
                .commit_blob(&r, &d.to_string(), size, record, now_unix())?;
            guard.closed = Some(Closed::Completed(d.clone()));
            sessions.end(&id);
            Ok(Ok(size))
        })
        .await?
    }

    /// Upload a whole blob in one request (POST with `?digest=`). Nothing of it stays if the
    /// request ends without a blob, however it ends.
    pub async fn put_blob(
        &self,
        repo: &RepoName,
        expected: &Digest,
        length: Option<u64>,
        body: impl ByteStream,
    ) -> Result<u64, RegistryError> {
        if let Some(needed) = length {
            self.check_room(needed).await?;
        }
        let id = format!("{MONOLITHIC_PREFIX}{}", uuid::Uuid::new_v4());
        let i = id.clone();
        self.blocking_once(move |s| Ok(s.uploads.create(&i)?))
            .await?;
        let cursor = Arc::new(tokio::sync::Mutex::new(Cursor::new(
            id,
            0,
            Some(Hasher::new(Algorithm::Sha256)),
        )));
        let mut temp = TempUpload {
            cursor: Some(Arc::clone(&cursor)),
            registry_store: Arc::clone(&self.store),
            space: Arc::clone(&self.upload_space),
        };
        let guard = Arc::clone(&cursor).lock_owned().await;
        let (guard, received) = self
            .receive(&cursor, guard, body, &CancellationToken::new())
            .await;
        received?;
        let size = self.commit(repo, guard, expected, false).await?;
        temp.cursor = None; // it is a blob now (or was removed by the mismatch)
        Ok(size)
    }

    /// Cancel an upload of `repo`: a request writing to it stops, and it is gone.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<(), RegistryError> {
        let session = self.session(repo, id).await?;
        session.cancel.cancel();
        let guard = Arc::clone(&session.cursor).lock_owned().await;
        if guard.closed.is_some() {
            return Err(RegistryError::BlobUploadUnknown(id.to_owned()));
        }
        self.discard(guard).await
    }

    /// Remove a session upload: file, record, and its room.
    async fn discard(&self, mut guard: Guard) -> Result<(), RegistryError> {
        let space = Arc::clone(&self.upload_space);
        let sessions = Arc::clone(&self.upload_sessions);
        self.blocking_once(move |s| {
            let id = guard.id.clone();
            remove_upload(s, &space, &id, guard.offset())?;
            guard.closed = Some(Closed::Cancelled);
            sessions.end(&id);
            Ok(())
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
        for (id, size, modified) in files {
            let idle = now.duration_since(modified).unwrap_or_default();
            // Temp files of requests in flight go with their request, not here.
            if idle <= max_idle || uuid::Uuid::parse_str(&id).is_err() {
                continue;
            }
            match self.upload_sessions.get(&id) {
                Some(session) => {
                    let Ok(guard) = Arc::clone(&session.cursor).try_lock_owned() else {
                        continue; // a request is writing to it: not abandoned
                    };
                    if guard.closed.is_some() {
                        continue;
                    }
                    tracing::info!(upload.id = %id, idle_s = idle.as_secs(), "expiring abandoned upload");
                    self.discard(guard).await?;
                }
                None => {
                    tracing::info!(upload.id = %id, idle_s = idle.as_secs(), "expiring abandoned upload");
                    let space = Arc::clone(&self.upload_space);
                    let sessions = Arc::clone(&self.upload_sessions);
                    self.blocking_once(move |s| {
                        remove_upload(s, &space, &id, size)?;
                        sessions.end(&id);
                        Ok(())
                    })
                    .await?;
                }
            }
            removed += 1;
        }
        Ok(removed)
    }

    /// Uploads in progress and the room they have.
    pub async fn uploads_report(&self) -> Result<UploadsReport, RegistryError> {
        let (sessions, disk) = self
            .blocking(|s| Ok((s.meta.upload_ids()?.len(), s.disk_space()?)))
            .await?;
        Ok(UploadsReport {
            sessions,
            active_sessions: self.upload_sessions.live_count(),
            bytes: self.upload_space.in_progress(),
            max_bytes: self.upload_space.limit(),
            reserve_bytes: self.upload_space.reserve(),
            disk_available_bytes: disk.available,
            disk_total_bytes: disk.total,
        })
    }
}

/// `e`, saying that its chunk was not kept and what the upload holds.
fn not_kept(e: RegistryError, offset: u64) -> RegistryError {
    let note = format!("; the chunk is not kept, the upload holds {offset} bytes");
    match e {
        RegistryError::BodyStalled(m) => RegistryError::BodyStalled(m + &note),
        RegistryError::BlobUploadInvalid(m) => RegistryError::BlobUploadInvalid(m + &note),
        RegistryError::InsufficientStorage(m) => RegistryError::InsufficientStorage(m + &note),
        other => other,
    }
}

/// Remove an upload's file and record, and give back the room its `size` bytes held.
fn remove_upload(
    s: &Store,
    space: &super::space::UploadSpace,
    id: &str,
    size: u64,
) -> Result<(), StoreError> {
    s.uploads.remove(id)?;
    space.release(size);
    s.meta.delete_upload(id)?;
    Ok(())
}

/// A monolithic upload's temp file, removed when its request ends without a blob: on an
/// error, and also when the request is dropped because the client went away.
struct TempUpload {
    cursor: Option<Arc<tokio::sync::Mutex<Cursor>>>,
    registry_store: Arc<Store>,
    space: Arc<super::space::UploadSpace>,
}

impl Drop for TempUpload {
    fn drop(&mut self) {
        let Some(cursor) = self.cursor.take() else {
            return;
        };
        let (store, space) = (Arc::clone(&self.registry_store), Arc::clone(&self.space));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // shutting down: start-up removes the file
        };
        // After the write in flight (which holds the lock), so its bytes are counted too.
        runtime.spawn(async move {
            let guard = cursor.lock_owned().await;
            if guard.closed.is_some() {
                return; // installed as a blob, or removed by the digest check
            }
            let removed = tokio::task::spawn_blocking(move || {
                let _ = store.uploads.remove(&guard.id);
                space.release(guard.offset());
            })
            .await;
            if let Err(e) = removed {
                tracing::warn!(error = %e, "removing an abandoned upload failed");
            }
        });
    }
}
