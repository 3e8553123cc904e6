//! Lambda entry point: builds configuration, the store and the assistant once per container, then
//! hands every invocation to [`widget_inbound::handler`].

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = widget_inbound::Deps::from_config(&config)?;
    let store = store::connect_dynamodb(&config).await?;
    lambda_http::run(lambda_http::service_fn(|event| {
        widget_inbound::handler(&store, &deps, event)
    }))
    .await
}
