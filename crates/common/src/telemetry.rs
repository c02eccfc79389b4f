//! Logging: tracing-subscriber, JSON or pretty, with an env filter.
//! Field names are fixed in docs/LOGGING.md. PHI and secrets are never
//! logged: handlers log ids, never names, and secrets are `SecretString`.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, LogSection};

/// Install the global subscriber (once; later calls are ignored).
pub fn init(log: &LogSection) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
