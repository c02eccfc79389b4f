//! The clock sessions are judged by. Real time by default; tests move it
//! forward (through the app's [`AuthContext`](super::AuthContext)) to reach
//! an idle or absolute expiry without sleeping. Nothing outside the process
//! can move it: no route, no configuration key.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{NaiveDateTime, TimeDelta};

/// Real time plus an offset that only in-process code (the tests) changes.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// The current time by this clock (UTC, microseconds, as stored).
    pub fn now(&self) -> NaiveDateTime {
        crate::db::now() + TimeDelta::seconds(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Move the clock `secs` seconds forward (tests only).
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let c = Clock::default();
        let before = c.now();
        c.advance(3600);
        assert!(c.now() - before >= TimeDelta::seconds(3600));
    }
}
