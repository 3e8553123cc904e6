//! A case in a closing status closes its conversation (the webhook's `case_updated`, and the
//! catch-up's closed cases).
//!
//! The closing set is `CREATIO_CLOSED_STATUS_IDS` (default Resolved, Closed, Canceled, plus
//! `CREATIO_RESOLVED_STATUS_ID`). The customer is told, when `closed_notice` is configured, in the
//! same write that closes the session; their next message opens a new session with the
//! assistant. Closing is idempotent: a second report of the same closed case changes nothing,
//! except that a closing notice whose SMS could not be sent yet is sent then.
//!
//! The webhook does not close anything itself: it records a status check
//! ([`crate::domain::StatusCheck`]) and answers; [`apply_status_check`] runs from the table's
//! stream (the local stack's loop), so a Creatio or Twilio failure after the webhook's 200 is
//! retried, not lost. A notice the SMS provider could not take for now fails the check as
//! transient, and the retry sends it (the conversation is closed either way).

use jiff::Timestamp;

use super::deliver::ReplyDeps;
use crate::creatio::CreatioError;
use crate::creatio::contact::preferred_language;
use crate::creatio::odata::lookup_value;
use crate::domain::{
    CaseId, Customer, DeliveryStatus, LookupId, MessageText, NewMessage, OutboxState, Role,
    Session, SessionState, Transition,
};
use crate::sms::{DeliverError, deliver};
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
    /// Closed, but the SMS provider could not take the closing notice for now.
    #[error("closing notice not sent yet: {0}")]
    Notice(String),
}

impl ClosureError {
    pub fn is_transient(&self) -> bool {
        match self {
            ClosureError::Creatio(e) => e.is_transient(),
            ClosureError::Store(e) => e.is_transient(),
            ClosureError::Notice(_) => true,
        }
    }
}

/// Runs the status check of `case`: [`close_if_closed`] (and, for a conversation closed already,
/// its closing notice if that is still pending), then records on the check what it found, or
/// that it failed for now (returned, for the stream to retry).
pub async fn apply_status_check(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    case_id: CaseId,
    now: Timestamp,
) -> Result<Closure, ClosureError> {
    let seen = store.status_check(case_id).await?.map(|c| c.reports);
    let result = match store.find_by_case(case_id).await {
        Err(e) => Err(e.into()),
        Ok(None) => Ok(Closure::NoConversation),
        // The retry of a check that closed the conversation but could not send its notice:
        // only this path sends it again (the catch-up never does), so it goes out once.
        Ok(Some(session)) if session.state == SessionState::Closed => {
            send_pending_notice(store, deps, &session, now)
                .await
                .map(|()| Closure::AlreadyClosed)
        }
        Ok(Some(session)) => close_session(store, deps, session, case_id, None, now).await,
    };
    if let Some(reports) = seen {
        let (to, outcome) = match &result {
            Ok(closure) => (OutboxState::Done, closure.describe().to_owned()),
            Err(e) if e.is_transient() => (OutboxState::Retrying, e.to_string()),
            Err(e) => (OutboxState::Done, format!("failed: {e}")),
        };
        store
            .finish_status_check(case_id, reports, to, &outcome)
            .await?;
    }
    match &result {
        Ok(closure) => {
            tracing::info!(%case_id, outcome = closure.describe(), "case status checked")
        }
        Err(e) => tracing::warn!(%case_id, error = %e, "case status check failed"),
    }
    result
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
    match store.find_by_case(case_id).await? {
        None => Ok(Closure::NoConversation),
        Some(session) if session.state == SessionState::Closed => Ok(Closure::AlreadyClosed),
        Some(session) => close_session(store, deps, session, case_id, status, now).await,
    }
}

/// [`close_if_closed`] for the open conversation of `case_id`, already read.
async fn close_session(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    session: Session,
    case_id: CaseId,
    status: Option<LookupId>,
    now: Timestamp,
) -> Result<Closure, ClosureError> {
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
    // In the customer's language when the settings say it in more than one: the contact's when
    // `CREATIO_CONTACT_LANGUAGE` asks for it, else the conversation's (a read of the latest
    // messages, only then).
    let language = match deps.closed_notice.by_language.is_empty() {
        true => None,
        false => match preferred_language(
            deps.creatio,
            deps.config,
            session.creatio.as_ref().and_then(|l| l.contact_id),
        )
        .await
        {
            Some(language) => Some(language),
            None => store
                .recent(session.id, crate::store::TRANSCRIPT_WINDOW)
                .await?
                .and_then(|(_, transcript)| crate::domain::conversation_language(&transcript)),
        },
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
                Appended::Stored { session, messages } => {
                    (Some(*session), messages.first().map(|m| m.seq), messages)
                }
                Appended::AlreadySeen { .. } => (None, None, Vec::new()),
            }),
        None => store
            .transition(session.id, close, SessionChanges::default(), now)
            .await
            .map(|closed| (Some(closed), None, Vec::new())),
    };
    let notice_seq = match result {
        Ok((closed, seq, notice)) => {
            // An open widget shows the notice and ends the conversation at once.
            if let Some(closed) = closed {
                crate::widget::socket::push(store, deps.sockets, &closed, &notice).await;
            }
            seq
        }
        // Closed (or moved) by someone else meanwhile: the end state is what was asked for.
        Err(StoreError::StateChanged { .. } | StoreError::Closed(_)) => {
            return Ok(Closure::AlreadyClosed);
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(session_id = %session.id, "conversation closed: case closed in Creatio");
    if let (Some(seq), Some(text)) = (notice_seq, &notice) {
        send_notice(store, deps, &session, seq, text.as_str(), now).await?;
    }
    Ok(Closure::Closed)
}

/// Sends the closing notice `seq` by SMS (a widget reads it from the transcript). A failure for
/// now is returned; one for good (opted out, refused) is on the message.
async fn send_notice(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    session: &Session,
    seq: u64,
    text: &str,
    now: Timestamp,
) -> Result<(), ClosureError> {
    let (Customer::Phone(phone), Some(provider)) = (&session.key.customer, deps.sms) else {
        return Ok(());
    };
    match deliver(store, provider, session.id, seq, phone, text, now).await {
        Ok(_) => Ok(()),
        Err(DeliverError::Transient(e)) => {
            tracing::warn!(session_id = %session.id, error = %e, "closing notice not sent; will retry");
            Err(ClosureError::Notice(e.to_string()))
        }
        Err(DeliverError::Store(e)) => Err(e.into()),
    }
}

/// A closed SMS conversation whose last message is the closing notice, still pending: the SMS
/// provider could not take it when the case closed. Sent now.
async fn send_pending_notice(
    store: &dyn Store,
    deps: &ReplyDeps<'_>,
    session: &Session,
    now: Timestamp,
) -> Result<(), ClosureError> {
    if !matches!(session.key.customer, Customer::Phone(_)) || deps.sms.is_none() {
        return Ok(());
    }
    let Some((_, latest)) = store.recent(session.id, 1).await? else {
        return Ok(());
    };
    let Some(last) = latest.last() else {
        return Ok(());
    };
    if last.role == Role::Assistant
        && last.delivery == Some(DeliveryStatus::Pending)
        && deps.closed_notice.is_notice(last.text.as_str())
    {
        send_notice(store, deps, session, last.seq, last.text.as_str(), now).await?;
    }
    Ok(())
}
