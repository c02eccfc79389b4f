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
use prometheus::core::Collector;
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
        let registry = registry(service)?;
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
        self.render_with(None)
    }

    /// The text exposition format, the server's own collectors after the kernel's.
    pub fn render_with(&self, extra: Option<&ServerMetrics>) -> String {
        let mut families = self.registry.gather();
        if let Some(extra) = extra {
            families.extend(extra.registry.gather());
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The registry of `service`: every name prefixed `bulkhead_`, every
/// series labelled with the service.
fn registry(service: &str) -> anyhow::Result<Registry> {
    Ok(Registry::new_custom(
        Some("bulkhead".into()),
        Some([("service".to_string(), service.to_string())].into()),
    )?)
}

/// A server's own collectors (the hospital's insurance circuit breaker),
/// which `/metrics` shows after the kernel's. A server's section creates
/// it when it loads (before the kernel's [`Metrics`] exist) and registers
/// it as app data; one per server, shared by its sections. Names are
/// prefixed and labelled as the kernel's are.
pub struct ServerMetrics {
    registry: Registry,
}

impl ServerMetrics {
    /// An empty set for `service`.
    pub fn new(service: &str) -> anyhow::Result<Self> {
        Ok(Self {
            registry: registry(service)?,
        })
    }

    /// Add a collector (a name taken twice is refused).
    pub fn register(&self, collector: Box<dyn Collector>) -> anyhow::Result<()> {
        Ok(self.registry.register(collector)?)
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
    fn a_servers_own_collectors_follow_the_kernels() {
        let m = Metrics::new("test", Vec::new()).unwrap();
        m.observe("GET", "/healthz", 200, 0.001);
        let own = ServerMetrics::new("test").unwrap();
        let gauge = prometheus::IntGauge::new("own_state", "a server's own gauge").unwrap();
        own.register(Box::new(gauge.clone())).unwrap();
        gauge.set(2);
        let text = m.render_with(Some(&own));
        assert!(text.contains("bulkhead_http_requests_total{"), "{text}");
        assert!(
            text.contains("bulkhead_own_state{service=\"test\"} 2"),
            "{text}"
        );
        assert!(!m.render().contains("own_state"));
    }

    #[test]
    fn only_allowed_networks_may_read() {
        let m = Metrics::new("test", vec!["127.0.0.0/8".parse().unwrap()]).unwrap();
        assert!(m.may_read(Some([127, 0, 0, 9].into())));
        assert!(!m.may_read(Some([10, 0, 0, 1].into())));
        assert!(!m.may_read(None));
    }
}
