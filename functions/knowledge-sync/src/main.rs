//! Lambda entry point: builds configuration, the table's snapshot store, the Creatio client and
//! (when the folder is in S3) the S3 client once per container, then hands every scheduled
//! invocation to [`knowledge_sync::handler`].

use casebridge::{config::Config, store, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut deps = knowledge_sync::Deps::from_config(&config)?;
    if config.knowledge.s3.is_some() {
        let env = casebridge::aws::LambdaEnv::from_env(&casebridge::config::ProcessEnv)?;
        deps = deps.with_s3(casebridge::s3::S3::from_lambda_env(&env)?);
    }
    let snapshots = store::connect_lambda_dynamodb(&config)?.knowledge_snapshots();
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        knowledge_sync::handler(&snapshots, &deps, event)
    }))
    .await
}
