//! A case in a closing status closes its conversation (the webhook's `case_updated`, and the
//! catch-up's closed cases).
//!
//! The closing set is `CREATIO_CLOSED_STATUS_IDS` (default Resolved, Closed, Canceled, plus
//! `CREATIO_RESOLVED_STATUS_ID`). The customer is told, when `closed_notice` is configured, in the
//! same write that closes the session; their next message opens a new session with the
//! assistant. Closing is idempotent: a second report of the same closed case changes nothing.

use jiff::Timestamp;

use super::deliver::ReplyDeps;
use crate::creatio::CreatioError;
use crate::creatio::odata::lookup_value;
use crate::domain::{
    CaseId, Customer, LookupId, MessageText, NewMessage, Role, SessionState, Transition,
};
use crate::sms::deliver;
use crate::store::{Appended, SessionChanges, StateChange, Store, StoreError};

/// What became of a conversation whose case changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    Closed,
    AlreadyClosed,
    StillOpen,
    NoConversation,
    NoSuchCase,
}

impl Closure {
    /// The webhook's answer.
    pub fn describe(&self) -> &'static str {
        match self {
            Closure::Closed => "closed",
            Closure::AlreadyClosed => "ignored: already closed",
            Closure::StillOpen => "ignored: the case is still open",
            Closure::NoConversation => "ignored: no conversation for this case",
            Closure::NoSuchCase => "ignored: no such case",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("Creatio: {0}")]
    Creatio(#[from] CreatioError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl ClosureError {
    pub fn is_transient(&self) -> bool {
        match self {
            ClosureError::Creatio(e) => e.is_transient(),
            ClosureError::Store(e) => e.is_transient(),
        }
    }
}

/// Closes the conversation of `case_id` if its status is a closing one. `status` is the case's
/// status when the caller read it already (the catch-up's query); otherwise it is read here.
pub async fn close_if_closed(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    case_id: CaseId,
    status: Option<LookupId>,
    now: Timestamp,
) -> Result<Closure, ClosureError> {
    let Some(session) = store.find_by_case(case_id).await? else {
        return Ok(Closure::NoConversation);
    };
    if session.state == SessionState::Closed {
        return Ok(Closure::AlreadyClosed);
    }
    let status = match status {
        Some(s) => Some(s),
        None => {
            let Some(case) = deps
                .creatio
                .get("Case", case_id.as_uuid(), &["StatusId"])
                .await?
            else {
                return Ok(Closure::NoSuchCase);
            };
            lookup_value(&case, "StatusId").map(LookupId::from_uuid)
        }
    };
    if !deps.config.is_closing(status) {
        return Ok(Closure::StillOpen);
    }
    let close = Transition::new(session.state, SessionState::Closed)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // In the customer's language when the settings say it in more than one (a read of the
    // latest messages, only then).
    let language = match deps.closed_notice.by_language.is_empty() {
        true => None,
        false => store
            .recent(session.id, crate::store::TRANSCRIPT_WINDOW)
            .await?
            .and_then(|(_, transcript)| crate::domain::conversation_language(&transcript)),
    };
    let notice = deps
        .closed_notice
        .in_language(language)
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
            return Ok(Closure::AlreadyClosed);
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(session_id = %session.id, "conversation closed: case closed in Creatio");
    if let (Some(seq), Some(text), Customer::Phone(phone), Some(provider)) =
        (notice_seq, &notice, &session.key.customer, deps.sms)
    {
        // Best effort: the conversation is closed either way; a failure is on the message.
        if let Err(e) = deliver(store, provider, session.id, seq, phone, text.as_str(), now).await {
            tracing::warn!(session_id = %session.id, error = %e, "closing notice not sent");
        }
    }
    Ok(Closure::Closed)
}
