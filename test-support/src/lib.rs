//! What every casebridge test file shares, in one crate that each test crate (and the bench)
//! takes as a dev-dependency, so that no test writes these again:
//!
//! - [`now`]: the fixed clock of the tests (a Wednesday in business hours in New York);
//! - [`moto`]: the DynamoDB endpoint the test command starts, or a skip (an error when
//!   `CASEBRIDGE_REQUIRE_MOTO` says the run must have it), and fresh tables on it, counted or not;
//! - [`tools`]: the test command's pinned Python tools, or a skip;
//! - [`fixtures`]: conversations handed off, and with an agent;
//! - [`RequestCounter`]: DynamoDB requests by operation, for the cost tests and the bench;
//! - [`twilio::signature`]: Twilio's request signature, written out from its documentation;
//! - [`requests`]: API Gateway requests (a signed Twilio form, a widget call, a Creatio webhook);
//! - [`settings`]: a `Config` from a settings map, from which each function's `Deps` is built.

mod counter;
pub mod fixtures;
pub mod moto;
pub mod requests;
pub mod settings;
pub mod twilio;

use std::path::PathBuf;

use jiff::Timestamp;

pub use counter::RequestCounter;
pub use settings::{config, config_of, quick_retry, with_shop_actions};

/// The tests' "now": Wednesday 14 January 2026, 10:00 in New York, inside business hours.
pub const NOW: &str = "2026-01-14T15:00:00Z";

pub fn now() -> Timestamp {
    NOW.parse().expect("a valid timestamp")
}

/// `CASEBRIDGE_TOOLS` (the `.venv/bin` of scripts/test: cfn-lint, cargo-lambda, python), or
/// None with a note, when a test runs outside the test command; CI's run must have them.
pub fn tools() -> Option<PathBuf> {
    match std::env::var("CASEBRIDGE_TOOLS") {
        Ok(t) => Some(PathBuf::from(t)),
        Err(_) => {
            assert!(
                std::env::var("CASEBRIDGE_REQUIRE_MOTO").is_err(),
                "scripts/test sets CASEBRIDGE_TOOLS"
            );
            eprintln!("skipping: CASEBRIDGE_TOOLS is not set (run scripts/test)");
            None
        }
    }
}

/// The settings every stack a test starts shares: its public URL and a Creatio (the sandbox, as
/// `Supervisor`, forms login). A test adds its own secrets and channels to the map.
pub fn stack_env<'a>(
    base: &'a str,
    creatio_url: &'a str,
) -> std::collections::HashMap<&'a str, &'a str> {
    std::collections::HashMap::from([
        ("PUBLIC_BASE_URL", base),
        ("CREATIO_URL", creatio_url),
        ("CREATIO_USERNAME", "Supervisor"),
        ("CREATIO_PASSWORD", "Supervisor"),
    ])
}
