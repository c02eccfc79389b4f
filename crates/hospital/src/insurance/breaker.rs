//! The insurer's circuit breaker: a small state machine judged by the
//! server's clock (the one `TestApp::advance_clock` moves), so tests reach
//! a cool-down without sleeping.
//!
//! - **closed**: calls go through; each outcome is kept for `window`. When
//!   at least `min_calls` outcomes are in the window and more than
//!   `failure_ratio` of them failed (an error or a time-out), it opens.
//! - **open**: calls fail fast (no call is made) until `cool_down` has
//!   passed since it opened; then it is half-open.
//! - **half_open**: ONE trial call goes through; callers meanwhile fail
//!   fast. The trial's success closes it (with an empty window), its
//!   failure opens it again for another cool-down.
//!
//! A call is a [`Ticket`]: its outcome is given with [`Ticket::succeeded`]
//! or [`Ticket::failed`]; a ticket dropped without one (the request went
//! away mid-call) counts as a failure, so a lost trial never leaves the
//! breaker half-open forever.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{NaiveDateTime, TimeDelta};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum State {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// One trial call goes through.
    HalfOpen,
}

impl State {
    /// The name shown in `/readyz` details.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value of the `insurance_breaker_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How far back outcomes count.
    pub window: TimeDelta,
    /// Outcomes needed in the window before it may open.
    pub min_calls: usize,
    /// It opens when the failed share of the window is above this.
    pub failure_ratio: f64,
    /// How long it stays open before a trial.
    pub cool_down: TimeDelta,
}

/// What changed with a call or an outcome (to count and to show).
pub type OnChange = Box<dyn Fn(State) + Send + Sync>;

/// The breaker (shared by every worker of the server).
pub struct Breaker {
    settings: Settings,
    inner: Mutex<Inner>,
    on_change: Option<OnChange>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// (when, failed) of the calls finished while closed, oldest first.
    outcomes: VecDeque<(NaiveDateTime, bool)>,
    opened_at: Option<NaiveDateTime>,
    trial_in_flight: bool,
    /// The latest time it was shown (for a ticket dropped unfinished).
    latest: Option<NaiveDateTime>,
}

/// A snapshot for `/readyz` details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The state.
    pub state: State,
    /// Outcomes in the window.
    pub calls: usize,
    /// Failures among them.
    pub failures: usize,
}

/// Leave to make one call; say how it went.
pub struct Ticket {
    breaker: Arc<Breaker>,
    trial: bool,
    done: bool,
}

impl Breaker {
    /// A closed breaker; `on_change` hears every change of state.
    pub fn new(settings: Settings, on_change: Option<OnChange>) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner {
                state: State::Closed,
                outcomes: VecDeque::new(),
                opened_at: None,
                trial_in_flight: false,
                latest: None,
            }),
            on_change,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding it leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, inner: &mut Inner, state: State, now: NaiveDateTime) {
        if inner.state == state {
            return;
        }
        inner.state = state;
        match state {
            State::Open => {
                inner.opened_at = Some(now);
                inner.trial_in_flight = false;
            }
            State::Closed => {
                inner.opened_at = None;
                inner.outcomes.clear();
                inner.trial_in_flight = false;
            }
            State::HalfOpen => inner.trial_in_flight = false,
        }
        tracing::warn!(
            target: "hospital::insurance",
            state = state.name(),
            "insurance circuit breaker changed state"
        );
        if let Some(f) = &self.on_change {
            f(state);
        }
    }

    /// Open → half-open once the cool-down has passed; forget outcomes
    /// older than the window.
    fn catch_up(&self, inner: &mut Inner, now: NaiveDateTime) {
        inner.latest = Some(inner.latest.map_or(now, |l| l.max(now)));
        if inner.state == State::Open
            && inner
                .opened_at
                .is_some_and(|at| now >= at + self.settings.cool_down)
        {
            self.set(inner, State::HalfOpen, now);
        }
        let oldest = now - self.settings.window;
        while inner.outcomes.front().is_some_and(|(at, _)| *at <= oldest) {
            inner.outcomes.pop_front();
        }
    }

    /// The state at `now` (moving open to half-open after the cool-down).
    pub fn state(&self, now: NaiveDateTime) -> State {
        self.snapshot(now).state
    }

    /// State and window at `now`.
    pub fn snapshot(&self, now: NaiveDateTime) -> Snapshot {
        let mut inner = self.lock();
        self.catch_up(&mut inner, now);
        Snapshot {
            state: inner.state,
            calls: inner.outcomes.len(),
            failures: inner.outcomes.iter().filter(|(_, failed)| *failed).count(),
        }
    }

    /// Leave to call at `now`, or `None`: fail fast (open, or half-open
    /// with its trial already in flight).
    pub fn try_call(self: &Arc<Self>, now: NaiveDateTime) -> Option<Ticket> {
        let mut inner = self.lock();
        self.catch_up(&mut inner, now);
        let trial = match inner.state {
            State::Closed => false,
            State::Open => return None,
            State::HalfOpen if inner.trial_in_flight => return None,
            State::HalfOpen => {
                inner.trial_in_flight = true;
                true
            }
        };
        Some(Ticket {
            breaker: self.clone(),
            trial,
            done: false,
        })
    }

    fn finish(&self, trial: bool, failed: bool, now: NaiveDateTime) {
        let mut inner = self.lock();
        self.catch_up(&mut inner, now);
        match (inner.state, trial) {
            (State::HalfOpen, true) => {
                let next = if failed { State::Open } else { State::Closed };
                self.set(&mut inner, next, now);
            }
            (State::Closed, false) => {
                inner.outcomes.push_back((now, failed));
                let calls = inner.outcomes.len();
                let failures = inner.outcomes.iter().filter(|(_, f)| *f).count();
                if failed
                    && calls >= self.settings.min_calls
                    && failures as f64 > self.settings.failure_ratio * calls as f64
                {
                    self.set(&mut inner, State::Open, now);
                }
            }
            // A call that left while closed and came back after the breaker
            // opened (or a trial outlived by a change) changes nothing.
            _ => {}
        }
    }
}

