//! Lambda entry point: builds configuration (secrets from SSM Parameter Store when named,
//! `casebridge::secrets`), the store, the Creatio client and the widget's sockets once per container, then hands every
//! scheduled invocation to [`catch_up::handler`].

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
    // A case closed in Creatio closes an open widget at once: pushed through the sockets.
    let build = |config: &Config| -> Result<catch_up::Deps, ConfigError> {
        let mut deps = catch_up::Deps::from_config(config)?;
        deps.replies.sockets = Sockets::for_lambda(&lambda_env, config);
        Ok(deps)
    };
    let deps = Live::new(build(&config)?, secrets);
    let store = store::connect_lambda_dynamodb(&config)?;
    let (deps, store) = (&deps, &store);
    lambda_runtime::run(lambda_runtime::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, build).await;
        catch_up::handler(store, &deps, event).await
    }))
    .await
}
