//! Lambda entry point: builds configuration, the store and the assistant once per container, then
//! hands every invocation to [`sms_inbound::handler`]. A configuration mistake stops it here, at
//! cold start, with the variable named.

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = sms_inbound::Deps::from_config(&config)?;
    let store = store::connect_lambda_dynamodb(&config)?;
    lambda_http::run(lambda_http::service_fn(|event| {
        sms_inbound::handler(&store, &deps, event)
    }))
    .await
}
