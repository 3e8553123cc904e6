//! `POST /sms/status`: Twilio's delivery-status callback for the replies casebridge sent.
//!
//! The status is recorded on the outbound message (found by its `MessageSid`). An undelivered or
//! failed reply also adds a system note to the transcript ("Reply not delivered: …"), which the
//! handoff function syncs to the case, so the rep learns that the customer never got the answer.
//! Callbacks for messages casebridge does not know are acknowledged and ignored (Twilio would
//! otherwise retry them).

use casebridge::domain::{
    Channel, DeliveryStatus, MessageText, NewMessage, ProviderMessageId, Role,
};
use casebridge::store::{Store, StoreError};
use jiff::Timestamp;
use lambda_http::{Body, Response};

use crate::webhook::Form;
use crate::{SmsError, twiml};

fn parse_status(status: &str, error_code: Option<String>) -> Option<DeliveryStatus> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => DeliveryStatus::Queued,
        "sending" | "sent" => DeliveryStatus::Sent,
        "delivered" | "read" => DeliveryStatus::Delivered,
        "undelivered" => DeliveryStatus::Undelivered { error_code },
        "failed" | "canceled" => DeliveryStatus::Failed { error_code },
        _ => return None,
    })
}

/// A reason a rep can act on, for the error codes Twilio documents most often.
pub fn describe_error(code: Option<&str>) -> String {
    let what = match code {
        Some("30003") => "the handset is unreachable (switched off or out of coverage)",
        Some("30004") => "the message was blocked (the customer may have blocked the number)",
        Some("30005") => "the number is unknown or no longer exists",
        Some("30006") => "the number is a landline or its carrier cannot receive SMS",
        Some("30007") => "the carrier filtered the message",
        Some("30008") => "the carrier reported an unknown error",
        Some("21610") => "the customer has opted out (replied STOP)",
        Some("21211") | Some("21614") => "the number cannot receive SMS",
        _ => "the carrier did not deliver it",
    };
    match code {
        Some(c) => format!("{what} (Twilio error {c})"),
        None => what.to_owned(),
    }
}

pub async fn record(
    store: &dyn Store,
    form: Form,
    now: Timestamp,
) -> Result<Response<Body>, SmsError> {
    let sid = ProviderMessageId::parse(form.require("MessageSid")?)
        .map_err(|e| SmsError::BadRequest(format!("MessageSid: {e}")))?;
    let raw_status = form.require("MessageStatus")?;
    let error_code = form
        .get("ErrorCode")
        .filter(|c| !c.is_empty() && *c != "0")
        .map(str::to_owned);
    let Some(status) = parse_status(raw_status, error_code.clone()) else {
        tracing::info!(
            status = raw_status,
            "status callback with an unknown status ignored"
        );
        return Ok(twiml::reply(None));
    };
    let Some(at) = store.find_by_provider_id(Channel::Sms, &sid).await? else {
        tracing::info!(
            message_sid = sid.as_str(),
            "status callback for an unknown message ignored"
        );
        return Ok(twiml::reply(None));
    };
    let failed = status.is_failure();
    store
        .record_delivery(at.session_id, at.seq, status, None)
        .await?;
    if failed {
        tracing::warn!(session_id = %at.session_id, seq = at.seq, error_code = error_code.as_deref().unwrap_or(""), "sms reply not delivered");
        let note = format!(
            "Reply not delivered: {}",
            describe_error(error_code.as_deref())
        );
        let note = NewMessage::new(
            Role::System,
            MessageText::parse(&note).unwrap_or_else(|_| unreachable!("non-empty")),
        )
        // One note per message and outcome, however often Twilio repeats the callback.
        .with_provider_id(
            ProviderMessageId::parse(&format!("{}/{raw_status}", sid.as_str()))
                .unwrap_or_else(|_| sid.clone()),
        );
        if let Some(session) = store.session(at.session_id).await? {
            match store.append(&session, vec![note], None, now).await {
                Ok(_) | Err(StoreError::Closed(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(twiml::reply(None))
}
