//! Lambda entry point: builds configuration (the webhook token from SSM Parameter Store when
//! named, `casebridge::secrets`) and the store once per container, then hands every webhook call
//! to [`creatio_reply::handler`] (which only records; the stream does the rest).

use casebridge::config::ProcessEnv;
use casebridge::secrets::{self, Live};
use casebridge::{store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let deps = Live::new(creatio_reply::Deps::from_config(&config)?, secrets);
    let store = store::connect_lambda_dynamodb(&config)?;
    let (deps, store) = (&deps, &store);
    lambda_http::run(lambda_http::service_fn(|event| async move {
        let deps = deps
            .get(&ProcessEnv, creatio_reply::Deps::from_config)
            .await;
        creatio_reply::handler(store, &deps, event).await
    }))
    .await
}
