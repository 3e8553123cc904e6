//! Lambda entry point: builds configuration (secrets from SSM Parameter Store when named,
//! `casebridge::secrets`), the store, the Creatio client and the assistant once per container,
//! then hands every batch of DynamoDB stream records to [`handoff::handler`].

use casebridge::config::ProcessEnv;
use casebridge::secrets::{self, Live};
use casebridge::{store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let deps = Live::new(handoff::Deps::from_config(&config)?, secrets);
    let store = store::connect_lambda_dynamodb(&config)?;
    let (deps, store) = (&deps, &store);
    lambda_runtime::run(lambda_runtime::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, handoff::Deps::from_config).await;
        handoff::handler(store, &deps, event).await
    }))
    .await
}
