//! Handoff: the DynamoDB-stream consumer that creates Creatio cases and keeps them in sync.
//!
//! [`handler`] reads a batch of stream records, collects the sessions they touch (in order), and
//! brings each up to date with [`sync::sync_session`], the same function the local runner and the
//! operator CLI call for one session. A transient failure (Creatio down, throttled) fails that
//! session's first record as a partial batch item failure, so the stream retries from there and
//! the sessions before it are not held back; everything [`sync`] does is safe to repeat.

pub mod contact;
pub mod sync;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use casebridge::assistant::Concierge;
use casebridge::config::{BaseUrl, Config, ConfigError, CreatioConfig};
use casebridge::creatio::{CreatioClient, RetryPolicy};
use casebridge::domain::SessionId;
use casebridge::store::Store;
use lambda_runtime::LambdaEvent;
use secrecy::SecretString;

/// Everything a sync needs besides the store; built once per container.
pub struct Deps {
    pub creatio: CreatioClient,
    pub creatio_config: CreatioConfig,
    pub concierge: Concierge,
    /// For the transcript link in the first activity (absent: no link, the session id only).
    pub public_base_url: Option<BaseUrl>,
    pub link_secret: Option<SecretString>,
}

impl Deps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let creatio_config = config.creatio()?.clone();
        let http = casebridge::http::client(std::time::Duration::from_secs(20)).map_err(|e| {
            ConfigError::Invalid {
                name: "CREATIO_URL",
                reason: format!("cannot build an HTTP client: {e}"),
            }
        })?;
        Ok(Self {
            creatio: CreatioClient::new(&creatio_config, http, RetryPolicy::default()),
            creatio_config,
            concierge: Concierge::from_config(config)?,
            public_base_url: config.public_base_url.clone(),
            link_secret: config.widget().ok().map(|w| w.secret.clone()),
        })
    }
}

/// The sessions a batch touches, in first-seen order, with the sequence number of each one's
/// first record (what to report when its sync fails).
pub fn sessions_in(event: &Event) -> Vec<(SessionId, Option<String>)> {
    let mut out: Vec<(SessionId, Option<String>)> = Vec::new();
    for record in &event.records {
        let pk = match record.change.keys.get("pk") {
            Some(serde_dynamo::AttributeValue::S(pk)) => pk,
            _ => continue,
        };
        // Only session and message items (`S#<id>`) matter; pointers, provider ids and consent
        // records do not change what Creatio should hold.
        let Some(id) = pk.strip_prefix("S#").and_then(|s| SessionId::parse(s).ok()) else {
            continue;
        };
        if !out.iter().any(|(s, _)| *s == id) {
            out.push((id, record.change.sequence_number.clone()));
        }
    }
    out
}

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let sessions = sessions_in(&event.payload);
    tracing::info!(
        records = event.payload.records.len(),
        sessions = sessions.len(),
        "stream batch received"
    );
    let mut response = DynamoDbEventResponse::default();
    for (id, first_sequence) in sessions {
        match sync::sync_session(store, deps, id).await {
            Ok(_) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(session_id = %id, error = %e, "sync failed; the stream will retry");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = first_sequence;
                response.batch_item_failures.push(failure);
                // Records after this one are retried with it; keep per-session order.
                break;
            }
            Err(e) => {
                tracing::error!(session_id = %id, error = %e, "sync failed for good; recorded on the session");
            }
        }
    }
    Ok(response)
}
