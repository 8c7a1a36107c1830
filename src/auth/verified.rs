//! Bearer tokens already verified, so a client's token costs one ES256 check and one look at
//! revocations and password changes, not one per request. A lookup sits on every
//! authenticated pull (bench/compare.sh measures bearer against no auth), so it is kept cheap:
//! each server thread keeps its own map (a lock shared by the threads cost more than the
//! lookup, perf at 64 connections), the key is eight characters of the token's signature used
//! as the hash itself, the whole token is compared only on a hit, and the claims are shared.
//!
//! Entries are good until `clear`, which every change to users, tokens or rules calls: it
//! bumps an epoch that every lookup reads, and a thread whose entries are of an older epoch
//! drops them. A verification that raced such a change files its answer under the epoch it
//! read before checking, so that answer is never found after the change.

use super::jwt::Claims;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A thread drops its entries when it holds more than this many tokens.
const LIMIT: usize = 10_000;

/// A verified token, filed under eight characters of its signature.
struct Entry {
    whole: Box<str>,
    claims: Arc<Claims>,
}

/// One thread's verified tokens, for one cache and one epoch.
#[derive(Default)]
struct Local {
    cache: u64,
    epoch: u64,
    entries: HashMap<u64, Entry, BuildHasherDefault<KeyIsHash>>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::default();
}

/// Tells caches apart (tests run several in one process, on shared threads).
static NEXT_CACHE: AtomicU64 = AtomicU64::new(1);

pub struct VerifiedTokens {
    id: u64,
    epoch: AtomicU64,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            id: NEXT_CACHE.fetch_add(1, Ordering::Relaxed),
            epoch: AtomicU64::new(0),
        }
    }
}

/// The key already is a hash: eight characters of an ECDSA signature, random to whoever did
/// not sign it. Only tokens hoist signed are inserted, so no one can fill a bucket.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The first eight bytes of the signature segment (the end of the token), as a number.
fn key(token: &str) -> u64 {
    let signature = token.rsplit_once('.').map_or(token, |(_, s)| s).as_bytes();
    let mut k = [0u8; 8];
    let n = signature.len().min(8);
    k[..n].copy_from_slice(&signature[..n]);
    u64::from_le_bytes(k)
}

impl VerifiedTokens {
    /// The claims of `token` if this thread verified it since the last `clear`.
    pub fn get(&self, token: &str) -> Option<Arc<Claims>> {
        let epoch = self.epoch();
        LOCAL.with(|local| {
            let local = local.borrow();
            if local.cache != self.id || local.epoch != epoch {
                return None;
            }
            match local.entries.get(&key(token)) {
                Some(entry) if &*entry.whole == token => Some(Arc::clone(&entry.claims)),
                _ => None,
            }
        })
    }

    /// The epoch to pass to `insert`, read before verifying.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// File `token` as verified against the state of `epoch`.
    pub fn insert(&self, token: &str, claims: Arc<Claims>, epoch: u64) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if local.cache != self.id || local.epoch != epoch || local.entries.len() >= LIMIT {
                local.entries.clear();
                local.cache = self.id;
                local.epoch = epoch;
            }
            let entry = Entry {
                whole: token.into(),
                claims,
            };
            local.entries.insert(key(token), entry);
        })
    }

    /// Forget every verified token, on every thread.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str) -> Arc<Claims> {
        Arc::new(Claims {
            iss: "hoist".into(),
            sub: sub.into(),
            aud: "hoist".into(),
            exp: 2,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            access: Vec::new(),
            typ: None,
            tok: None,
            gen: 0,
        })
    }

    #[test]
    fn only_the_same_whole_token_finds_its_claims() {
        let cache = VerifiedTokens::default();
        cache.insert("h.p.signature", claims("alice"), cache.epoch());
        assert_eq!(cache.get("h.p.signature").expect("cached").sub, "alice");
        // Same signature (so the same key), different header or payload: not what was verified.
        assert!(cache.get("h.other.signature").is_none());
        assert!(cache.get("signature").is_none());
        assert!(cache.get("h.p.signaturX").is_none());
    }

    #[test]
    fn a_clear_drops_everything_and_any_answer_checked_before_it() {
        let cache = VerifiedTokens::default();
        let before = cache.epoch();
        cache.insert("h.p.aaaaaaaa", claims("alice"), before);
        cache.clear();
        assert!(cache.get("h.p.aaaaaaaa").is_none());
        // Verified against the state before the clear: not filed.
        cache.insert("h.p.bbbbbbbb", claims("bob"), before);
        assert!(cache.get("h.p.bbbbbbbb").is_none());
        cache.insert("h.p.bbbbbbbb", claims("bob"), cache.epoch());
        assert!(cache.get("h.p.bbbbbbbb").is_some());
    }

    #[test]
    fn each_cache_and_each_thread_has_its_own_entries() {
        let a = VerifiedTokens::default();
        let b = VerifiedTokens::default();
        a.insert("h.p.aaaaaaaa", claims("alice"), a.epoch());
        assert!(b.get("h.p.aaaaaaaa").is_none(), "another cache");
        assert!(a.get("h.p.aaaaaaaa").is_some());
        let a = Arc::new(a);
        let other = Arc::clone(&a);
        let elsewhere = std::thread::spawn(move || other.get("h.p.aaaaaaaa").is_some());
        assert!(
            !elsewhere.join().unwrap(),
            "another thread verifies for itself"
        );
        // A clear on any thread reaches this one's entries.
        let other = Arc::clone(&a);
        std::thread::spawn(move || other.clear()).join().unwrap();
        assert!(a.get("h.p.aaaaaaaa").is_none());
    }

    #[test]
    fn it_stays_bounded() {
        let cache = VerifiedTokens::default();
        for i in 0..LIMIT + 5 {
            cache.insert(&format!("h.p.{i:08}"), claims("a"), cache.epoch());
        }
        assert!(LOCAL.with(|l| l.borrow().entries.len()) <= LIMIT);
        assert!(cache.get(&format!("h.p.{:08}", LIMIT + 4)).is_some());
    }
}
