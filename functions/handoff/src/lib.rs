//! Handoff: the DynamoDB-stream consumer, both ways between the table and Creatio.
//!
//! [`handler`] reads a batch of stream records in order:
//! - session and message records: each session touched is brought up to date in Creatio with
//!   [`sync::sync_session`] (the case and its activities), the same function the local runner and
//!   the operator CLI call for one session;
//! - outbox records (`queued` entries, as template.yaml filters them): each rep reply is
//!   delivered to the customer with [`casebridge::replies::deliver::deliver`].
//!
//! A transient failure (Creatio down, throttled; Twilio unavailable) fails that record as a
//! partial batch item failure, so the stream retries from there and the records before it are not
//! held back; everything done here is safe to repeat.

pub mod contact;
pub mod sync;

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use casebridge::assistant::Concierge;
use casebridge::config::{BaseUrl, Config, ConfigError, CreatioConfig};
use casebridge::creatio::{CreatioClient, RetryPolicy};
use casebridge::replies::deliver::{ReplyDeps, deliver};
use casebridge::sms::SmsProvider;
use casebridge::store::Store;
use casebridge::store::dynamo::StreamItem;
use lambda_runtime::LambdaEvent;
use secrecy::SecretString;

/// Everything a sync and a delivery need besides the store; built once per container.
pub struct Deps {
    pub creatio: CreatioClient,
    pub creatio_config: CreatioConfig,
    pub concierge: Concierge,
    /// For the transcript link in the first activity (absent: no link, the session id only).
    pub public_base_url: Option<BaseUrl>,
    pub link_secret: Option<SecretString>,
    /// Sends rep replies by SMS; None when Twilio is not configured.
    pub sms: Option<Arc<dyn SmsProvider>>,
}

impl Deps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let creatio_config = config.creatio()?.clone();
        let http =
            casebridge::http::client(creatio_config.timeout).map_err(|e| ConfigError::Invalid {
                name: "CREATIO_URL",
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            sms: casebridge::sms::twilio::provider(config, &http),
            creatio: CreatioClient::new(&creatio_config, http, RetryPolicy::default()),
            creatio_config,
            concierge: Concierge::from_config(config)?,
            public_base_url: config.public_base_url.clone(),
            link_secret: config.widget().ok().map(|w| w.secret.clone()),
        })
    }

    /// What a reply delivery (and the catch-up) borrows from these.
    pub fn replies(&self) -> ReplyDeps<'_> {
        ReplyDeps {
            creatio: &self.creatio,
            config: &self.creatio_config,
            sms: self.sms.as_deref(),
            closed_notice: self.concierge.settings().assistant.closed_notice.as_deref(),
        }
    }
}

/// What a batch asks for, in first-seen order: the sessions it touches and the replies to
/// deliver, each with the sequence number of its first record (what to report when it fails).
pub fn work_in(event: &Event) -> Vec<(StreamItem, Option<String>)> {
    let mut out: Vec<(StreamItem, Option<String>)> = Vec::new();
    for record in &event.records {
        let pk = match record.change.keys.get("pk") {
            Some(serde_dynamo::AttributeValue::S(pk)) => pk,
            _ => continue,
        };
        // Pointers, provider ids, consent and the catch-up marks do not change what Creatio or
        // the customer should hear.
        let Some(item) = StreamItem::of_key(pk) else {
            continue;
        };
        if !out.iter().any(|(i, _)| *i == item) {
            out.push((item, record.change.sequence_number.clone()));
        }
    }
    out
}

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let work = work_in(&event.payload);
    tracing::info!(
        records = event.payload.records.len(),
        items = work.len(),
        "stream batch received"
    );
    let mut response = DynamoDbEventResponse::default();
    for (item, first_sequence) in work {
        let transient = match item {
            StreamItem::Session(id) => match sync::sync_session(store, deps, id).await {
                Ok(_) => None,
                Err(e) if e.is_transient() => Some(e.to_string()),
                Err(e) => {
                    tracing::error!(session_id = %id, error = %e, "sync failed for good; recorded on the session");
                    None
                }
            },
            StreamItem::Outbox(activity) => {
                match deliver(store, &deps.replies(), activity, jiff::Timestamp::now()).await {
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                }
            }
        };
        if let Some(error) = transient {
            tracing::warn!(?item, error = %error, "stream record failed; the stream will retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = first_sequence;
            response.batch_item_failures.push(failure);
            // Records after this one are retried with it; keep per-session order.
            break;
        }
    }
    Ok(response)
}
