//! Lambda entry point: builds configuration, the store and the Creatio client once per
//! container, then hands every scheduled invocation to [`catch_up::handler`].

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = catch_up::Deps::from_config(&config)?;
    let store = store::connect_lambda_dynamodb(&config)?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        catch_up::handler(&store, &deps, event)
    }))
    .await
}
