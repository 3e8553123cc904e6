//! Lambda entry point: builds configuration (secrets from SSM Parameter Store when named,
//! `casebridge::secrets`), the store, the assistant, the widget's sockets (when
//! `WIDGET_SOCKET_URL` is set) and the S3 client (when `WIDGET_ATTACHMENTS_BUCKET` is set) once
//! per container, then hands every invocation to [`widget_inbound::handler`].

use std::sync::Arc;

use casebridge::aws::LambdaEnv;
use casebridge::config::{Config, ConfigError, ProcessEnv};
use casebridge::s3::S3;
use casebridge::secrets::{self, Live};
use casebridge::widget::socket::Sockets;
use casebridge::{store, telemetry};
use widget_inbound::attachment_store::S3Attachments;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let (config, secrets) = secrets::load(&ProcessEnv).await?;
    let lambda_env = LambdaEnv::from_env(&ProcessEnv)?;
    let store = store::connect_dynamodb_with(&lambda_env.sdk_config(), &config)?;
    let build = |config: &Config| -> Result<widget_inbound::Deps, ConfigError> {
        let mut deps = widget_inbound::Deps::from_config(config)?
            .with_sockets(Sockets::for_lambda(&lambda_env, config));
        if let Some(bucket) = deps.widget.attachments.bucket.clone() {
            let s3 = S3::from_lambda_env(&lambda_env)?;
            deps = deps.with_attachments(Arc::new(S3Attachments::new(s3, bucket)));
        }
        // Articles come from the table's snapshot: this function never reads Creatio.
        if let Some(knowledge) = deps.concierge.knowledge() {
            knowledge.use_snapshots(Arc::new(store.knowledge_snapshots()));
        }
        Ok(deps)
    };
    let deps = Live::new(build(&config)?, secrets);
    let (deps, store) = (&deps, &store);
    lambda_http::run(lambda_http::service_fn(|event| async move {
        let deps = deps.get(&ProcessEnv, build).await;
        widget_inbound::handler(store, &deps, event).await
    }))
    .await
}
