//! Insurance eligibility: registration (`POST /patients`) and booking
//! (`POST /appointments`) ask the external insurer whether the patient's
//! insurance is valid and keep the answer on the record
//! (`insurance_eligibility`, `insurance_checked_at`).
//!
//! What is sent is the minimum: the member id (the patient's policy
//! number) and the payer (the insurer's name), as `{"member_id", "payer"}`
//! in a POST to `[insurance] url`; nothing else about the patient. None of
//! it (nor the insurer's answer) is logged: only the breaker's changes of
//! state are, without any request data.
//!
//! The insurer never turns into an error for the user: a time-out, an
//! error answer or an open circuit breaker ([`breaker`]) records
//! `unverified` and the registration or booking goes on. The call is made
//! before the write transaction, never inside it.

pub mod breaker;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::{bail, Context};
use chrono::{NaiveDateTime, TimeDelta};
use common::config::Config;
use common::http::metrics::ServerMetrics;
use common::http::ReadyDetails;
use common::server::{AppDataFn, Section};
use prometheus::{IntCounterVec, IntGauge, Opts};
use serde::{Deserialize, Serialize};
use serde_json::json;

use breaker::{Breaker, Settings, State};

/// `[insurance]`: the insurer and its circuit breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsuranceSection {
    /// The insurer's eligibility endpoint (https; http only on loopback).
    /// Absent: no call is made, eligibility is `not_checked`.
    pub url: Option<String>,
    /// How long one call may take (100 to 60000 ms).
    pub timeout_ms: u64,
    /// How far back the breaker counts outcomes (1 to 3600 s).
    pub window_secs: i64,
    /// Outcomes needed in the window before it may open (1 to 1000).
    pub min_calls: usize,
    /// It opens when more than this share of the window failed (0 to 1, exclusive of 1).
    pub failure_ratio: f64,
    /// How long it stays open before one trial call (1 to 3600 s).
    pub cool_down_secs: i64,
}

impl Default for InsuranceSection {
    fn default() -> Self {
        Self {
            url: None,
            timeout_ms: 2000,
            window_secs: 30,
            min_calls: 5,
            failure_ratio: 0.5,
            cool_down_secs: 10,
        }
    }
}

/// `[insurance]`, as the hospital's spec lists it.
pub const SECTION: Section = Section {
    name: "insurance",
    load,
};

/// An eligibility as kept on a patient or an appointment.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum InsuranceEligibility {
    /// The insurer said the member is covered.
    Eligible,
    /// The insurer said the member is not covered.
    Ineligible,
    /// The insurer could not be asked (time-out, error, circuit breaker open).
    Unverified,
    /// Not asked: no insurance on the record, or no insurer configured.
    NotChecked,
}

impl InsuranceEligibility {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// From the stored name (an unknown one reads as `not_checked`).
    pub fn parse(s: &str) -> Self {
        s.parse().unwrap_or(Self::NotChecked)
    }

    /// Whether the insurer answered (eligible or ineligible).
    pub fn is_answer(self) -> bool {
        matches!(self, Self::Eligible | Self::Ineligible)
    }
}

/// An outcome and when it was reached (`None` when not checked).
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// The outcome.
    pub eligibility: InsuranceEligibility,
    /// When (by the server's clock).
    pub at: Option<NaiveDateTime>,
}

impl Checked {
    /// Nothing asked.
    pub const NOT_CHECKED: Self = Self {
        eligibility: InsuranceEligibility::NotChecked,
        at: None,
    };
}

/// What the insurer is sent: the minimum.
#[derive(Serialize)]
struct Request<'a> {
    member_id: &'a str,
    payer: &'a str,
}

/// What the insurer answers.
#[derive(Deserialize)]
struct Answer {
    eligible: bool,
}

/// The insurer client, its breaker and its counters (one per server).
pub struct Insurer {
    client: Option<(reqwest::Client, reqwest::Url)>,
    breaker: Arc<Breaker>,
    calls: IntCounterVec,
}

impl Insurer {
    /// Ask whether `member_id` at `payer` is covered, at `now` by the
    /// server's clock. Never fails: see the module documentation.
    pub async fn check(
        &self,
        member_id: &str,
        payer: &str,
        now_fn: impl Fn() -> NaiveDateTime,
    ) -> Checked {
        let Some((client, url)) = &self.client else {
            return Checked::NOT_CHECKED;
        };
        let unverified = |at| Checked {
            eligibility: InsuranceEligibility::Unverified,
            at: Some(at),
        };
        let Some(ticket) = self.breaker.try_call(now_fn()) else {
            self.count("rejected");
            return unverified(now_fn());
        };
        let sent = client
            .post(url.clone())
            .json(&Request { member_id, payer })
            .send()
            .await;
        let answer = match sent {
            Ok(r) if r.status().is_success() => {
                r.json::<Answer>().await.map_err(|e| e.is_timeout())
            }
            Ok(_) => Err(false),
            Err(e) => Err(e.is_timeout()),
        };
        let now = now_fn();
        match answer {
            Ok(a) => {
                ticket.succeeded(now);
                let eligibility = if a.eligible {
                    InsuranceEligibility::Eligible
                } else {
                    InsuranceEligibility::Ineligible
                };
                self.count(eligibility.as_str());
                Checked {
                    eligibility,
                    at: Some(now),
                }
            }
            Err(timed_out) => {
                ticket.failed(now);
                self.count(if timed_out { "timeout" } else { "error" });
                unverified(now)
            }
        }
    }

    fn count(&self, outcome: &str) {
        self.calls.with_label_values(&[outcome]).inc();
    }

    /// The breaker's state at `now`.
    pub fn state(&self, now: NaiveDateTime) -> State {
        self.breaker.state(now)
    }

