//! Configuration from a settings map, read as a deployed function reads its environment
//! ([`casebridge::config::Config::from_source`]): a test names the settings it is about and each
//! function's `Deps::from_config` builds the rest, so no test spells a `Deps { … }` literal and
//! a test's deps are the ones a deployment with those settings would get.

use std::collections::HashMap;

use casebridge::config::Config;
use casebridge::http::RetryPolicy;

/// The configuration `settings` make, or a panic naming the setting that is wrong.
pub fn config(settings: &[(&str, &str)]) -> Config {
    config_of(&settings.iter().copied().collect())
}

/// [`config`] from a map (a test that starts from [`crate::stack_env`] and adds to it).
pub fn config_of(settings: &HashMap<&str, &str>) -> Config {
    Config::from_source(settings).unwrap_or_else(|e| panic!("test settings: {e}"))
}

/// Retries that do not make a test wait: `attempts` tries a call, milliseconds apart.
pub fn quick_retry(attempts: usize) -> RetryPolicy {
    RetryPolicy {
        attempts,
        min_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(5),
    }
}

/// A settings file (in the temporary directory) that is the embedded default plus the sample
/// shop's order actions at `shop_url`, with `token` written in (no environment needed): what a
/// test passes as `CASEBRIDGE_CONFIG` to get actions through a function's own `from_config`.
pub fn with_shop_actions(shop_url: &str, token: &str) -> std::path::PathBuf {
    let text = format!(
        "{}{}",
        casebridge::assistant::Settings::embedded_text(),
        creatio_sandbox::shop::demo_actions(shop_url, &format!("Bearer {token}"))
    );
    let path = std::env::temp_dir().join(format!(
        "casebridge-actions-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}
