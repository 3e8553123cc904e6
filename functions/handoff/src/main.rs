//! Lambda entry point: builds configuration, the store, the Creatio client and the assistant once
//! per container, then hands every batch of DynamoDB stream records to [`handoff::handler`].

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = handoff::Deps::from_config(&config)?;
    let store = store::connect_lambda_dynamodb(&config)?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handoff::handler(&store, &deps, event)
    }))
    .await
}
