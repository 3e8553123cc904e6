//! Lambda entry point: builds configuration (secrets from SSM Parameter Store when named,
//! `casebridge::secrets`), the table's snapshot store, the Creatio client and (when the folder is
//! in S3) the S3 client once per container, then hands every scheduled invocation to
//! [`knowledge_sync::handler`].

use casebridge::config::{Config, ConfigError, ProcessEnv};
use casebridge::secrets::{self, Live};
use casebridge::{store, telemetry};

fn build(config: &Config) -> Result<knowledge_sync::Deps, ConfigError> {
    let mut deps = knowledge_sync::Deps::from_config(config)?;
    if config.knowledge.s3.is_some() {
        let env = casebridge::aws::LambdaEnv::from_env(&ProcessEnv)?;
        deps = deps.with_s3(casebridge::s3::S3::from_lambda_env(&env)?);
    }
    Ok(deps)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let deps = Live::new(build(&config)?, secrets);
    let snapshots = store::connect_lambda_dynamodb(&config)?.knowledge_snapshots();
    let (deps, snapshots) = (&deps, &snapshots);
    lambda_runtime::run(lambda_runtime::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, build).await;
        knowledge_sync::handler(snapshots, &deps, event).await
    }))
    .await
}
