//! Prometheus metrics: request counts and latency by method, route and
//! status. One registry per application, so servers started side by side in
//! one test process keep separate figures.
//!
//! Every label has a bounded set of values, because each new value is a new
//! time series kept for the life of the process: methods outside the
//! standard nine fold into `other` (any token is a valid HTTP method, so
//! callers could otherwise invent millions), routes are the matched pattern
//! or `unmatched` (never the raw path), and statuses outside 100..=599 fold
//! into `other`.

use ipnet::IpNet;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::net::IpAddr;

/// The label value every non-standard method is counted under.
pub const OTHER: &str = "other";

/// The metrics of one server, and who may read them.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    allow: Vec<IpNet>,
}

impl Metrics {
    /// Register the collectors for `service`; `/metrics` answers only to
    /// clients in `allow`.
    pub fn new(service: &str, allow: Vec<IpNet>) -> anyhow::Result<Self> {
        let registry = Registry::new_custom(
            Some("bulkhead".into()),
            Some([("service".to_string(), service.to_string())].into()),
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method, route and status",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            allow,
        })
    }

    /// Record one finished request. `route` must be a route pattern or
    /// `unmatched`, never a raw path.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = if (100..=599).contains(&status) {
            status.to_string()
        } else {
            OTHER.to_string()
        };
        let labels = [method_label(method), route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Whether a client at `peer` may read `/metrics`.
    pub fn may_read(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.allow.iter().any(|net| net.contains(&ip)))
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The method as a label: one of the nine standard methods, else `other`.
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    STANDARD
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or(OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_and_statuses_share_one_label() {
        let m = Metrics::new("test", Vec::new()).unwrap();
        for i in 0..50 {
            m.observe(&format!("INVENTED{i}"), "unmatched", 404, 0.001);
        }
        m.observe("GET", "/healthz", 1000, 0.001);
        let text = m.render();
        assert!(!text.contains("INVENTED"), "{text}");
        let lines: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("bulkhead_http_requests_total{"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("method=\"other\"") && l.ends_with(" 50")),
            "{text}"
        );
        assert!(
            lines.iter().any(|l| l.contains("status=\"other\"")),
            "{text}"
        );
    }

    #[test]
    fn only_allowed_networks_may_read() {
        let m = Metrics::new("test", vec!["127.0.0.0/8".parse().unwrap()]).unwrap();
        assert!(m.may_read(Some([127, 0, 0, 9].into())));
        assert!(!m.may_read(Some([10, 0, 0, 1].into())));
        assert!(!m.may_read(None));
    }
}
