//! Rate limits on guessing passwords.
//!
//! - [`PerAddress`] (governor's GCRA): one client address cannot try
//!   passwords across many accounts faster than the configured pace.
//! - [`PairThrottle`]: failures of one account from one client address;
//!   after the threshold that address is refused for that account for a
//!   while, without stopping the owner elsewhere (NIST 800-63B 5.2.2).
//!   The per-account growing delay lives in the database (`users`).
//!
//! Clients are keyed by [`client_key`]: an IPv6 client is one /64, since
//! one host is usually given a whole /64 to pick addresses from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A limiter keyed by client address.
#[derive(Clone)]
pub struct PerAddress {
    inner: Arc<RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>>,
}

impl PerAddress {
    /// `n` attempts per minute per address (bursts up to `n`); `None` when `n` is 0.
    pub fn per_minute(n: u32) -> Option<Self> {
        let n = NonZeroU32::new(n)?;
        Some(Self {
            inner: Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
        })
    }

    /// Take one attempt for `addr`; false when over the limit.
    pub fn allow(&self, addr: &str) -> bool {
        // Forget addresses that have been quiet, so the map stays bounded.
        if self.inner.len() > 10_000 {
            self.inner.retain_recent();
        }
        self.inner.check_key(&addr.to_string()).is_ok()
    }
}

/// The key a client is paced by: its IPv4 address, or its IPv6 /64.
pub fn client_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or(ip.to_string(), |v4| v4.to_string()),
        _ => ip.to_string(),
    }
}

/// Failures per (account, client key), kept in memory: forgetting them at
/// a restart costs an attacker's address nothing it could not have had by
/// waiting, and keeps the hot path off the database.
#[derive(Clone)]
pub struct PairThrottle {
    threshold: u32,
    block: Duration,
    pairs: Arc<Mutex<HashMap<(String, String), Pair>>>,
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// Entries kept before quiet ones are dropped.
const MAX_PAIRS: usize = 100_000;

impl PairThrottle {
    /// Block a pair for `block` after `threshold` failures in a row.
    pub fn new(threshold: u32, block: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            block,
            pairs: Arc::default(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, String), Pair>) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update of
        // counters; they stay usable.
        let mut guard = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Whether `client` is refused for `account` now.
    pub fn is_blocked(&self, account: &str, client: &str) -> bool {
        let now = Instant::now();
        self.with(|m| {
            m.get(&(account.to_string(), client.to_string()))
                .and_then(|p| p.blocked_until)
                .is_some_and(|t| t > now)
        })
    }

    /// Count a failure; true when this one blocked the pair.
    pub fn fail(&self, account: &str, client: &str) -> bool {
        let now = Instant::now();
        let (threshold, block) = (self.threshold, self.block);
        self.with(|m| {
            if m.len() >= MAX_PAIRS {
                m.retain(|_, p| p.blocked_until.is_some_and(|t| t > now) || now - p.last < block);
            }
            let p = m
                .entry((account.to_string(), client.to_string()))
                .or_insert(Pair {
                    failures: 0,
                    blocked_until: None,
                    last: now,
                });
            p.last = now;
            // Guesses already in flight when the block began add nothing.
            if p.blocked_until.is_some_and(|t| t > now) {
                return false;
            }
            p.failures += 1;
            if p.failures % threshold == 0 {
                p.blocked_until = Some(now + block);
                true
            } else {
                false
            }
        })
    }

    /// A success from `client` clears that pair.
    pub fn succeed(&self, account: &str, client: &str) {
        self.with(|m| m.remove(&(account.to_string(), client.to_string())));
    }

    /// An admin's unlock clears every pair of `account`.
    pub fn forget_account(&self, account: &str) {
        self.with(|m| m.retain(|(a, _), _| a != account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            client_key("2001:db8:1:2:bbbb::9"),
            client_key("2001:db8:1:2:aaaa::1")
        );
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key("::ffff:192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn a_pair_blocks_after_the_threshold_and_only_that_pair() {
        let t = PairThrottle::new(3, Duration::from_secs(60));
        assert!(!t.fail("u", "a"));
        assert!(!t.fail("u", "a"));
        assert!(!t.is_blocked("u", "a"));
        assert!(t.fail("u", "a"));
        assert!(t.is_blocked("u", "a"));
        assert!(!t.is_blocked("u", "b"));
        assert!(!t.is_blocked("v", "a"));
        t.forget_account("u");
        assert!(!t.is_blocked("u", "a"));
    }

    #[test]
    fn limits_each_address_separately() {
        let l = PerAddress::per_minute(2).unwrap();
        assert!(l.allow("10.0.0.1"));
        assert!(l.allow("10.0.0.1"));
        assert!(!l.allow("10.0.0.1"));
        assert!(l.allow("10.0.0.2"));
        assert!(PerAddress::per_minute(0).is_none());
    }
}
