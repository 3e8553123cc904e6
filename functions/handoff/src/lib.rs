//! Handoff: the DynamoDB-stream consumer that creates Creatio cases and keeps them in sync.
//!
//! The handler takes its dependencies as arguments; `main.rs` builds them once per container, and
//! the local runner and the tests call this same function. Until its issue lands it accepts
//! every batch and syncs nothing.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use casebridge::config::Config;
use casebridge::store::Store;
use lambda_runtime::{Error, LambdaEvent};

pub async fn handler(
    _store: &dyn Store,
    _config: &Config,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    tracing::info!(
        records = event.payload.records.len(),
        "stream batch received"
    );
    Ok(DynamoDbEventResponse::default())
}
