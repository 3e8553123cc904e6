//! Lambda entry point: builds configuration, the store and the assistant (its articles from the
//! table's knowledge snapshot) once per container, then
//! hands every invocation to [`sms_inbound::handler`]. A configuration mistake stops it here, at
//! cold start, with the variable named.

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = sms_inbound::Deps::from_config(&config)?;
    let store = store::connect_lambda_dynamodb(&config)?;
    // Articles come from the table's snapshot: this function never reads Creatio.
    if let Some(knowledge) = deps.concierge.knowledge() {
        knowledge.use_snapshots(std::sync::Arc::new(store.knowledge_snapshots()));
    }
    lambda_http::run(lambda_http::service_fn(|event| {
        sms_inbound::handler(&store, &deps, event)
    }))
    .await
}