impl Ticket {
    /// Whether this is the half-open breaker's one trial.
    pub fn is_trial(&self) -> bool {
        self.trial
    }

    /// The call succeeded (the insurer answered).
    pub fn succeeded(mut self, now: NaiveDateTime) {
        self.done = true;
        self.breaker.finish(self.trial, false, now);
    }

    /// The call failed (an error or a time-out).
    pub fn failed(mut self, now: NaiveDateTime) {
        self.done = true;
        self.breaker.finish(self.trial, true, now);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            // No clock at hand: the latest time the breaker was shown.
            let at = self.breaker.lock().latest.unwrap_or_else(common::db::now);
            self.breaker.finish(self.trial, true, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2027, 1, 4)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap()
    }

    fn secs(n: i64) -> TimeDelta {
        TimeDelta::seconds(n)
    }

    fn breaker() -> Arc<Breaker> {
        Arc::new(Breaker::new(
            Settings {
                window: secs(30),
                min_calls: 4,
                failure_ratio: 0.5,
                cool_down: secs(10),
            },
            None,
        ))
    }

    fn call(b: &Arc<Breaker>, now: NaiveDateTime, ok: bool) -> bool {
        match b.try_call(now) {
            Some(t) if ok => {
                t.succeeded(now);
                true
            }
            Some(t) => {
                t.failed(now);
                true
            }
            None => false,
        }
    }

    #[test]
    fn it_opens_only_above_the_ratio_with_enough_calls() {
        let b = breaker();
        let t = t0();
        // Three failures: fewer than min_calls, still closed.
        for _ in 0..3 {
            assert!(call(&b, t, false));
        }
        assert_eq!(b.state(t), State::Closed);
        // Exactly half failed (3 of 6) is not above 50%.
        for _ in 0..3 {
            assert!(call(&b, t, true));
        }
        assert_eq!(b.state(t), State::Closed);
        // 4 of 7 is.
        assert!(call(&b, t, false));
        assert_eq!(b.state(t), State::Open);
        assert!(!call(&b, t, true), "open fails fast");
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let b = breaker();
        let t = t0();
        for _ in 0..3 {
            assert!(call(&b, t, false));
        }
        // 31 s later the three failures are gone: one more is 1 of 1,
        // below min_calls.
        let later = t + secs(31);
        assert!(call(&b, later, false));
        let s = b.snapshot(later);
        assert_eq!((s.state, s.calls, s.failures), (State::Closed, 1, 1));
    }

    #[test]
    fn half_open_lets_one_trial_through_and_success_closes() {
        let b = breaker();
        let t = t0();
        for _ in 0..4 {
            call(&b, t, false);
        }
        assert_eq!(b.state(t + secs(9)), State::Open);
        assert!(b.try_call(t + secs(9)).is_none());
        let t2 = t + secs(10);
        assert_eq!(b.state(t2), State::HalfOpen);
        let trial = b.try_call(t2).expect("the trial");
        assert!(trial.is_trial());
        assert!(b.try_call(t2).is_none(), "a second caller fails fast");
        trial.succeeded(t2);
        let s = b.snapshot(t2);
        assert_eq!((s.state, s.calls), (State::Closed, 0));
        assert!(call(&b, t2, true));
    }

    #[test]
    fn a_failed_trial_opens_again_for_another_cool_down() {
        let b = breaker();
        let t = t0();
        for _ in 0..4 {
            call(&b, t, false);
        }
        let t2 = t + secs(15);
        assert!(call(&b, t2, false), "the trial went through and failed");
        assert_eq!(b.state(t2), State::Open);
        assert_eq!(b.state(t2 + secs(9)), State::Open);
        assert_eq!(b.state(t2 + secs(10)), State::HalfOpen);
    }

    #[test]
    fn a_dropped_trial_counts_as_failed() {
        let b = breaker();
        let t = t0();
        for _ in 0..4 {
            call(&b, t, false);
        }
        let t2 = t + secs(10);
        drop(b.try_call(t2).expect("the trial"));
        assert_ne!(b.state(t2), State::Closed);
        assert!(b.try_call(t2).is_none(), "open again, not stuck half-open");
    }

    #[test]
    fn late_outcomes_of_calls_begun_while_closed_change_nothing() {
        let b = breaker();
        let t = t0();
        let slow = b.try_call(t).expect("closed");
        for _ in 0..4 {
            call(&b, t, false);
        }
        assert_eq!(b.state(t), State::Open);
        slow.succeeded(t);
        assert_eq!(b.state(t), State::Open);
    }

    #[test]
    fn every_change_is_heard() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        let b = Arc::new(Breaker::new(
            Settings {
                window: secs(30),
                min_calls: 1,
                failure_ratio: 0.5,
                cool_down: secs(10),
            },
            Some(Box::new(move |s| h.lock().unwrap().push(s.gauge()))),
        ));
        let t = t0();
        call(&b, t, false);
        call(&b, t + secs(10), true);
        assert_eq!(*heard.lock().unwrap(), vec![1, 2, 0]);
    }
}
