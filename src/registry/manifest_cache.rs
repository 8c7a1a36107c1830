//! Answers to manifest GETs and HEADs, kept in memory so a repeated pull needs no trip to
//! the blocking pool: that trip (a thread hand-off each way) was most of a manifest GET's
//! cost (perf: 35% of samples in task switches at 16 connections).
//!
//! Correctness rests on one rule: every write that can change an answer for a repository
//! calls [`ManifestCache::invalidate`] after it commits. A reader takes a ticket before it
//! reads the store, and its answer is kept only if the repository saw no write since.

use super::ManifestContent;
use crate::oci::accept::Accept;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bytes of manifest bodies kept in all. Past it, whole repositories are dropped.
const BUDGET: usize = 16 * 1024 * 1024;
/// Bigger manifests (rare: huge indexes) are always read from the store.
const MAX_ENTRY: usize = 256 * 1024;

#[derive(Default)]
pub(super) struct ManifestCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Counts writes; a ticket is its value when a read began.
    clock: u64,
    /// The clock at each repository's last write.
    last_write: HashMap<String, u64>,
    /// repository -> (reference, what the client reads) -> answer
    repos: HashMap<String, HashMap<(String, Accept), ManifestContent>>,
    bytes: usize,
}

/// Taken before reading the store; an answer read under it is kept only if still current.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket(u64);

impl ManifestCache {
    pub(super) fn get(
        &self,
        repo: &str,
        reference: &str,
        accept: &Accept,
    ) -> Option<ManifestContent> {
        let inner = self.lock();
        inner
            .repos
            .get(repo)?
            .get(&(reference.to_owned(), *accept))
            .cloned()
    }

    /// A number that changes with every write to any repository.
    pub(super) fn generation(&self) -> u64 {
        self.lock().clock
    }

    pub(super) fn ticket(&self) -> Ticket {
        Ticket(self.lock().clock)
    }

    pub(super) fn insert(
        &self,
        ticket: Ticket,
        repo: &str,
        reference: &str,
        accept: &Accept,
        answer: &ManifestContent,
    ) {
        if answer.body.len() > MAX_ENTRY {
            return;
        }
        let mut inner = self.lock();
        if inner.last_write.get(repo).is_some_and(|&w| w > ticket.0) {
            return; // written since this answer was read: it may be stale
        }
        while inner.bytes + answer.body.len() > BUDGET {
            let Some(victim) = inner.repos.keys().next().cloned() else {
                break;
            };
            inner.drop_repo(&victim);
        }
        let entries = inner.repos.entry(repo.to_owned()).or_default();
        let old = entries.insert((reference.to_owned(), *accept), answer.clone());
        let freed = old.map_or(0, |o| o.body.len());
        inner.bytes = inner.bytes + answer.body.len() - freed;
    }

    /// Forget every answer for `repo`. Call after a write to it has committed.
    pub(super) fn invalidate(&self, repo: &str) {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.last_write.insert(repo.to_owned(), now);
        inner.drop_repo(repo);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is consistent after every statement; a panic elsewhere cannot corrupt it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn drop_repo(&mut self, repo: &str) {
        if let Some(entries) = self.repos.remove(repo) {
            self.bytes -= entries.values().map(|e| e.body.len()).sum::<usize>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Digest;

    fn answer(body: &[u8]) -> ManifestContent {
        ManifestContent {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::sha256_of(body),
            body: bytes::Bytes::copy_from_slice(body),
        }
    }

    const NONE: Accept = Accept {
        schema1: false,
        schema2: false,
        list: false,
        oci: false,
        oci_index: false,
        any: false,
    };
    const OCI: Accept = Accept { oci: true, ..NONE };

    #[test]
    fn keeps_an_answer_per_reference_and_accept() {
        let cache = ManifestCache::default();
        let t = cache.ticket();
        cache.insert(t, "r", "latest", &OCI, &answer(b"oci"));
        assert_eq!(
            cache.get("r", "latest", &OCI).map(|a| a.body),
            Some("oci".into())
        );
        assert!(cache.get("r", "latest", &NONE).is_none());
        assert!(cache.get("r", "other", &OCI).is_none());
        assert!(cache.get("s", "latest", &OCI).is_none());
    }

    #[test]
    fn a_write_forgets_the_repository_and_only_it() {
        let cache = ManifestCache::default();
        let t = cache.ticket();
        cache.insert(t, "r", "latest", &OCI, &answer(b"old"));
        cache.insert(t, "s", "latest", &OCI, &answer(b"kept"));
        cache.invalidate("r");
        assert!(cache.get("r", "latest", &OCI).is_none());
        assert!(cache.get("s", "latest", &OCI).is_some());
        assert_eq!(cache.lock().bytes, 4);
    }

    #[test]
    fn an_answer_read_before_a_write_is_not_kept() {
        let cache = ManifestCache::default();
        let before = cache.ticket();
        cache.invalidate("r"); // a push commits while the read is in flight
        cache.insert(before, "r", "latest", &OCI, &answer(b"maybe stale"));
        assert!(cache.get("r", "latest", &OCI).is_none());
        // A write to another repository does not matter; a fresh ticket is kept.
        cache.insert(before, "s", "latest", &OCI, &answer(b"fine"));
        assert!(cache.get("s", "latest", &OCI).is_some());
        let after = cache.ticket();
        cache.insert(after, "r", "latest", &OCI, &answer(b"new"));
        assert_eq!(
            cache.get("r", "latest", &OCI).map(|a| a.body),
            Some("new".into())
        );
    }

    #[test]
    fn stays_within_its_budget() {
        let cache = ManifestCache::default();
        let big = vec![b'x'; MAX_ENTRY];
        for i in 0..(2 * BUDGET / MAX_ENTRY) {
            cache.insert(cache.ticket(), &format!("r{i}"), "t", &OCI, &answer(&big));
            assert!(cache.lock().bytes <= BUDGET);
        }
        let too_big = vec![b'x'; MAX_ENTRY + 1];
        cache.insert(cache.ticket(), "huge", "t", &OCI, &answer(&too_big));
        assert!(cache.get("huge", "t", &OCI).is_none());
        // A replaced answer gives its bytes back.
        let cache = ManifestCache::default();
        cache.insert(cache.ticket(), "r", "t", &OCI, &answer(b"12345"));
        cache.insert(cache.ticket(), "r", "t", &OCI, &answer(b"12"));
        assert_eq!(cache.lock().bytes, 2);
    }
}
