//! Lambda entry point: builds configuration, the table's snapshot store and the Creatio client
//! once per container, then hands every scheduled invocation to [`knowledge_sync::handler`].

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = knowledge_sync::Deps::from_config(&config)?;
    let snapshots = store::connect_lambda_dynamodb(&config)?.knowledge_snapshots();
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        knowledge_sync::handler(&snapshots, &deps, event)
    }))
    .await
}
