//! Streaming a request body into an upload file. Chunks are gathered into batches; each
//! batch is written (and hashed) on the blocking pool while the next is read, so a client
//! that sends slowly, or stalls, holds no thread: only its connection and one batch.
//!
//! The cursor moves only by whole batches written, inside the blocking write that holds the
//! cursor's lock. A request dropped mid-way (its client went away) therefore leaves the
//! cursor exactly at the bytes in the file, which is what status requests report.

use super::upload_session::{Cursor, Guard};
use super::{Registry, RegistryError};
use crate::store::{Store, StoreError};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Bytes read from the network before they are written out together.
const BATCH: usize = 256 * 1024;

/// The client's body as the domain sees it. An item with [`std::io::ErrorKind::TimedOut`]
/// means the client sent nothing for too long.
pub trait ByteStream: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {}
impl<S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin> ByteStream for S {}

type Writing = JoinHandle<(Guard, Result<(), RegistryError>)>;

impl Registry {
    /// Append `body` to the upload `guard` holds. Returns the guard with the outcome; the
    /// cursor then says exactly what is in the file, also on error. A cancelled upload returns
    /// `BlobUploadUnknown` without writing what was still buffered.
    pub(super) async fn receive(
        &self,
        cursor: &Arc<tokio::sync::Mutex<Cursor>>,
        guard: Guard,
        mut body: impl ByteStream,
        cancel: &CancellationToken,
    ) -> (Guard, Result<(), RegistryError>) {
        // The guard is either here or with the write in flight.
        let mut idle = Some(guard);
        let mut writing: Option<Writing> = None;
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0usize;
        let ended = loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => break Err(None),
                item = body.next() => item,
            };
            match next {
                Some(Ok(bytes)) => {
                    batched += bytes.len();
                    batch.push(bytes);
                    if batched < BATCH {
                        continue;
                    }
                    let guard = match self.settle(cursor, &mut idle, &mut writing).await {
                        (g, Ok(())) => g,
                        (g, Err(e)) => return (g, Err(e)),
                    };
                    writing = Some(self.write(guard, std::mem::take(&mut batch)).await);
                    batched = 0;
                }
                Some(Err(e)) => break Err(Some(e)),
                None => break Ok(()),
            }
        };
        let guard = match self.settle(cursor, &mut idle, &mut writing).await {
            (g, Ok(())) => g,
            (g, Err(e)) => return (g, Err(e)),
        };
        if let Err(None) = ended {
            return guard_unknown(guard);
        }
        // What arrived before the body ended or failed is kept, as far as it got.
        let (guard, written) = if batch.is_empty() {
            (guard, Ok(()))
        } else {
            let write = self.write(guard, batch).await;
            join_write(cursor, write).await
        };
        let result = match (ended, written) {
            (_, Err(e)) => Err(e),
            (Err(Some(e)), Ok(())) => Err(body_failed(&e)),
            _ => Ok(()),
        };
        (guard, result)
    }

    /// The guard back from the write in flight (with that write's outcome), or from `idle`.
    async fn settle(
        &self,
        cursor: &Arc<tokio::sync::Mutex<Cursor>>,
        idle: &mut Option<Guard>,
        writing: &mut Option<Writing>,
    ) -> (Guard, Result<(), RegistryError>) {
        if let Some(write) = writing.take() {
            return join_write(cursor, write).await;
        }
        match idle.take() {
            Some(guard) => (guard, Ok(())),
            // Not reached: the guard is always in one of the two places.
            None => (Arc::clone(cursor).lock_owned().await, Ok(())),
        }
    }

    /// Write one batch on the blocking pool; the guard goes with it and comes back after.
    /// At most a few such writes run at once (`upload_io`), so uploads never take the
    /// threads that reads need.
    async fn write(&self, mut guard: Guard, batch: Vec<Bytes>) -> Writing {
        let store = Arc::clone(&self.store);
        let space = Arc::clone(&self.upload_space);
        let permit = Arc::clone(&self.upload_io).acquire_owned().await;
        tokio::task::spawn_blocking(move || {
            let result = match permit {
                Ok(_held) => write_batch(&store, &space, &mut guard, &batch),
                Err(_) => Err(RegistryError::Internal("upload I/O is closed".into())),
            };
            (guard, result)
        })
    }
}

/// Wait for a batch write. If its task died (it cannot fail short of a bug), the lock was
/// released as it unwound: take it again, and let the end hash the file anew.
async fn join_write(
    cursor: &Arc<tokio::sync::Mutex<Cursor>>,
    write: Writing,
) -> (Guard, Result<(), RegistryError>) {
    match write.await {
        Ok(done) => done,
        Err(e) => {
            let mut guard = Arc::clone(cursor).lock_owned().await;
            guard.hasher = None;
            let e = RegistryError::Internal(format!("upload write task failed: {e}"));
            (guard, Err(e))
        }
    }
}

fn guard_unknown(guard: Guard) -> (Guard, Result<(), RegistryError>) {
    let id = guard.id.clone();
    (guard, Err(RegistryError::BlobUploadUnknown(id)))
}

/// Append a batch at the cursor (blocking): room is taken first, the bytes are hashed as
/// written, and on failure the file is cut back to the cursor.
fn write_batch(
    store: &Store,
    space: &super::space::UploadSpace,
    cursor: &mut Cursor,
    batch: &[Bytes],
) -> Result<(), RegistryError> {
    let len: u64 = batch.iter().map(|b| b.len() as u64).sum();
    let available = store.disk_space().map_err(StoreError::from)?.available;
    space
        .admit(len, available)
        .map_err(|s| RegistryError::InsufficientStorage(s.to_string()))?;
    let mut file = match store.uploads.open(&cursor.id) {
        Ok(f) => f,
        Err(e) => {
            space.release(len);
            return Err(match e.kind() {
                // Finished, cancelled or expired by another request meanwhile.
                std::io::ErrorKind::NotFound => RegistryError::BlobUploadUnknown(cursor.id.clone()),
                _ => StoreError::from(e).into(),
            });
        }
    };
    match file.append(cursor.offset(), batch) {
        Ok(()) => {
            if let Some(h) = cursor.hasher.as_mut() {
                for chunk in batch {
                    h.update(chunk);
                }
            }
            cursor.set_offset(cursor.offset() + len);
            Ok(())
        }
        Err((e, after)) => {
            space.release(len);
            if after != cursor.offset() {
                // The cut-back failed: the file holds more than the hash covers.
                cursor.hasher = None;
                if after != u64::MAX {
                    cursor.set_offset(after);
                }
            }
            tracing::warn!(upload.id = %cursor.id, error = %e, "writing upload bytes failed");
            Err(StoreError::from(e).into())
        }
    }
}

/// The error for a body that failed to arrive.
fn body_failed(e: &std::io::Error) -> RegistryError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        RegistryError::BodyStalled(format!("the request body stalled ({e})"))
    } else {
        RegistryError::BlobUploadInvalid(format!("reading the request body failed ({e})"))
    }
}
