//! Bearer tokens already verified, so a client's token costs one ES256 check and one look at
//! revocations and password changes, not one per request. A lookup sits on every
//! authenticated pull (bench/compare.sh measures bearer against no auth), so it is kept cheap:
//! the key is eight characters of the token's signature, used as the hash itself; the whole
//! token is compared only on a hit; the claims are shared, not copied.
//!
//! Entries stay valid until `clear`, which every change to users, tokens or rules calls.
//! A verification that raced such a change must not file its now stale answer: `insert`
//! takes the epoch read before the checks and drops the entry if a `clear` came since.

use super::jwt::Claims;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

/// Cleared when it grows past this many tokens.
const LIMIT: usize = 10_000;

/// A verified token, filed under eight characters of its signature.
struct Entry {
    whole: Box<str>,
    claims: Arc<Claims>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every `clear`.
    epoch: u64,
    entries: HashMap<u64, Entry, BuildHasherDefault<KeyIsHash>>,
}

#[derive(Default)]
pub struct VerifiedTokens {
    inner: RwLock<Inner>,
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
    /// The claims of `token` if it was verified since the last `clear`.
    pub fn get(&self, token: &str) -> Option<Arc<Claims>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match inner.entries.get(&key(token)) {
            Some(entry) if &*entry.whole == token => Some(Arc::clone(&entry.claims)),
            _ => None,
        }
    }

    /// The epoch to pass to `insert`, read before verifying.
    pub fn epoch(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).epoch
    }

    /// File `token` as verified, unless a `clear` came after `epoch` was read.
    pub fn insert(&self, token: &str, claims: Arc<Claims>, epoch: u64) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.epoch != epoch {
            return;
        }
        if inner.entries.len() >= LIMIT {
            inner.entries.clear();
        }
        let entry = Entry {
            whole: token.into(),
            claims,
        };
        inner.entries.insert(key(token), entry);
    }

    pub fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.epoch += 1;
        inner.entries.clear();
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
    fn it_stays_bounded() {
        let cache = VerifiedTokens::default();
        for i in 0..LIMIT + 5 {
            cache.insert(&format!("h.p.{i:08}"), claims("a"), cache.epoch());
        }
        assert!(cache.inner.read().unwrap().entries.len() <= LIMIT);
        assert!(cache.get(&format!("h.p.{:08}", LIMIT + 4)).is_some());
    }
}
