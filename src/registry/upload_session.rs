//! Upload sessions in memory. Each has a cursor (bytes kept, hash state) behind a lock that
//! one request holds while it writes, and beside the lock what a status request or a cancel
//! needs, so neither ever waits behind a writer whose client has stalled.

use crate::oci::{Digest, Hasher};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Ended uploads remembered, so that a request that looked one up just before it ended
/// cannot bring it back.
const ENDED_REMEMBERED: usize = 4096;

/// The lock a writing request holds. Owned, so it can travel into a blocking write and be
/// given back only when that write is done, whatever happened to the request meanwhile.
pub(super) type Guard = tokio::sync::OwnedMutexGuard<Cursor>;

/// Where an upload stands.
pub(super) struct Cursor {
    /// The upload file's name under `uploads/`.
    pub id: String,
    /// Bytes in the file.
    offset: u64,
    /// sha256 over exactly those bytes; `None` after a restart or a failed cut-back (the
    /// file is hashed again at the end then).
    pub hasher: Option<Hasher>,
    /// Set once the upload is finished or cancelled; later requests find it unknown.
    pub closed: Option<Closed>,
    shown: Arc<AtomicU64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Closed {
    Completed(Digest),
    Cancelled,
}

impl Cursor {
    pub fn new(id: String, offset: u64, hasher: Option<Hasher>) -> Cursor {
        Cursor {
            id,
            offset,
            hasher,
            closed: None,
            shown: Arc::new(AtomicU64::new(offset)),
        }
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file's length after a write or a cut-back.
    pub fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }

    /// Make the offset what status requests report: done when a chunk has been kept whole
    /// (or taken back), so a status never shows bytes of a chunk still arriving, which may
    /// yet be taken back.
    pub fn publish(&self) {
        self.shown.store(self.offset, Ordering::Release);
    }
}

/// An upload session as requests share it.
pub(super) struct Session {
    pub repo: String,
    pub cursor: Arc<tokio::sync::Mutex<Cursor>>,
    /// The cursor's offset, readable while a writer holds the lock.
    shown: Arc<AtomicU64>,
    /// Cancelled by DELETE: a writer stops reading its body, waiters give up.
    pub cancel: CancellationToken,
    ended: AtomicBool,
}

impl Session {
    pub fn new(repo: String, cursor: Cursor) -> Session {
        Session {
            repo,
            shown: Arc::clone(&cursor.shown),
            cursor: Arc::new(tokio::sync::Mutex::new(cursor)),
            cancel: CancellationToken::new(),
            ended: AtomicBool::new(false),
        }
    }

    /// Bytes kept so far, without waiting for a writer.
    pub fn offset(&self) -> u64 {
        self.shown.load(Ordering::Acquire)
    }

    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

/// The sessions requests have touched since start-up.
#[derive(Default)]
pub struct UploadSessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    live: HashMap<String, Arc<Session>>,
    ended: HashSet<String>,
    ended_order: VecDeque<String>,
}

impl UploadSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().live.get(id).cloned()
    }

    /// Keep a session; if another request kept one for `id` first, that one wins. `None`
    /// when the upload ended after the caller looked it up in the store.
    pub(super) fn adopt(&self, id: &str, session: Session) -> Option<Arc<Session>> {
        let mut inner = self.lock();
        if inner.ended.contains(id) {
            return None;
        }
        Some(Arc::clone(
            inner
                .live
                .entry(id.to_owned())
                .or_insert_with(|| Arc::new(session)),
        ))
    }

    /// The upload is finished or cancelled: forget it, and remember that it ended.
    pub(super) fn end(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(session) = inner.live.remove(id) {
            session.ended.store(true, Ordering::Release);
        }
        if inner.ended.insert(id.to_owned()) {
            inner.ended_order.push_back(id.to_owned());
        }
        while inner.ended_order.len() > ENDED_REMEMBERED {
            if let Some(old) = inner.ended_order.pop_front() {
                inner.ended.remove(&old);
            }
        }
    }

    /// How many sessions are in memory (for the JSON API).
    pub(super) fn live_count(&self) -> usize {
        self.lock().live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new("r".into(), Cursor::new("u".into(), 5, None))
    }

    #[test]
    fn an_ended_upload_cannot_be_adopted_again() {
        let sessions = UploadSessions::default();
        let kept = sessions.adopt("u", session()).expect("adopted");
        assert_eq!(kept.offset(), 5);
        sessions.end("u");
        assert!(kept.has_ended());
        assert!(sessions.get("u").is_none());
        assert!(sessions.adopt("u", session()).is_none());
    }

    #[test]
    fn the_first_adopted_session_wins() {
        let sessions = UploadSessions::default();
        let a = sessions.adopt("u", session()).expect("adopted");
        let b = sessions.adopt("u", session()).expect("adopted");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[tokio::test]
    async fn the_offset_is_readable_while_a_writer_holds_the_lock() {
        let s = session();
        let mut guard = Arc::clone(&s.cursor).lock_owned().await;
        guard.set_offset(9);
        assert!(s.cursor.try_lock().is_err(), "held by the writer");
        assert_eq!(s.offset(), 5, "a chunk still arriving is not shown");
        guard.publish();
        assert_eq!(s.offset(), 9);
    }
}
