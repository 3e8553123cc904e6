//! Lambda entry point: builds configuration (secrets from SSM Parameter Store when named,
//! `casebridge::secrets`), the store and the Creatio client once per container, then hands every
//! scheduled invocation to [`catch_up::handler`].

use casebridge::config::ProcessEnv;
use casebridge::secrets::{self, Live};
use casebridge::{store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let deps = Live::new(catch_up::Deps::from_config(&config)?, secrets);
    let store = store::connect_lambda_dynamodb(&config)?;
    let (deps, store) = (&deps, &store);
    lambda_runtime::run(lambda_runtime::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, catch_up::Deps::from_config).await;
        catch_up::handler(store, &deps, event).await
    }))
    .await
}
