//! Lambda entry point: builds configuration, the store, the assistant and (when
//! `WIDGET_ATTACHMENTS_BUCKET` is set) the S3 client once per container, then hands every
//! invocation to [`widget_inbound::handler`].

use std::sync::Arc;

use casebridge::config::{Config, ProcessEnv};
use casebridge::s3::S3;
use casebridge::{aws, store, telemetry};
use widget_inbound::attachment_store::S3Attachments;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut deps = widget_inbound::Deps::from_config(&config)?;
    let lambda_env = aws::LambdaEnv::from_env(&ProcessEnv)?;
    let sdk = lambda_env.sdk_config();
    if let Some(bucket) = deps.widget.attachments.bucket.clone() {
        let s3 = S3::from_lambda_env(&lambda_env)?;
        deps = deps.with_attachments(Arc::new(S3Attachments::new(s3, bucket)));
    }
    let store = store::connect_dynamodb_with(&sdk, &config)?;
    // Articles come from the table's snapshot: this function never reads Creatio.
    if let Some(knowledge) = deps.concierge.knowledge() {
        knowledge.use_snapshots(Arc::new(store.knowledge_snapshots()));
    }
    lambda_http::run(lambda_http::service_fn(|event| {
        widget_inbound::handler(&store, &deps, event)
    }))
    .await
}
