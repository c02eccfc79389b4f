//! Rate limits per client address (governor's GCRA), used on login so one
//! address cannot try passwords across many accounts faster than the
//! configured pace (per-account lockout covers guessing one account).

use std::num::NonZeroU32;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

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
