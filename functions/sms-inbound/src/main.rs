//! Lambda entry point: builds configuration and clients once per container, then hands every
//! invocation to [`sms_inbound::handler`].

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let store = store::connect_dynamodb(&config).await?;
    lambda_http::run(lambda_http::service_fn(|event| {
        sms_inbound::handler(&store, &config, event)
    }))
    .await
}
