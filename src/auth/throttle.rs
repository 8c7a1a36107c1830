//! Failed logins: ten in a row for one user from one client address lock that user out for
//! that address for a while (an attacker elsewhere cannot lock a user out of their own
//! address), and an address that fails too often across users is refused for a while.
//! In memory: a restart forgives, which is acceptable for a lock measured in minutes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures of one address, across users, before it is refused for a while.
const ADDRESS_FAILURES: usize = 50;
const ADDRESS_WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct Throttle {
    after: u32,
    lock_for: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// (user, address) -> failures in a row, and the end of the lock they caused.
    pairs: HashMap<(String, IpAddr), (u32, Option<Instant>)>,
    /// address -> when its recent failures happened.
    addresses: HashMap<IpAddr, VecDeque<Instant>>,
}

/// Why a login is refused before its password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// Too many failures for this user from this address.
    Account { for_secs: u64 },
    /// Too many failures from this address.
    Address { for_secs: u64 },
}

impl Throttle {
    pub fn new(after: u32, lock_for: Duration) -> Throttle {
        Throttle {
            after: after.max(1),
            lock_for,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `user` may try a password from `address` now.
    pub fn check(&self, user: &str, address: IpAddr, now: Instant) -> Result<(), Locked> {
        let mut state = self.state();
        if let Some((_, Some(until))) = state.pairs.get(&(user.to_owned(), address)) {
            if *until > now {
                return Err(Locked::Account {
                    for_secs: (*until - now).as_secs().max(1),
                });
            }
        }
        if let Some(times) = state.addresses.get_mut(&address) {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > ADDRESS_WINDOW)
            {
                times.pop_front();
            }
            if times.len() >= ADDRESS_FAILURES {
                let oldest = times.front().copied().unwrap_or(now);
                let left = ADDRESS_WINDOW.saturating_sub(now.duration_since(oldest));
                return Err(Locked::Address {
                    for_secs: left.as_secs().max(1),
                });
            }
        }
        Ok(())
    }

    /// A wrong password: count it; the tenth in a row locks the pair.
    pub fn failed(&self, user: &str, address: IpAddr, now: Instant) {
        let (after, lock_for) = (self.after, self.lock_for);
        let mut state = self.state();
        let entry = state
            .pairs
            .entry((user.to_owned(), address))
            .or_insert((0, None));
        if entry.1.is_some_and(|until| until <= now) {
            *entry = (0, None); // the lock ended: start counting afresh
        }
        entry.0 += 1;
        if entry.0 >= after {
            entry.1 = Some(now + lock_for);
        }
        state.addresses.entry(address).or_default().push_back(now);
        // Keep the maps small: forget pairs whose lock is long over.
        if state.pairs.len() > 100_000 {
            state
                .pairs
                .retain(|_, (_, until)| until.is_some_and(|u| u > now));
        }
    }

    /// A right password: the pair starts from zero.
    pub fn succeeded(&self, user: &str, address: IpAddr) {
        self.state().pairs.remove(&(user.to_owned(), address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_lock_the_user_for_that_address_only_and_the_lock_ends() {
        let t = Throttle::new(10, Duration::from_secs(60));
        let attacker: IpAddr = "10.0.0.9".parse().expect("ip");
        let user: IpAddr = "10.0.0.1".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..9 {
            assert!(t.check("alice", attacker, start).is_ok());
            t.failed("alice", attacker, start);
        }
        assert!(t.check("alice", attacker, start).is_ok());
        t.failed("alice", attacker, start);
        assert!(matches!(
            t.check("alice", attacker, start),
            Err(Locked::Account { .. })
        ));
        assert!(
            t.check("alice", user, start).is_ok(),
            "alice's own address is not locked"
        );
        assert!(t.check("bob", attacker, start).is_ok());
        let later = start + Duration::from_secs(61);
        assert!(t.check("alice", attacker, later).is_ok(), "the lock ends");
        t.failed("alice", attacker, later);
        assert!(
            t.check("alice", attacker, later).is_ok(),
            "counting starts afresh"
        );
    }

    #[test]
    fn a_success_resets_and_a_noisy_address_is_refused() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        let now = Instant::now();
        t.failed("a", ip, now);
        t.failed("a", ip, now);
        t.succeeded("a", ip);
        t.failed("a", ip, now);
        assert!(t.check("a", ip, now).is_ok());
        for i in 0..ADDRESS_FAILURES {
            t.failed(&format!("u{i}"), ip, now);
        }
        assert!(matches!(
            t.check("fresh", ip, now),
            Err(Locked::Address { .. })
        ));
    }
}
