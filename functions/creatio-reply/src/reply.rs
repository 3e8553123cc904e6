//! `new_activity`: a rep's reply on a case, to the customer.
//!
//! The activity is read from Creatio by id (the webhook carries ids only). Activities casebridge
//! wrote itself (deterministic ids) are ignored, which stops echo loops. The reply is stored as an
//! agent message whose provider id is the activity id, so a second call for the same activity
//! finds it; it is sent (SMS) unless it was sent already, so a retried webhook never texts twice,
//! while a retry after a transient Twilio failure does send it. Widget replies are only stored:
//! the widget polls.

use casebridge::assistant::format::html_to_text;
use casebridge::domain::{
    ActivityId, CaseId, Channel, Customer, DeliveryStatus, MAX_MESSAGE_CHARS, MessageText,
    NewMessage, ProviderMessageId, Role, Session,
};
use casebridge::sms::{DeliverError, Delivery, deliver};
use casebridge::store::{Appended, Store, StoreError};
use jiff::Timestamp;
use lambda_http::{Body, Response};
use serde_json::Value;

use crate::{Deps, ReplyError, done};

/// Did casebridge write this activity (a synced message or a note)?
pub fn written_by_casebridge(session: &Session, activity: ActivityId) -> bool {
    activity == session.id.note_activity_id("handoff")
        || (1..=session.last_seq).any(|seq| session.id.activity_id(seq) == activity)
}

/// The reply text: the HTML body, else the notes, else the title.
pub fn activity_text(activity: &Value) -> Option<String> {
    ["Body", "Notes", "Title"]
        .iter()
        .filter_map(|k| activity.get(*k).and_then(Value::as_str))
        .map(html_to_text)
        .find(|t| !t.trim().is_empty())
}

pub async fn new_activity(
    store: &dyn Store,
    deps: &Deps,
    case_id: CaseId,
    activity_id: ActivityId,
) -> Result<Response<Body>, ReplyError> {
    let Some(session) = store.find_by_case(case_id).await? else {
        return Ok(done("ignored: no conversation for this case"));
    };
    if written_by_casebridge(&session, activity_id) {
        return Ok(done("ignored: written by casebridge"));
    }
    let Some(activity) = deps
        .creatio
        .get(
            "Activity",
            activity_id.as_uuid(),
            &["Title", "Notes", "Body", "CaseId"],
        )
        .await?
    else {
        return Ok(done("ignored: no such activity"));
    };
    let on_case = activity
        .get("CaseId")
        .and_then(Value::as_str)
        .and_then(|c| CaseId::parse(c).ok());
    if on_case.is_some_and(|c| c != case_id) {
        return Ok(done("ignored: the activity belongs to another case"));
    }
    let Some(text) = activity_text(&activity) else {
        return Ok(done("ignored: the activity has no text"));
    };
    let text: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    let text = MessageText::parse(&text)
        .map_err(|e| ReplyError::BadRequest(format!("activity text: {e}")))?;
    let pid = ProviderMessageId::parse(&format!("creatio:{activity_id}"))
        .map_err(|_| ReplyError::BadRequest("activity id".into()))?;
    let now = Timestamp::now();
    let message = NewMessage::new(Role::Agent, text.clone()).with_provider_id(pid.clone());
    let (id, seq) = match store.append(&session, vec![message], None, now).await {
        Ok(Appended::Stored { session, messages }) => (session.id, messages[0].seq),
        Ok(Appended::AlreadySeen { session_id, seq }) => {
            // Seen before: send only if the earlier attempt did not get it out.
            let pending = store
                .transcript(session_id)
                .await?
                .and_then(|(_, t)| t.into_iter().find(|m| m.seq == seq))
                .is_some_and(|m| m.delivery == Some(DeliveryStatus::Pending));
            if !pending || session.key.channel != Channel::Sms {
                return Ok(done("ignored: already delivered"));
            }
            (session_id, seq)
        }
        Err(StoreError::Closed(_)) => return Ok(done("ignored: the conversation is closed")),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(session_id = %id, seq, "agent reply stored");
    let Customer::Phone(phone) = &session.key.customer else {
        return Ok(done("stored for the widget"));
    };
    let provider = deps.sms.as_deref().ok_or(ReplyError::SmsNotConfigured)?;
    let outcome = match deliver(store, provider, id, seq, phone, text.as_str(), now).await {
        Ok(o) => o,
        Err(DeliverError::Transient(e)) => return Err(ReplyError::SmsUnavailable(e.to_string())),
        Err(DeliverError::Store(e)) => return Err(e.into()),
    };
    let why = match outcome {
        Delivery::Sent(_) => return Ok(done("sent")),
        Delivery::OptedOut => "the customer has opted out of SMS (replied STOP)".to_owned(),
        Delivery::Failed(reason) => reason,
    };
    // The rep must learn the customer never got it: a system note, synced to the case.
    tracing::warn!(session_id = %id, seq, "agent reply not delivered");
    let note = NewMessage::new(
        Role::System,
        MessageText::parse(&format!("Reply not delivered: {why}"))
            .unwrap_or_else(|_| unreachable!("non-empty")),
    )
    .with_provider_id(
        ProviderMessageId::parse(&format!("creatio:{activity_id}/not-delivered")).unwrap_or(pid),
    );
    if let Some(current) = store.session(id).await? {
        match store.append(&current, vec![note], None, now).await {
            Ok(_) | Err(StoreError::Closed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done(&format!("not sent: {why}")))
}
