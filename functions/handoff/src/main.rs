//! Lambda entry point: builds configuration (secrets from SSM Parameter Store when named,
//! `casebridge::secrets`), the store, the Creatio client, the assistant and the widget's sockets (when `WIDGET_SOCKET_URL` is set)
//! once per container,
//! then hands every batch of DynamoDB stream records to [`handoff::handler`].

use casebridge::aws::LambdaEnv;
use casebridge::config::{Config, ConfigError, ProcessEnv};
use casebridge::secrets::{self, Live};
use casebridge::widget::socket::Sockets;
use casebridge::{store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let lambda_env = LambdaEnv::from_env(&ProcessEnv)?;
    // The widget's sockets need the function's AWS identity, so they are built here.
    let build = |config: &Config| -> Result<handoff::Deps, ConfigError> {
        let mut deps = handoff::Deps::from_config(config)?;
        deps.sockets = Sockets::for_lambda(&lambda_env, config);
        Ok(deps)
    };
    let deps = Live::new(build(&config)?, secrets);
    let store = store::connect_lambda_dynamodb(&config)?;
    let (deps, store) = (&deps, &store);
    lambda_runtime::run(lambda_runtime::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, build).await;
        handoff::handler(store, &deps, event).await
    }))
    .await
}
