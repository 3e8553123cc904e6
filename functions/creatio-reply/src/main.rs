//! Lambda entry point: builds configuration and the store once per container, then hands every
//! webhook call to [`creatio_reply::handler`] (which only records; the stream does the rest).

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = creatio_reply::Deps::from_config(&config)?;
    let store = store::connect_lambda_dynamodb(&config)?;
    lambda_http::run(lambda_http::service_fn(|event| {
        creatio_reply::handler(&store, &deps, event)
    }))
    .await
}
