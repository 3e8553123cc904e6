//! Lambda entry point: builds configuration (its secrets read from SSM Parameter Store when the
//! environment names them, `casebridge::secrets`), the store and the assistant (its articles from
//! the table's knowledge snapshot) once per container, then hands every invocation to
//! [`sms_inbound::handler`]. A configuration mistake stops it here, at cold start, with the
//! variable named; rotated secrets rebuild the dependencies within the refresh bound.

use std::sync::Arc;

use casebridge::config::{Config, ConfigError, ProcessEnv};
use casebridge::secrets::{self, Live};
use casebridge::{store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let store = store::connect_lambda_dynamodb(&config)?;
    let build = |config: &Config| -> Result<sms_inbound::Deps, ConfigError> {
        let deps = sms_inbound::Deps::from_config(config)?;
        // Articles come from the table's snapshot: this function never reads Creatio.
        if let Some(knowledge) = deps.concierge.knowledge() {
            knowledge.use_snapshots(Arc::new(store.knowledge_snapshots()));
        }
        Ok(deps)
    };
    let deps = Live::new(build(&config)?, secrets);
    let (deps, store) = (&deps, &store);
    lambda_http::run(lambda_http::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, build).await;
        sms_inbound::handler(store, &deps, event).await
    }))
    .await
}
