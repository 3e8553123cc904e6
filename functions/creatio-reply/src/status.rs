//! `case_updated`: a resolved, closed or canceled case closes the conversation.
//!
//! The case's status is read from Creatio (the webhook carries the id only) and compared with the
//! closing set (`CREATIO_CLOSED_STATUS_IDS`, default Resolved/Closed/Canceled plus
//! `CREATIO_RESOLVED_STATUS_ID`). The customer is told, when `closed_notice` is configured, in the
//! same write that closes the session; their next message opens a new session with the assistant.

use casebridge::domain::{
    CaseId, Customer, LookupId, MessageText, NewMessage, Role, SessionState, Transition,
};
use casebridge::sms::deliver;
use casebridge::store::{Appended, SessionChanges, StateChange, Store, StoreError};
use jiff::Timestamp;
use lambda_http::{Body, Response};
use serde_json::Value;

use crate::{Deps, ReplyError, done};

pub async fn case_updated(
    store: &dyn Store,
    deps: &Deps,
    case_id: CaseId,
) -> Result<Response<Body>, ReplyError> {
    let Some(session) = store.find_by_case(case_id).await? else {
        return Ok(done("ignored: no conversation for this case"));
    };
    if session.state == SessionState::Closed {
        return Ok(done("ignored: already closed"));
    }
    let Some(case) = deps
        .creatio
        .get("Case", case_id.as_uuid(), &["StatusId"])
        .await?
    else {
        return Ok(done("ignored: no such case"));
    };
    let status = case
        .get("StatusId")
        .and_then(Value::as_str)
        .and_then(|s| LookupId::parse(s).ok());
    if !status.is_some_and(|s| deps.creatio_config.closing_status_ids.contains(&s)) {
        return Ok(done("ignored: the case is still open"));
    }
    let close = Transition::new(session.state, SessionState::Closed)
        .map_err(|e| ReplyError::Store(StoreError::Corrupt(e.to_string())))?;
    let now = Timestamp::now();
    let notice = deps
        .settings
        .assistant
        .closed_notice
        .as_deref()
        .and_then(|n| MessageText::parse(n).ok());
    let result = match &notice {
        Some(text) => store
            .append(
                &session,
                vec![NewMessage::new(Role::Assistant, text.clone())],
                Some(StateChange::from(close)),
                now,
            )
            .await
            .map(|a| match a {
                Appended::Stored { messages, .. } => messages.first().map(|m| m.seq),
                Appended::AlreadySeen { .. } => None,
            }),
        None => store
            .transition(session.id, close, SessionChanges::default(), now)
            .await
            .map(|_| None),
    };
    let notice_seq = match result {
        Ok(seq) => seq,
        // Closed (or moved) by someone else meanwhile: the end state is what was asked for.
        Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => {
            return Ok(done("ignored: already closed"));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(session_id = %session.id, "conversation closed: case resolved in Creatio");
    if let (Some(seq), Some(text), Customer::Phone(phone), Some(provider)) = (
        notice_seq,
        &notice,
        &session.key.customer,
        deps.sms.as_deref(),
    ) {
        // Best effort: the case is closed either way; a failure is on the message's status.
        if let Err(e) = deliver(store, provider, session.id, seq, phone, text.as_str(), now).await {
            tracing::warn!(session_id = %session.id, error = %e, "closing notice not sent");
        }
    }
    Ok(done("closed"))
}