    /// What `/readyz` shows the admin.
    pub fn details(&self, now: NaiveDateTime) -> serde_json::Value {
        let s = self.breaker.snapshot(now);
        json!({
            "configured": self.client.is_some(),
            "breaker": s.state.name(),
            "calls_in_window": s.calls,
            "failures_in_window": s.failures,
        })
    }
}

/// Check `[insurance]`, build the client and the breaker, and register
/// them with the breaker's metrics and `/readyz` details.
fn load(config: &Config) -> anyhow::Result<AppDataFn> {
    let s: InsuranceSection = config.section("insurance")?.unwrap_or_default();
    if !(100..=60_000).contains(&s.timeout_ms) {
        bail!("insurance.timeout_ms must be between 100 and 60000");
    }
    if !(1..=3600).contains(&s.window_secs) {
        bail!("insurance.window_secs must be between 1 and 3600");
    }
    if !(1..=1000).contains(&s.min_calls) {
        bail!("insurance.min_calls must be between 1 and 1000");
    }
    if !(0.0..1.0).contains(&s.failure_ratio) {
        bail!("insurance.failure_ratio must be at least 0 and below 1");
    }
    if !(1..=3600).contains(&s.cool_down_secs) {
        bail!("insurance.cool_down_secs must be between 1 and 3600");
    }
    let client = match &s.url {
        None => None,
        Some(u) => Some((client(s.timeout_ms)?, check_url(u)?)),
    };
    let own = ServerMetrics::new(common::Service::Hospital.name())?;
    let gauge = IntGauge::new(
        "insurance_breaker_state",
        "The insurer's circuit breaker: 0 closed, 1 open, 2 half-open",
    )?;
    let calls = IntCounterVec::new(
        Opts::new(
            "insurance_calls_total",
            "Eligibility checks by outcome: eligible, ineligible, error, timeout, rejected (breaker open)",
        ),
        &["outcome"],
    )?;
    own.register(Box::new(gauge.clone()))?;
    own.register(Box::new(calls.clone()))?;
    let on_change = Box::new(move |state: State| gauge.set(state.gauge()));
    let breaker = Arc::new(Breaker::new(
        Settings {
            window: TimeDelta::seconds(s.window_secs),
            min_calls: s.min_calls,
            failure_ratio: s.failure_ratio,
            cool_down: TimeDelta::seconds(s.cool_down_secs),
        },
        Some(on_change),
    ));
    let insurer = web::Data::new(Insurer {
        client,
        breaker,
        calls,
    });
    let for_details = insurer.clone();
    let details = web::Data::new(ReadyDetails::new("insurance", move |now| {
        for_details.details(now)
    }));
    let own = web::Data::new(own);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(insurer.clone())
            .app_data(details.clone())
            .app_data(own.clone());
    }))
}

/// The insurer's URL: http(s) only, plain http only to a loopback host
/// (the PHI it carries crosses no network in clear).
fn check_url(u: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(u).context("insurance.url is not a URL")?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if loopback => {}
        "http" => bail!("insurance.url must be https (plain http only to a loopback host)"),
        _ => bail!("insurance.url must be an http(s) URL with a host"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("insurance.url must not carry credentials");
    }
    Ok(url)
}

/// The client: the call's time-out, no redirect (the data goes to the
/// configured URL and nowhere else), no proxy from the environment.
fn client(timeout_ms: u64) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let timeout = Duration::from_millis(timeout_ms);
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .context("building the insurance client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("https://insurer.example/eligibility").is_ok());
        assert!(check_url("http://127.0.0.1:8080/e").is_ok());
        assert!(check_url("http://localhost/e").is_ok());
        assert!(check_url("http://[::1]:9/e").is_ok());
        assert!(check_url("http://insurer.example/e").is_err());
        assert!(check_url("ftp://insurer.example/e").is_err());
        assert!(check_url("https://u:p@insurer.example/e").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn eligibility_names() {
        assert_eq!(InsuranceEligibility::NotChecked.as_str(), "not_checked");
        assert_eq!(
            InsuranceEligibility::parse("unverified"),
            InsuranceEligibility::Unverified
        );
        assert_eq!(
            InsuranceEligibility::parse("??"),
            InsuranceEligibility::NotChecked
        );
    }
}

/// The insurer as a request sees it: the server's [`Insurer`] and the
/// clock the server judges time by (tests move it). Part of [`crate::context::Ctx`].
#[derive(Clone)]
pub struct Check {
    insurer: Option<web::Data<Insurer>>,
    auth: Option<web::Data<common::auth::AuthContext>>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("configured", &self.insurer.is_some())
            .finish()
    }
}

impl Check {
    /// The insurer and clock of `req`'s server.
    pub fn of(req: &actix_web::HttpRequest) -> Self {
        Self {
            insurer: req.app_data::<web::Data<Insurer>>().cloned(),
            auth: req
                .app_data::<web::Data<common::auth::AuthContext>>()
                .cloned(),
        }
    }

    /// Now, by the server's clock.
    pub fn now(&self) -> NaiveDateTime {
        self.auth
            .as_ref()
            .map_or_else(common::db::now, |a| a.clock.now())
    }

    /// The eligibility of a patient's `insurance` (none: not checked):
    /// its policy number is the member id, its provider the payer.
    pub async fn eligibility(
        &self,
        insurance: Option<&crate::patients::model::Insurance>,
    ) -> Checked {
        match (&self.insurer, insurance) {
            (Some(insurer), Some(i)) => {
                insurer
                    .check(&i.policy_number, &i.provider, || self.now())
                    .await
            }
            _ => Checked::NOT_CHECKED,
        }
    }
}
