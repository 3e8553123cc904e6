//! Handoff: the DynamoDB-stream consumer, both ways between the table and Creatio.
//!
//! [`handler`] reads a batch of stream records in order:
//! - session and message records: each session touched is brought up to date in Creatio with
//!   [`sync::sync_session`] (the case and its activities; `casebridge::creatio::sync`), the same
//!   function the local runner and the operator CLI call for one session;
//! - outbox records (`queued` entries, as template.yaml filters them): each rep reply is
//!   delivered to the customer with [`casebridge::replies::deliver::deliver`];
//! - status checks (`queued`, likewise): the case a `case_updated` webhook reported is read, and
//!   its conversation closed when its status is a closing one, with the closing notice
//!   ([`casebridge::replies::closure::apply_status_check`]).
//!
//! A transient failure (Creatio down, throttled; Twilio unavailable) fails that record as a
//! partial batch item failure, so the stream retries from there and the records before it are not
//! held back; everything done here is safe to repeat.

pub use casebridge::creatio::sync::SyncDeps as Deps;
pub use casebridge::creatio::{contact, sync};

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use casebridge::metrics::{self, Metric};
use casebridge::replies::closure::apply_status_check;
use casebridge::replies::deliver::deliver;
use casebridge::store::Store;
use casebridge::store::dynamo::StreamItem;
use lambda_runtime::LambdaEvent;

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
                Err(e) if e.is_transient() => {
                    metrics::emit(Metric::SyncError { kind: "transient" });
                    Some(e.to_string())
                }
                Err(e) => {
                    tracing::error!(session_id = %id, error = %e, "sync failed for good; recorded on the session");
                    metrics::emit(Metric::SyncError { kind: "permanent" });
                    None
                }
            },
            StreamItem::Outbox(activity) => {
                match deliver(store, &deps.replies(), activity, jiff::Timestamp::now()).await {
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                }
            }
            StreamItem::CaseStatus(case) => {
                match apply_status_check(store, &deps.replies(), case, jiff::Timestamp::now()).await
                {
                    Ok(_) => None,
                    Err(e) if e.is_transient() => Some(e.to_string()),
                    // Recorded on the check; the catch-up looks at closed cases anyway.
                    Err(_) => None,
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
