//! Logging: `tracing` with JSON lines (CloudWatch Logs Insights reads the fields), level from
//! `RUST_LOG` (default `info`). Handlers open one span per invocation carrying the session id;
//! phone numbers go into fields masked (`PhoneNumber::masked`), message text never.
//!
//! The filter is `tracing_subscriber`'s `Targets` (`info`, `warn,casebridge=debug`), not
//! `EnvFilter`: the same `target=level` directives a deployment sets, without `EnvFilter`'s
//! span-field matching and its `matchers` automata (0.18 MB of every bootstrap, measured with the
//! release profile). An unreadable `RUST_LOG` falls back to `info` and says so once.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber once per process. Safe to call again (later calls do nothing).
pub fn init() {
    let (filter, unreadable) = filter_from(std::env::var("RUST_LOG").ok().as_deref());
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        // Lambda adds its own timestamp and request id to every line.
        .without_time()
        .with_target(false);
    if tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .try_init()
        .is_ok()
        && unreadable
    {
        tracing::warn!("RUST_LOG is not a list of target=level directives; logging at info");
    }
}

/// The filter for a `RUST_LOG` value, and whether the value had to be ignored.
fn filter_from(value: Option<&str>) -> (Targets, bool) {
    let info = Targets::new().with_default(LevelFilter::INFO);
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (info, false),
        Some(v) => match v.parse::<Targets>() {
            Ok(targets) => (targets, false),
            Err(_) => (info, true),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_directives_are_read_and_nonsense_falls_back_to_info() {
        let (default, bad) = filter_from(None);
        assert!(!bad && default.would_enable("casebridge", &Level::INFO));
        assert!(!default.would_enable("casebridge", &Level::DEBUG));

        let (quiet, bad) = filter_from(Some("warn,casebridge=debug"));
        assert!(!bad);
        assert!(quiet.would_enable("casebridge::store", &Level::DEBUG));
        assert!(!quiet.would_enable("aws_smithy_runtime", &Level::INFO));

        let (fallback, bad) = filter_from(Some("[{span=}]=!!"));
        assert!(bad && fallback.would_enable("casebridge", &Level::INFO));
    }
}
