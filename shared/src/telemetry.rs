//! Logging: `tracing` with JSON lines (CloudWatch Logs Insights reads the fields), level from
//! `RUST_LOG` (default `info`). Handlers open one span per invocation carrying the session id;
//! phone numbers go into fields masked (`PhoneNumber::masked`), message text never.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per process. Safe to call again (later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        // Lambda adds its own timestamp and request id to every line.
        .without_time()
        .with_target(false)
        .try_init();
}
